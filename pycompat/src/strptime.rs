//! `datetime.strptime` for date formats, reproduced exactly (`Lib/_strptime.py`, with the
//! checks of the `datetime` constructors of `Modules/_datetimemodule.c`).
//!
//! pyaviso canonicalises a date as `datetime.strptime(str(v), canonic).strftime(canonic)` under
//! Python 3.11 on Linux (glibc, C locale). `strptime` there turns the format into a regex
//! (`_strptime.TimeRE`) matched case-insensitively with `re.match`; `strftime` hands the format to
//! glibc (see [`crate::strftime`]). The matcher below is a small backtracking engine over exactly
//! the same alternatives rather than a `regex::Regex`, because Python's `\d` (Unicode 14
//! decimals), `\s` (which includes U+001C..U+001F) and `re.IGNORECASE` (lower-case comparison
//! plus a table of extra cases) all differ from the `regex` crate's Unicode classes and case
//! folding on some characters.

use std::collections::HashSet;
use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime};

use crate::repr::str_repr;
use crate::sre::{
    decimal_digit as python_decimal_digit, ignorecase_eq as python_ignorecase_eq,
    is_space as is_python_space,
};
use crate::strftime::{AM_PM, MONTH_ABBRS, MONTH_NAMES, WEEKDAY_ABBRS, WEEKDAY_NAMES};

/// Why a date format cannot be used; raised once, when the format is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateFormatError {
    /// A directive this module does not reproduce (locale-dependent ones such as `%c`, or ones
    /// Python does not have): the letter and the format.
    Unsupported(char, String),
    /// The format ends with a `%` (the format).
    TrailingPercent(String),
    /// Python compiles every directive into a named regex group, so using one twice makes `re`
    /// fail with "redefinition of group name" on every call; we refuse the format up front.
    RepeatedDirective(char, String),
}

impl fmt::Display for DateFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateFormatError::Unsupported(letter, format) => {
                write!(
                    f,
                    "unsupported directive '%{letter}' in date format '{format}'"
                )
            }
            DateFormatError::TrailingPercent(format) => {
                write!(f, "date format '{format}' ends with a lone '%'")
            }
            DateFormatError::RepeatedDirective(letter, format) => write!(
                f,
                "directive '%{letter}' appears twice in date format '{format}' (Python: redefinition of group name)"
            ),
        }
    }
}

impl std::error::Error for DateFormatError {}

/// Python's `ValueError` text for a date that does not fit the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateParseError(pub String);

impl fmt::Display for DateParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DateParseError {}

/// A validated date format, ready to parse and write dates as Python does.
#[derive(Debug, Clone)]
pub struct DateFormat {
    text: String,
    pub(crate) pieces: Vec<Piece>,
}

/// One element of a format, in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// A non-whitespace character (`%%` too): matched ignoring case, copied by strftime.
    Literal(char),
    /// A whitespace run: `\s+` for strptime, copied verbatim by strftime.
    Whitespace(String),
    Directive(Directive),
}

/// The supported directives. Everything else (`%c %x %X %Z %z %G %V %D %T %e` ...) is rejected at
/// load time, so that no format can silently behave differently from Python.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Directive {
    DayOfMonth,
    Month,
    Year,
    YearInCentury,
    Hour24,
    Hour12,
    Minute,
    Second,
    Microsecond,
    DayOfYear,
    AmPm,
    WeekdayAbbr,
    WeekdayName,
    MonthAbbr,
    MonthName,
    WeekOfYearFromSunday,
    WeekOfYearFromMonday,
    WeekdayFromSunday0,
    WeekdayFromMonday1,
}

impl Directive {
    fn from_letter(letter: char) -> Option<Directive> {
        Some(match letter {
            'd' => Directive::DayOfMonth,
            'm' => Directive::Month,
            'Y' => Directive::Year,
            'y' => Directive::YearInCentury,
            'H' => Directive::Hour24,
            'I' => Directive::Hour12,
            'M' => Directive::Minute,
            'S' => Directive::Second,
            'f' => Directive::Microsecond,
            'j' => Directive::DayOfYear,
            'p' => Directive::AmPm,
            'a' => Directive::WeekdayAbbr,
            'A' => Directive::WeekdayName,
            'b' => Directive::MonthAbbr,
            'B' => Directive::MonthName,
            'U' => Directive::WeekOfYearFromSunday,
            'W' => Directive::WeekOfYearFromMonday,
            'w' => Directive::WeekdayFromSunday0,
            'u' => Directive::WeekdayFromMonday1,
            _ => return None,
        })
    }

