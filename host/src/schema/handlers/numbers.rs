//! Python's `int(text)` and `float(text)` for request values, which arrive as text.

/// Python `int(text)`: surrounding whitespace, an optional sign, decimal digits with single
/// underscores between them; leading zeros allowed (`"012"` is 12). `None` if Python would
/// refuse it, or if it does not fit in 64 bits.
pub fn python_int(text: &str) -> Option<i64> {
    let trimmed = text.trim();
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

/// Python `float(text)`: decimal and exponent forms, `inf`, `infinity`, `nan` in any case,
/// underscores between digits, surrounding whitespace.
pub fn python_float(text: &str) -> Option<f64> {
    let trimmed = text.trim();
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

/// Removes underscores that sit between two digits; any other underscore makes the text invalid.
fn without_digit_underscores(text: &str) -> Option<String> {
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
            assert_eq!(python_int(text), expected, "int({text:?})");
        }
    }

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
            assert_eq!(python_float(text), expected, "float({text:?})");
        }
        assert!(python_float("NaN").unwrap().is_nan());
    }
}
