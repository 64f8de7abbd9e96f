//! Character properties as CPython 3.11 reads them from its Unicode 14.0.0 database
//! (`Objects/unicodectype.c`): printable (for `repr`), whitespace (`str.isspace`, `\s`, the
//! stripping of `int()` and `float()`) and decimal digits (`Py_UNICODE_TODECIMAL`, `\d`).
//!
//! The tables are generated from Python's own `unicodedata` by `scripts/unicode_tables.py`;
//! the differential test regenerates them and fails if they differ.

mod tables;

pub use tables::UNICODE_VERSION;

/// Whether `ranges` (sorted, inclusive, disjoint) holds `code`.
fn in_ranges(ranges: &[(u32, u32)], code: u32) -> bool {
    let after = ranges.partition_point(|&(first, _)| first <= code);
    after
        .checked_sub(1)
        .is_some_and(|index| code <= ranges[index].1)
}

/// `str.isprintable()` of one character (`Py_UNICODE_ISPRINTABLE`): false for control, format,
/// private-use and unassigned code points and for separators other than the space.
pub fn is_printable(c: char) -> bool {
    !in_ranges(&tables::NOT_PRINTABLE, u32::from(c))
}

/// `str.isspace()` of one character (`Py_UNICODE_ISSPACE`), which includes U+001C..U+001F.
pub fn is_space(c: char) -> bool {
    in_ranges(&tables::SPACE, u32::from(c))
}

/// The value of a decimal digit of any script (`Py_UNICODE_TODECIMAL`), `None` for anything
/// else (superscripts and other digits that are not decimal included).
pub fn decimal_value(c: char) -> Option<u32> {
    let code = u32::from(c);
    let run = tables::DECIMAL_ZEROS.partition_point(|&zero| zero <= code);
    let zero = tables::DECIMAL_ZEROS[run.checked_sub(1)?];
    (code - zero < 10).then_some(code - zero)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_behave_like_python() {
        // Checked against Python 3.11: re.match(r'\d', c), int(c), re.match(r'\s', c), c.isprintable().
        assert_eq!(decimal_value('7'), Some(7));
        assert_eq!(decimal_value('\u{669}'), Some(9));
        assert_eq!(decimal_value('\u{1D7FF}'), Some(9));
        assert_eq!(decimal_value('\u{2F}'), None);
        assert_eq!(decimal_value('\u{B2}'), None);
        assert_eq!(decimal_value('\u{11F50}'), None);
        assert!(is_space('\u{1F}') && is_space('\u{85}') && is_space('\u{3000}'));
        assert!(!is_space('\u{200B}') && !is_space('\u{180E}') && !is_space('\u{FEFF}'));
        assert!(is_printable(' ') && is_printable('é') && is_printable('\u{1F600}'));
        assert!(!is_printable('\u{0}') && !is_printable('\u{7F}') && !is_printable('\u{A0}'));
        // Unassigned in Unicode 14.0.0.
        assert!(!is_printable('\u{378}') && !is_printable('\u{10FFFF}'));
        assert_eq!(UNICODE_VERSION, "14.0.0");
    }
}