    /// The alternatives of `_strptime.TimeRE[letter]`, tried in the same order.
    fn alternatives(self) -> Alternatives {
        match self {
            Directive::DayOfMonth => Alternatives::Sequences(DAY_OF_MONTH),
            Directive::Month | Directive::Hour12 => Alternatives::Sequences(ONE_TO_TWELVE),
            Directive::Year => Alternatives::Sequences(FOUR_DECIMALS),
            Directive::YearInCentury => Alternatives::Sequences(TWO_DECIMALS),
            Directive::Hour24 => Alternatives::Sequences(HOUR_24),
            Directive::Minute => Alternatives::Sequences(MINUTE),
            Directive::Second => Alternatives::Sequences(SECOND),
            Directive::Microsecond => Alternatives::Sequences(MICROSECOND),
            Directive::DayOfYear => Alternatives::Sequences(DAY_OF_YEAR),
            Directive::WeekOfYearFromSunday | Directive::WeekOfYearFromMonday => {
                Alternatives::Sequences(WEEK_OF_YEAR)
            }
            Directive::WeekdayFromSunday0 => Alternatives::Sequences(WEEKDAY_FROM_SUNDAY_0),
            Directive::WeekdayFromMonday1 => Alternatives::Sequences(WEEKDAY_FROM_MONDAY_1),
            Directive::AmPm => Alternatives::Names(&AM_PM),
            Directive::WeekdayAbbr => Alternatives::Names(&WEEKDAY_ABBRS),
            Directive::WeekdayName => Alternatives::Names(&WEEKDAY_NAMES),
            Directive::MonthAbbr => Alternatives::Names(&MONTH_ABBRS),
            Directive::MonthName => Alternatives::Names(&MONTH_NAMES),
        }
    }
}

/// How a directive matches text.
enum Alternatives {
    /// Fixed-length sequences, tried in order (a regex alternation).
    Sequences(&'static [&'static [Atom]]),
    /// Locale names, tried longest first as `TimeRE.__seqToRE` orders them.
    Names(&'static [&'static str]),
}

/// One character position of a `TimeRE` pattern.
#[derive(Debug, Clone, Copy)]
enum Atom {
    Literal(char),
    /// An ASCII class such as `[0-5]`.
    Between(char, char),
    /// Python's `\d`: any Unicode 14 decimal digit, which `int()` then reads.
    Decimal,
}

use Atom::{Between, Decimal, Literal};

const ASCII_DIGIT: Atom = Between('0', '9');
// (?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])
const DAY_OF_MONTH: &[&[Atom]] = &[
    &[Literal('3'), Between('0', '1')],
    &[Between('1', '2'), Decimal],
    &[Literal('0'), Between('1', '9')],
    &[Between('1', '9')],
    &[Literal(' '), Between('1', '9')],
];
// %m and %I: (?P<m>1[0-2]|0[1-9]|[1-9])
const ONE_TO_TWELVE: &[&[Atom]] = &[
    &[Literal('1'), Between('0', '2')],
    &[Literal('0'), Between('1', '9')],
    &[Between('1', '9')],
];
// (?P<Y>\d\d\d\d)
const FOUR_DECIMALS: &[&[Atom]] = &[&[Decimal, Decimal, Decimal, Decimal]];
// (?P<y>\d\d)
const TWO_DECIMALS: &[&[Atom]] = &[&[Decimal, Decimal]];
// (?P<H>2[0-3]|[0-1]\d|\d)
const HOUR_24: &[&[Atom]] = &[
    &[Literal('2'), Between('0', '3')],
    &[Between('0', '1'), Decimal],
    &[Decimal],
];
// (?P<M>[0-5]\d|\d)
const MINUTE: &[&[Atom]] = &[&[Between('0', '5'), Decimal], &[Decimal]];
// (?P<S>6[0-1]|[0-5]\d|\d)
const SECOND: &[&[Atom]] = &[
    &[Literal('6'), Between('0', '1')],
    &[Between('0', '5'), Decimal],
    &[Decimal],
];
// (?P<f>[0-9]{1,6}): a greedy repeat backtracks from the longest run down, like this alternation.
const MICROSECOND: &[&[Atom]] = &[
    &[ASCII_DIGIT; 6],
    &[ASCII_DIGIT; 5],
    &[ASCII_DIGIT; 4],
    &[ASCII_DIGIT; 3],
    &[ASCII_DIGIT; 2],
    &[ASCII_DIGIT; 1],
];
// (?P<j>36[0-6]|3[0-5]\d|[1-2]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])
const DAY_OF_YEAR: &[&[Atom]] = &[
    &[Literal('3'), Literal('6'), Between('0', '6')],
    &[Literal('3'), Between('0', '5'), Decimal],
    &[Between('1', '2'), Decimal, Decimal],
    &[Literal('0'), Between('1', '9'), Decimal],
    &[Literal('0'), Literal('0'), Between('1', '9')],
    &[Between('1', '9'), Decimal],
    &[Literal('0'), Between('1', '9')],
    &[Between('1', '9')],
];
// %U and %W: (?P<U>5[0-3]|[0-4]\d|\d)
const WEEK_OF_YEAR: &[&[Atom]] = &[
    &[Literal('5'), Between('0', '3')],
    &[Between('0', '4'), Decimal],
    &[Decimal],
];
// (?P<w>[0-6])
const WEEKDAY_FROM_SUNDAY_0: &[&[Atom]] = &[&[Between('0', '6')]];
// (?P<u>[1-7])
const WEEKDAY_FROM_MONDAY_1: &[&[Atom]] = &[&[Between('1', '7')]];

