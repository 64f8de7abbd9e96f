//! Python's `float(text)` (`Objects/floatobject.c`, `PyFloat_FromString`, and
//! `Python/pystrtod.c`'s `PyOS_string_to_double`).

use crate::int_parse::{decimal_and_space_to_ascii, is_ascii_space, without_digit_underscores};

/// Python `float(text)`: decimal and exponent forms, `inf`, `infinity`, `nan` in any case,
/// underscores between digits, decimal digits of any script, surrounding whitespace (any
/// Unicode white space).
pub fn float(text: &str) -> Option<f64> {
    let ascii = decimal_and_space_to_ascii(text)?;
    let trimmed = ascii.trim_matches(is_ascii_space);
    let unsigned = trimmed.trim_start_matches(['+', '-']);
    if trimmed.len() - unsigned.len() > 1 {
        return None;
    }
    let lower = unsigned.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        let magnitude = if lower == "nan" {
            f64::NAN
        } else {
            f64::INFINITY
        };
        return Some(if trimmed.starts_with('-') {
            -magnitude
        } else {
            magnitude
        });
    }
    let cleaned = without_digit_underscores(trimmed)?;
    // Rust accepts the same decimal grammar once the special names are handled above.
    let valid_chars = cleaned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !valid_chars || !cleaned.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    cleaned.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_python_reads_them() {
        for (text, expected) in [
            ("12", Some(12.0)),
            ("12.33", Some(12.33)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("1e3", Some(1000.0)),
            ("-1.5E-2", Some(-0.015)),
            (" 2 ", Some(2.0)),
            ("1_000.5", Some(1000.5)),
            ("\u{663}.\u{FF15}", Some(3.5)),
            ("\u{2003}-1e1\u{85}", Some(-10.0)),
            ("inf", Some(f64::INFINITY)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            ("", None),
            (".", None),
            ("e5", None),
            ("1e", None),
            ("--1", None),
            ("abc", None),
            ("0x10", None),
        ] {
            assert_eq!(float(text), expected, "float({text:?})");
        }
        assert!(float("NaN").unwrap().is_nan());
    }
}
