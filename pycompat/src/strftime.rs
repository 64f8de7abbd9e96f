//! `datetime.strftime` as Python 3.11 does it on Linux (`Modules/timemodule.c`, which hands
//! the format to glibc's `strftime` in the C locale, and writes `%f` itself).

use chrono::{Datelike, NaiveDateTime, Timelike};

use crate::strptime::{DateFormat, Directive, Piece};

// C-locale names, in Python's `calendar` order (Monday first), as glibc's strftime writes them.
pub(crate) const WEEKDAY_ABBRS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
pub(crate) const WEEKDAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
pub(crate) const MONTH_ABBRS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
pub(crate) const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(crate) const AM_PM: [&str; 2] = ["AM", "PM"];

impl DateFormat {
    /// `value.strftime(format)` as Python 3.11 does it on glibc in the C locale. Years outside
    /// Python's 1..=9999, which `parse_datetime` never yields, are written in full (`%Y`).
    pub fn format(&self, value: &NaiveDateTime) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                // Python 3.11 walks the format as a C string, so the output stops at a NUL.
                Piece::Literal('\0') => break,
                Piece::Literal(c) => out.push(*c),
                Piece::Whitespace(run) => out.push_str(run),
                Piece::Directive(directive) => push_directive(&mut out, *directive, value),
            }
        }
        out
    }
}

/// Writes one directive as glibc's strftime does in the C locale (Python handles %f itself).
fn push_directive(out: &mut String, directive: Directive, value: &NaiveDateTime) {
    let two_digits = |number: u32| format!("{number:02}");
    // glibc's tm_yday (0-based) and tm_wday (Sunday is 0).
    let day_of_year_0 = value.ordinal0();
    let weekday_from_sunday = value.weekday().num_days_from_sunday();
    let weekday_from_monday = value.weekday().num_days_from_monday();
    let text = match directive {
        // glibc does not pad years below 1000: year 5 is "5".
        Directive::Year => value.year().to_string(),
        Directive::YearInCentury => two_digits(value.year().rem_euclid(100).unsigned_abs()),
        Directive::Month => two_digits(value.month()),
        Directive::DayOfMonth => two_digits(value.day()),
        Directive::Hour24 => two_digits(value.hour()),
        Directive::Hour12 => two_digits(match value.hour() % 12 {
            0 => 12,
            hour => hour,
        }),
        Directive::Minute => two_digits(value.minute()),
        Directive::Second => two_digits(value.second()),
        // chrono keeps a leap second as nanoseconds past 1e9, which Python cannot hold.
        Directive::Microsecond => format!("{:06}", value.nanosecond() % 1_000_000_000 / 1000),
        Directive::DayOfYear => format!("{:03}", value.ordinal()),
        Directive::AmPm => AM_PM[usize::from(value.hour() >= 12)].to_string(),
        Directive::WeekdayAbbr => WEEKDAY_ABBRS[weekday_from_monday as usize].to_string(),
        Directive::WeekdayName => WEEKDAY_NAMES[weekday_from_monday as usize].to_string(),
        Directive::MonthAbbr => MONTH_ABBRS[value.month0() as usize].to_string(),
        Directive::MonthName => MONTH_NAMES[value.month0() as usize].to_string(),
        Directive::WeekOfYearFromSunday => {
            two_digits((day_of_year_0 + 7 - weekday_from_sunday) / 7)
        }
        Directive::WeekOfYearFromMonday => {
            two_digits((day_of_year_0 + 7 - weekday_from_monday) / 7)
        }
        Directive::WeekdayFromSunday0 => weekday_from_sunday.to_string(),
        Directive::WeekdayFromMonday1 => (weekday_from_monday + 1).to_string(),
    };
    out.push_str(&text);
}
#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn format_matches_glibc_strftime() {
        let all = DateFormat::parse("%Y|%y|%m|%d|%H|%I|%M|%S|%f|%j|%U|%W|%w|%u|%a|%A|%b|%B|%p|%%")
            .expect("valid format");
        // Expected strings from Python 3.11: datetime(...).strftime(the same format).
        for (year, month, day, hour, micro, expected) in [
            (
                5,
                1,
                1,
                0,
                0,
                "5|05|01|01|00|12|00|00|000000|001|00|00|6|6|Sat|Saturday|Jan|January|AM|%",
            ),
            (
                999,
                12,
                31,
                13,
                42,
                "999|99|12|31|13|01|00|00|000042|365|52|52|2|2|Tue|Tuesday|Dec|December|PM|%",
            ),
            (
                2021,
                1,
                3,
                12,
                999_999,
                "2021|21|01|03|12|12|00|00|999999|003|01|00|0|7|Sun|Sunday|Jan|January|PM|%",
            ),
            (
                2024,
                12,
                30,
                23,
                5,
                "2024|24|12|30|23|11|00|00|000005|365|52|53|1|1|Mon|Monday|Dec|December|PM|%",
            ),
        ] {
            let value = NaiveDate::from_ymd_opt(year, month, day)
                .and_then(|d| d.and_hms_micro_opt(hour, 0, 0, micro))
                .expect("valid date");
            assert_eq!(all.format(&value), expected);
        }
    }
}