impl DateFormat {
    /// Validates `format` once, at schema load; fails where Python's strptime would fail on every
    /// call, or where the format uses a directive this module does not reproduce.
    pub fn parse(format: &str) -> Result<DateFormat, DateFormatError> {
        let mut pieces: Vec<Piece> = Vec::new();
        let mut chars = format.chars();
        while let Some(c) = chars.next() {
            if c == '%' {
                let Some(letter) = chars.next() else {
                    return Err(DateFormatError::TrailingPercent(format.to_string()));
                };
                if letter == '%' {
                    pieces.push(Piece::Literal('%'));
                    continue;
                }
                let directive = Directive::from_letter(letter)
                    .ok_or_else(|| DateFormatError::Unsupported(letter, format.to_string()))?;
                if pieces.contains(&Piece::Directive(directive)) {
                    return Err(DateFormatError::RepeatedDirective(
                        letter,
                        format.to_string(),
                    ));
                }
                pieces.push(Piece::Directive(directive));
            } else if is_python_space(c) {
                // `TimeRE.pattern` rewrites each whitespace run of the format as one `\s+`.
                match pieces.last_mut() {
                    Some(Piece::Whitespace(run)) => run.push(c),
                    _ => pieces.push(Piece::Whitespace(c.to_string())),
                }
            } else {
                pieces.push(Piece::Literal(c));
            }
        }
        Ok(DateFormat {
            text: format.to_string(),
            pieces,
        })
    }

    /// The format as written in the schema.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `datetime.strptime(text, format)`.
    pub fn parse_datetime(&self, text: &str) -> Result<NaiveDateTime, DateParseError> {
        // Python indexes strings by code point, and so do the match positions here.
        let chars: Vec<char> = text.chars().collect();
        let mut matcher = Matcher {
            pieces: &self.pieces,
            text: &chars,
            spans: vec![(0, 0); self.pieces.len()],
            failed: HashSet::new(),
        };
        let Some(end) = matcher.match_from(0, 0) else {
            return Err(DateParseError(format!(
                "time data {} does not match format {}",
                str_repr(text),
                str_repr(&self.text)
            )));
        };
        if end != chars.len() {
            let rest: String = chars[end..].iter().collect();
            return Err(DateParseError(format!("unconverted data remains: {rest}")));
        }
        let captures: Vec<(Directive, &[char])> = self
            .pieces
            .iter()
            .zip(&matcher.spans)
            .filter_map(|(piece, &(start, end))| match piece {
                Piece::Directive(directive) => Some((*directive, &chars[start..end])),
                _ => None,
            })
            .collect();
        build_datetime(&captures)
    }

    /// strptime then strftime: the canonical form pyaviso stores.
    pub fn canonicalise(&self, text: &str) -> Result<String, DateParseError> {
        Ok(self.format(&self.parse_datetime(text)?))
    }
}

/// A backtracking `re.match` over the pieces: each piece offers its possible ends in the order
/// Python's engine tries them, and the first complete path wins (leftmost-first semantics).
struct Matcher<'a> {
    pieces: &'a [Piece],
    text: &'a [char],
    /// The span each piece matched on the path being tried; valid for the whole path on success.
    spans: Vec<(usize, usize)>,
    /// (piece, position) pairs known not to lead to a match; without back-references the rest of
    /// the match depends on nothing else, and this keeps whitespace runs from going exponential.
    failed: HashSet<(usize, usize)>,
}

