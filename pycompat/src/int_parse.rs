//! Python's `int(text)` (`Objects/longobject.c`, `PyLong_FromUnicodeObject`) for the values
//! that fit in 64 bits.

use crate::unicodectype;

/// Python `int(text)`: surrounding whitespace (any Unicode white space), an optional sign,
/// decimal digits of any script with single underscores between them; leading zeros allowed
/// (`"012"` is 12). `None` if Python would refuse it, or if it does not fit in 64 bits.
pub fn int(text: &str) -> Option<i64> {
    let ascii = decimal_and_space_to_ascii(text)?;
    let trimmed = ascii.trim_matches(is_ascii_space);
    let (negative, digits) = match trimmed.as_bytes().first()? {
        b'-' => (true, &trimmed[1..]),
        b'+' => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let digits = without_digit_underscores(digits)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All zeros parse as the empty string; any other failure is a number too large for i128,
    // which is beyond i64 too.
    let significant = digits.trim_start_matches('0');
    let magnitude: i128 = if significant.is_empty() {
        0
    } else {
        significant.parse().ok()?
    };
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

/// `_PyUnicode_TransformDecimalAndSpaceToASCII`, with which `int()` and `float()` start: ASCII
/// below DEL stays, other white space becomes `' '` and decimal digits of any script their
/// ASCII digit. `None` when anything else remains, which no number can hold.
pub(crate) fn decimal_and_space_to_ascii(text: &str) -> Option<String> {
    text.chars()
        .map(|c| match c {
            '\0'..='\u{7E}' => Some(c),
            _ if unicodectype::is_space(c) => Some(' '),
            _ => unicodectype::decimal_value(c).and_then(|digit| char::from_digit(digit, 10)),
        })
        .collect()
}

/// C's `isspace` in the C locale (`Py_ISSPACE`), what is stripped once the text is ASCII.
pub(crate) fn is_ascii_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// Removes underscores that sit between two digits; any other underscore makes the text invalid.
pub(crate) fn without_digit_underscores(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let between_digits = i > 0
                && bytes[i - 1].is_ascii_digit()
                && bytes.get(i + 1).is_some_and(|n| n.is_ascii_digit());
            if !between_digits {
                return None;
            }
        } else {
            out.push(b as char);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_as_python_reads_them() {
        for (text, expected) in [
            ("12", Some(12)),
            ("012", Some(12)),
            (" 7 ", Some(7)),
            ("-3", Some(-3)),
            ("+3", Some(3)),
            ("1_000", Some(1000)),
            // Digits of other scripts and Unicode white space, as Python reads them.
            ("\u{663}\u{FF11}", Some(31)),
            ("\u{3000}7\u{A0}", Some(7)),
            ("\u{1C}7", None),
            ("\u{B2}", None),
            ("0", Some(0)),
            ("000", Some(0)),
            // Beyond i128 (and so i64): not a value this handler can hold, never 0.
            ("1234567890123456789012345678901234567890", None),
            ("0001234567890123456789012345678901234567890", None),
            ("12.5", None),
            ("12.0", None),
            ("1e3", None),
            ("", None),
            ("-", None),
            ("_1", None),
            ("1__0", None),
            ("1_", None),
            ("0x10", None),
            ("abc", None),
            ("9223372036854775807", Some(i64::MAX)),
            ("9223372036854775808", None),
        ] {
            assert_eq!(int(text), expected, "int({text:?})");
        }
    }
}