impl Matcher<'_> {
    /// The end of the match when the pieces from `index` on are matched at `position`.
    fn match_from(&mut self, index: usize, position: usize) -> Option<usize> {
        let Some(piece) = self.pieces.get(index) else {
            return Some(position);
        };
        if self.failed.contains(&(index, position)) {
            return None;
        }
        for end in candidate_ends(piece, self.text, position) {
            self.spans[index] = (position, end);
            if let Some(match_end) = self.match_from(index + 1, end) {
                return Some(match_end);
            }
        }
        self.failed.insert((index, position));
        None
    }
}

/// Where `piece` can end when it starts at `start`, in the order Python's `re` tries them.
fn candidate_ends(piece: &Piece, text: &[char], start: usize) -> Vec<usize> {
    let rest = text.get(start..).unwrap_or_default();
    match piece {
        Piece::Literal(expected) => match rest.first() {
            Some(&found) if python_ignorecase_eq(*expected, found) => vec![start + 1],
            _ => Vec::new(),
        },
        Piece::Whitespace(_) => {
            // `\s+` is greedy: longest run first, then shorter ones on backtracking.
            let run = rest.iter().take_while(|&&c| is_python_space(c)).count();
            (1..=run).rev().map(|length| start + length).collect()
        }
        Piece::Directive(directive) => match directive.alternatives() {
            Alternatives::Sequences(sequences) => sequences
                .iter()
                .filter(|atoms| atoms_match(atoms, rest))
                .map(|atoms| start + atoms.len())
                .collect(),
            Alternatives::Names(names) => {
                let mut by_length: Vec<&str> = names.to_vec();
                // `__seqToRE` sorts by length, longest first (a stable sort), so that no name is
                // shadowed by a shorter one.
                by_length.sort_by_key(|name| std::cmp::Reverse(name.chars().count()));
                by_length
                    .into_iter()
                    .filter(|name| name_matches(name, rest))
                    .map(|name| start + name.chars().count())
                    .collect()
            }
        },
    }
}

fn atoms_match(atoms: &[Atom], text: &[char]) -> bool {
    atoms.len() <= text.len()
        && atoms.iter().zip(text).all(|(atom, &c)| match *atom {
            Literal(expected) => python_ignorecase_eq(expected, c),
            Between(low, high) => (low..=high).contains(&c),
            Decimal => python_decimal_digit(c).is_some(),
        })
}

/// `TimeRE` holds the names lower-cased; the comparison ignores case anyway.
fn name_matches(name: &str, text: &[char]) -> bool {
    let mut remaining = text.iter();
    name.chars().all(|expected| {
        remaining
            .next()
            .is_some_and(|&c| python_ignorecase_eq(expected.to_ascii_lowercase(), c))
    })
}

/// What `_strptime._strptime` and the `datetime` constructor make of the matched groups.
fn build_datetime(captures: &[(Directive, &[char])]) -> Result<NaiveDateTime, DateParseError> {
    let mut year: Option<i64> = None;
    let (mut month, mut day) = (1, 1);
    let (mut hour, mut minute, mut second, mut microsecond) = (0, 0, 0, 0);
    // Python's weekday numbering: Monday is 0.
    let mut weekday: Option<i64> = None;
    let mut day_of_year: Option<i64> = None;
    // The week number and whether weeks start on Monday (%W) rather than Sunday (%U).
    let mut week_of_year: Option<(i64, bool)> = None;
    let am_pm: String = captures
        .iter()
        .find(|(directive, _)| *directive == Directive::AmPm)
        .map(|(_, text)| text.iter().collect::<String>().to_lowercase())
        .unwrap_or_default();

    // Python walks the groups in format order, so a later directive overrides an earlier one
    // (`%y` after `%Y`, `%H` after `%I`, ...).
    for &(directive, text) in captures {
        let number = || decimal_value(text);
        match directive {
            Directive::YearInCentury => {
                // POSIX: 69-99 are 1969-1999, 00-68 are 2000-2068.
                let two_digits = number();
                year = Some(two_digits + if two_digits <= 68 { 2000 } else { 1900 });
            }
            Directive::Year => year = Some(number()),
            Directive::Month => month = number(),
            Directive::MonthAbbr => month = name_index(&MONTH_ABBRS, text)? + 1,
            Directive::MonthName => month = name_index(&MONTH_NAMES, text)? + 1,
            Directive::DayOfMonth => day = number(),
            Directive::Hour24 => hour = number(),
            Directive::Hour12 => {
                hour = number();
                // No %p counts as AM; 12 AM is midnight and 12 PM is noon.
                if am_pm.is_empty() || am_pm == "am" {
                    if hour == 12 {
                        hour = 0;
                    }
                } else if am_pm == "pm" && hour != 12 {
                    hour += 12;
                }
            }
            Directive::Minute => minute = number(),
            Directive::Second => second = number(),
            Directive::Microsecond => {
                // "5" means 500000: the digits are padded on the right to microseconds.
                let padding = 6 - text.len().min(6);
                microsecond = number() * 10_i64.pow(padding as u32);
            }
            Directive::WeekdayAbbr => weekday = Some(name_index(&WEEKDAY_ABBRS, text)?),
            Directive::WeekdayName => weekday = Some(name_index(&WEEKDAY_NAMES, text)?),
            Directive::WeekdayFromSunday0 => weekday = Some((number() + 6) % 7),
            Directive::WeekdayFromMonday1 => weekday = Some(number() - 1),
            Directive::DayOfYear => day_of_year = Some(number()),
            Directive::WeekOfYearFromSunday => week_of_year = Some((number(), false)),
            Directive::WeekOfYearFromMonday => week_of_year = Some((number(), true)),
            // Only read through `am_pm`, by %I.
            Directive::AmPm => {}
        }
    }

    // Without a year, 29 February is checked against leap year 1904, then put back into 1900,
    // where the final `datetime` rejects it.
    let leap_year_fix = year.is_none() && month == 2 && day == 29;
    let mut year = year.unwrap_or(if leap_year_fix { 1904 } else { 1900 });

    // A week number counts only together with a weekday (and never over %j).
    if day_of_year.is_none() {
        if let (Some(weekday), Some((week, starts_monday))) = (weekday, week_of_year) {
            let mut julian = julian_from_week(year, week, weekday, starts_monday)?;
            if julian <= 0 {
                year -= 1;
                julian += if is_leap_year(year) { 366 } else { 365 };
            }
            day_of_year = Some(julian);
        }
    }
    match day_of_year {
        None => {
            python_date(year, month, day)?;
        }
        Some(julian) => {
            // A day of year past the year's end rolls into the next year, as in Python.
            let first_of_year = python_date(year, 1, 1)?;
            let date = python_date_from_ordinal(julian - 1 + ordinal(first_of_year))?;
            year = i64::from(date.year());
            month = i64::from(date.month());
            day = i64::from(date.day());
        }
    }
    if leap_year_fix {
        year = 1900;
    }
    python_datetime(year, month, day, hour, minute, second, microsecond)
}

/// `_strptime._calc_julian_from_U_or_W`: the day of the year (possibly <= 0) of `weekday` in
/// week `week_of_year`, where week 0 is the part of the year before its first Sunday/Monday.
fn julian_from_week(
    year: i64,
    week_of_year: i64,
    weekday: i64,
    starts_monday: bool,
) -> Result<i64, DateParseError> {
    let mut first_weekday = i64::from(python_date(year, 1, 1)?.weekday().num_days_from_monday());
    let mut day_of_week = weekday;
    if !starts_monday {
        // Shift the view so that Sunday is day 0 of the week.
        first_weekday = (first_weekday + 1) % 7;
        day_of_week = (day_of_week + 1) % 7;
    }
    let week_0_length = (7 - first_weekday) % 7;
    Ok(if week_of_year == 0 {
        1 + day_of_week - first_weekday
    } else {
        1 + week_0_length + 7 * (week_of_year - 1) + day_of_week
    })
}

/// The position of a matched name in a C-locale list, found as Python does with
/// `list.index(text.lower())`; a name matched through a non-ASCII case variant (`ſ` for `s`,
/// `İ` for `i`) lower-cases to something not in the list and fails like Python.
fn name_index(names: &[&str], text: &[char]) -> Result<i64, DateParseError> {
    let lowered = text.iter().collect::<String>().to_lowercase();
    names
        .iter()
        .position(|name| name.to_ascii_lowercase() == lowered)
        .map(|index| index as i64)
        .ok_or_else(|| DateParseError(format!("{} is not in list", str_repr(&lowered))))
}

/// `int()` of a matched group: its decimal digits, skipping the blank of `%d`'s " [1-9]".
fn decimal_value(text: &[char]) -> i64 {
    text.iter()
        .filter_map(|&c| python_decimal_digit(c))
        .fold(0, |value, digit| value * 10 + i64::from(digit))
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `datetime.date(year, month, day)`, with its checks and messages in its order.
fn python_date(year: i64, month: i64, day: i64) -> Result<NaiveDate, DateParseError> {
    if !(1..=9999).contains(&year) {
        return Err(DateParseError(format!("year {year} is out of range")));
    }
    if !(1..=12).contains(&month) {
        return Err(DateParseError("month must be in 1..12".to_string()));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(DateParseError("day is out of range for month".to_string()));
    }
    // In range after the checks above, so chrono accepts it.
    NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32)
        .ok_or_else(|| DateParseError("day is out of range for month".to_string()))
}

/// `date.toordinal()`: 1 January of year 1 is day 1.
fn ordinal(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce())
}

/// `date.fromordinal(ordinal)`.
fn python_date_from_ordinal(ordinal: i64) -> Result<NaiveDate, DateParseError> {
    if ordinal < 1 {
        return Err(DateParseError("ordinal must be >= 1".to_string()));
    }
    let date = i32::try_from(ordinal)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .ok_or_else(|| DateParseError("ordinal is out of range".to_string()))?;
    if date.year() > 9999 {
        return Err(DateParseError(format!(
            "year {} is out of range",
            date.year()
        )));
    }
    Ok(date)
}

/// `datetime.datetime(...)`: the date checks first, then the time fields in order.
fn python_datetime(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    microsecond: i64,
) -> Result<NaiveDateTime, DateParseError> {
    let date = python_date(year, month, day)?;
    for (value, limit, message) in [
        (hour, 23, "hour must be in 0..23"),
        (minute, 59, "minute must be in 0..59"),
        (second, 59, "second must be in 0..59"),
        (microsecond, 999_999, "microsecond must be in 0..999999"),
    ] {
        if !(0..=limit).contains(&value) {
            return Err(DateParseError(message.to_string()));
        }
    }
    date.and_hms_micro_opt(
        hour as u32,
        minute as u32,
        second as u32,
        microsecond as u32,
    )
    .ok_or_else(|| DateParseError("second must be in 0..59".to_string()))
}
#[cfg(test)]
mod tests {
    use super::*;

    /// (format, input, `datetime.strptime(input, format).strftime(format)` or the `ValueError`
    /// text), every row produced by Python 3.11 on Linux.
    #[rustfmt::skip]
    const CANONICALISE_CASES: &[(&str, &str, Result<&str, &str>)] = &[
        ("%Y%m%d", "20210101", Ok("20210101")),
        ("%Y%m%d", "2021011", Ok("20210101")),
        ("%Y%m%d", "202021", Ok("20200201")),
        ("%Y%m%d", "2021-01-01", Err("time data '2021-01-01' does not match format '%Y%m%d'")),
        ("%Y%m%d", "20210230", Err("day is out of range for month")),
        ("%Y%m%d", "202101011", Err("unconverted data remains: 1")),
        ("%Y%m%d", "", Err("time data '' does not match format '%Y%m%d'")),
        ("%Y-%m-%d", "2021-1-5", Ok("2021-01-05")),
        ("%d/%m/%y", "5/1/21", Ok("05/01/21")),
        ("%Y%m%d%H", "2021010112", Ok("2021010112")),
        ("%b %d %Y", "jan 5 2021", Ok("Jan 05 2021")),
        ("%Y%j", "2021032", Ok("2021032")),
        ("%H%M", "0930", Ok("0930")),
        ("%Y %m", "2021   3", Ok("2021 03")),
        ("%Y%m%d", "2021131", Ok("20210131")),
        ("%Y%m%d", "2021129", Ok("20211209")),
        ("%Y%m%d", "20211", Err("time data '20211' does not match format '%Y%m%d'")),
        ("%Y%m%d", "2021 1 1", Err("time data '2021 1 1' does not match format '%Y%m%d'")),
        ("%d%m%Y", "1112021", Ok("11012021")),
        ("%m%d", "111", Ok("1101")),
        ("%H%M%S", "12345", Ok("123405")),
        ("%H%M", "123", Ok("1203")),
        ("%Y%m%d%H%M%S", "2021010123595", Ok("20210101235905")),
        ("%d/%m/%Y", " 5/1/2021", Ok("05/01/2021")),
        ("%Y %d", "2021  5", Ok("2021 05")),
        ("%Y %m", "2021\t\n 3", Ok("2021 03")),
        ("%Y %m", "2021\u{1C}3", Ok("2021 03")),
        ("%Y %m", "2021\u{2003}3", Ok("2021 03")),
        ("%Y %m", "20213", Err("time data '20213' does not match format '%Y %m'")),
        ("%Y\t%m", "2021 3", Ok("2021\t03")),
        ("%Y%m%d ", "20210101", Err("time data '20210101' does not match format '%Y%m%d '")),
        ("%Y%m%d ", "20210101   ", Ok("20210101 ")),
        (" %Y", "  2021", Ok(" 2021")),
        ("%Y%m%d", "20200229", Ok("20200229")),
        ("%Y%m%d", "21000229", Err("day is out of range for month")),
        ("%Y%m%d", "20000229", Ok("20000229")),
        ("%Y%m%d", "00000101", Err("year 0 is out of range")),
        ("%Y%m%d", "00000230", Err("year 0 is out of range")),
        ("%Y%m%d", "99991231", Ok("99991231")),
        ("%Y%m%d", "00010101", Ok("10101")),
        ("%m%d", "0229", Err("day is out of range for month")),
        ("%m%d", "0228", Ok("0228")),
        ("%d", "31", Ok("31")),
        ("%d", "29", Ok("29")),
        ("%H:%M:%S", "23:59:60", Err("second must be in 0..59")),
        ("%H:%M:%S", "24:00:00", Err("time data '24:00:00' does not match format '%H:%M:%S'")),
        ("%H:%M:%S", "9:5:7", Ok("09:05:07")),
        ("%Y%m%d %S", "20210230 61", Err("day is out of range for month")),
        ("%y", "00", Ok("00")),
        ("%y", "68", Ok("68")),
        ("%y", "69", Ok("69")),
        ("%y", "99", Ok("99")),
        ("%Y %y", "1999 05", Ok("2005 05")),
        ("%y %Y", "05 1999", Ok("99 1999")),
        ("%I %p", "12 AM", Ok("12 AM")),
        ("%I %p", "12 pm", Ok("12 PM")),
        ("%I %p", "1 PM", Ok("01 PM")),
        ("%I %p", "11 am", Ok("11 AM")),
        ("%I", "12", Ok("12")),
        ("%p %I", "PM 3", Ok("PM 03")),
        ("%I %H", "3 17", Ok("05 17")),
        ("%H %I", "17 3", Ok("03 03")),
        ("%H %p", "17 am", Ok("17 PM")),
        ("%S.%f", "7.5", Ok("07.500000")),
        ("%S.%f", "7.123456", Ok("07.123456")),
        ("%S.%f", "7.1234567", Err("unconverted data remains: 7")),
        ("%S.%f", "7.", Err("time data '7.' does not match format '%S.%f'")),
        ("%f", "000001", Ok("000001")),
        ("%Y%j", "2021366", Ok("2022001")),
        ("%Y%j", "2020366", Ok("2020366")),
        ("%Y%j", "9999365", Ok("9999365")),
        ("%Y%j", "9999366", Err("year 10000 is out of range")),
        ("%Y%j", "2021000", Err("time data '2021000' does not match format '%Y%j'")),
        ("%Y%j", "20211", Ok("2021001")),
        ("%j", "060", Ok("060")),
        ("%Y%m%d%j", "20210505001", Ok("20210101001")),
        ("%m%d%j", "0229060", Err("day is out of range for month")),
        ("%Y%j", "0000001", Err("year 0 is out of range")),
        ("%A %d %B %Y", "monday 5 JANUARY 2021", Ok("Tuesday 05 January 2021")),
        ("%a, %d %b %Y", "SUN, 31 dec 1899", Ok("Sun, 31 Dec 1899")),
        ("%B", "september", Ok("September")),
        ("%b", "SEPT", Err("unconverted data remains: T")),
        ("%b", "ſep", Err("'ſep' is not in list")),
        ("%a", "frİ", Err("'fri\u{307}' is not in list")),
        ("%a", "FRı", Err("'frı' is not in list")),
        ("%B", "Auguſt", Err("'auguſt' is not in list")),
        ("%p", "am", Ok("AM")),
        ("%Y %U %w", "2021 1 1", Ok("2021 01 1")),
        ("%Y %W %u", "2021 0 1", Ok("2020 52 1")),
        ("%Y %W %u", "2021 0 5", Ok("2021 00 5")),
        ("%Y %U %a", "2017 0 sun", Ok("2017 01 Sun")),
        ("%Y %U %w", "0001 00 1", Ok("1 00 1")),
        ("%Y %W %w", "9999 53 6", Err("year 10000 is out of range")),
        ("%Y %U", "2021 10", Ok("2021 00")),
        ("%Y %W %A", "2018 52 Monday", Ok("2018 52 Monday")),
        ("%U %w", "0 0", Ok("53 0")),
        ("%Y %U %w %j", "2021 5 3 100", Ok("2021 14 6 100")),
        ("%Y%m%d", "２０２１0101", Ok("20210101")),
        ("%m", "１２", Err("time data '１２' does not match format '%m'")),
        ("%Y-%m-%dT%H:%M", "2021-01-01t10:30", Ok("2021-01-01T10:30")),
        ("%Y k", "2021 \u{212A}", Ok("2021 k")),
        ("%Y s", "2021 ſ", Ok("2021 s")),
        ("%Y i", "2021 İ", Ok("2021 i")),
        ("%Y i", "2021 ı", Ok("2021 i")),
        ("%Y年%m月%d日", "2021年1月2日", Ok("2021年01月02日")),
        ("%%%Y%%", "%2021%", Ok("%2021%")),
        ("[%Y].(%m)", "[2021].(3)", Ok("[2021].(03)")),
        ("%Y|%m", "2021|3", Ok("2021|03")),
        ("%Y\\%m", "2021\\3", Ok("2021\\03")),
        ("%Y.%m", "2021x3", Err("time data '2021x3' does not match format '%Y.%m'")),
        ("%Y\u{0}%m", "2021\u{0}3", Ok("2021")),
        ("%f\u{0}%Y", "5\u{0}2021", Ok("500000")),
        ("%Y", "it's", Err("time data \"it's\" does not match format '%Y'")),
        ("%Y", "say \"hi\"", Err("time data 'say \"hi\"' does not match format '%Y'")),
        ("%Y", "it's \"x\"\\\n\t\u{7F}\u{80}\u{AD}\u{2028}\u{E000}", Err("time data 'it\\'s \"x\"\\\\\\n\\t\\x7f\\x80\\xad\\u2028\\ue000' does not match format '%Y'")),
        ("'%Y\"", "x", Err("time data 'x' does not match format '\\'%Y\"'")),
    ];

    #[test]
    fn canonicalise_matches_python() {
        for &(format, input, expected) in CANONICALISE_CASES {
            let date_format = DateFormat::parse(format).expect("the table's formats are valid");
            let actual = date_format.canonicalise(input);
            let expected = expected
                .map(str::to_string)
                .map_err(|text| DateParseError(text.to_string()));
            assert_eq!(actual, expected, "format {format:?}, input {input:?}");
        }
    }

    #[test]
    fn parse_datetime_fills_python_defaults() {
        let parse = |format: &str, text: &str| {
            DateFormat::parse(format)
                .ok()
                .and_then(|f| f.parse_datetime(text).ok())
        };
        let datetime = |y, mo, d, h, mi, s, micro| {
            NaiveDate::from_ymd_opt(y, mo, d)
                .and_then(|date| date.and_hms_micro_opt(h, mi, s, micro))
        };
        assert_eq!(parse("%H%M", "0930"), datetime(1900, 1, 1, 9, 30, 0, 0));
        assert_eq!(parse("%Y%j", "2021032"), datetime(2021, 2, 1, 0, 0, 0, 0));
        assert_eq!(
            parse("%Y-%m-%d %H:%M:%S.%f", "2021-3-4 5:6:7.89"),
            datetime(2021, 3, 4, 5, 6, 7, 890_000)
        );
        assert_eq!(parse("%I%p", "12am"), datetime(1900, 1, 1, 0, 0, 0, 0));
    }

    #[test]
    fn parse_rejects_what_python_rejects_or_we_do_not_reproduce() {
        let unsupported =
            |letter: char, format: &str| DateFormatError::Unsupported(letter, format.to_string());
        for letter in [
            'c', 'x', 'X', 'Z', 'z', 'G', 'V', 'D', 'T', 'e', 'C', 'n', 's', ' ', '.', '(',
        ] {
            let format = format!("%Y%{letter}");
            assert_eq!(
                DateFormat::parse(&format).err(),
                Some(unsupported(letter, &format))
            );
        }
        assert_eq!(
            DateFormat::parse("%").err(),
            Some(DateFormatError::TrailingPercent("%".to_string()))
        );
        assert_eq!(
            DateFormat::parse("%Y%m%").err(),
            Some(DateFormatError::TrailingPercent("%Y%m%".to_string()))
        );
        assert_eq!(
            DateFormat::parse("%d-%m-%d").err(),
            Some(DateFormatError::RepeatedDirective(
                'd',
                "%d-%m-%d".to_string()
            ))
        );
        assert_eq!(
            DateFormat::parse("%Y%e").err().map(|e| e.to_string()),
            Some("unsupported directive '%e' in date format '%Y%e'".to_string())
        );
        // %% is a literal, not a group, so it may repeat; so may a directive and its other case.
        assert!(DateFormat::parse("%%%Y%%%y%%").is_ok());
        assert_eq!(
            DateFormat::parse("%Y-%m-%d").map(|f| f.as_str().to_string()),
            Ok("%Y-%m-%d".to_string())
        );
    }
}
