//! Python's `repr(float)` and the float formatting under format specs
//! (`Python/pystrtod.c`'s `PyOS_double_to_string` and `format_float_short`, with the digits
//! `Python/dtoa.c` chooses: shortest round-trip, ties to the even digit).

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FloatCode {
    Exponent,
    Fixed,
    General,
    /// Shortest round-trip digits, as `repr`.
    Repr,
}

pub(crate) struct FloatStyle {
    pub(crate) code: FloatCode,
    pub(crate) precision: usize,
    pub(crate) alternate: bool,
    /// Keep ".0" on integral results in fixed notation (`repr` and the no-type spec).
    pub(crate) add_dot_0: bool,
    pub(crate) no_negative_zero: bool,
    pub(crate) upper: bool,
}

/// How many digits to ask the decimal conversion for.
#[derive(Clone, Copy)]
enum DigitMode {
    Shortest,
    Significant(usize),
    AfterPoint(usize),
}

/// Correctly rounded decimal digits of a finite non-negative value, without trailing zeros
/// ("0" for zero), and the decimal point's position: value = 0.DIGITS × 10^point (like dtoa).
fn decimal_digits(magnitude: f64, mode: DigitMode) -> (String, isize) {
    let (mut digits, point) = match mode {
        DigitMode::Shortest => shortest_digits(magnitude),
        DigitMode::Significant(count) => {
            split_scientific(&format!("{magnitude:.*e}", count.saturating_sub(1)))
        }
        DigitMode::AfterPoint(count) => {
            let text = format!("{magnitude:.count$}");
            let (integer, fraction) = text.split_once('.').unwrap_or((&text, ""));
            let all = format!("{integer}{fraction}");
            let leading_zeros = all.bytes().take_while(|&b| b == b'0').count();
            if leading_zeros == all.len() {
                return ("0".to_string(), 1);
            }
            (
                all[leading_zeros..].to_string(),
                integer.len() as isize - leading_zeros as isize,
            )
        }
    };
    let kept = digits.trim_end_matches('0').len().max(1);
    digits.truncate(kept);
    (digits, point)
}

/// Shortest digits that read back as `magnitude`, choosing like Python's dtoa when two
/// candidates are equally close (the value lies exactly halfway): the one ending in an even digit.
/// Rust's shortest formatting breaks such ties upwards instead.
fn shortest_digits(magnitude: f64) -> (String, isize) {
    let (digits, point) = split_scientific(&format!("{magnitude:e}"));
    // A tie needs the exact value to have exactly one more digit, a 5; check cheaply first.
    let (one_more, one_more_point) = split_scientific(&format!("{magnitude:.*e}", digits.len()));
    if !one_more.ends_with('5') || one_more_point != point {
        return (digits, point);
    }
    // Every finite f64 has at most 767 significant decimal digits, so this is its exact value.
    let (mut exact, exact_point) = split_scientific(&format!("{magnitude:.800e}"));
    exact.truncate(exact.trim_end_matches('0').len());
    if exact != one_more || exact_point != point {
        return (digits, point);
    }
    let below = &exact[..digits.len()];
    let below_is_even = below
        .bytes()
        .last()
        .is_some_and(|last| (last - b'0') % 2 == 0);
    let (preferred, preferred_point) = if below_is_even {
        (below.to_string(), point)
    } else {
        round_up_digits(below, point)
    };
    let reads_back = format!("0.{preferred}e{preferred_point}")
        .parse::<f64>()
        .is_ok_and(|parsed| parsed == magnitude);
    if reads_back {
        let kept = preferred.trim_end_matches('0').len().max(1);
        (preferred[..kept].to_string(), preferred_point)
    } else {
        (digits, point)
    }
}

/// Adds one unit in the last place to a digit string, carrying into a new leading digit if needed.
fn round_up_digits(digits: &str, point: isize) -> (String, isize) {
    let mut bytes = digits.as_bytes().to_vec();
    for byte in bytes.iter_mut().rev() {
        if *byte == b'9' {
            *byte = b'0';
        } else {
            *byte += 1;
            return (String::from_utf8_lossy(&bytes).into_owned(), point);
        }
    }
    bytes.insert(0, b'1');
    (String::from_utf8_lossy(&bytes).into_owned(), point + 1)
}

/// Splits Rust's `d.ddde±x` into its digits and the decimal point position.
fn split_scientific(text: &str) -> (String, isize) {
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
    let exponent: isize = exponent.parse().unwrap_or(0);
    (mantissa.replace('.', ""), exponent + 1)
}

/// CPython's `format_float_short`: places the digits, zero padding, decimal point and exponent.
pub(crate) fn format_float_short(number: f64, style: &FloatStyle) -> String {
    if number.is_nan() {
        // Python ignores the sign of a NaN.
        return if style.upper { "NAN" } else { "nan" }.to_string();
    }
    let sign = if number.is_sign_negative() { "-" } else { "" };
    if number.is_infinite() {
        return format!("{sign}{}", if style.upper { "INF" } else { "inf" });
    }
    let (mode, precision) = match style.code {
        FloatCode::Exponent => (
            DigitMode::Significant(style.precision + 1),
            style.precision + 1,
        ),
        FloatCode::Fixed => (DigitMode::AfterPoint(style.precision), style.precision),
        // Precision 0 makes no sense for 'g'; Python reads it as 1.
        FloatCode::General => {
            let precision = style.precision.max(1);
            (DigitMode::Significant(precision), precision)
        }
        FloatCode::Repr => (DigitMode::Shortest, 0),
    };
    let (digits, mut point) = decimal_digits(number.abs(), mode);
    let sign = if style.no_negative_zero && digits == "0" {
        ""
    } else {
        sign
    };
    let digits_len = digits.len() as isize;
    let precision = precision as isize;
    let mut use_exponent = false;
    let mut digits_end = digits_len;
    match style.code {
        FloatCode::Exponent => {
            use_exponent = true;
            digits_end = precision;
        }
        FloatCode::Fixed => digits_end = point + precision,
        FloatCode::General => {
            let fixed_limit = if style.add_dot_0 {
                precision - 1
            } else {
                precision
            };
            use_exponent = point <= -4 || point > fixed_limit;
            if style.alternate {
                digits_end = precision;
            }
        }
        // repr switches to exponent notation at 1e16.
        FloatCode::Repr => use_exponent = point <= -4 || point > 16,
    }
    let exponent = point - 1;
    if use_exponent {
        point = 1;
    }
    // The output is the slice [digits_start, digits_end) of the digits padded with zeros on both sides.
    let digits_start = if point <= 0 { point - 1 } else { 0 };
    let min_end = if !use_exponent && style.add_dot_0 {
        point + 1
    } else {
        point
    };
    digits_end = digits_end.max(min_end);

    let zeros = |count: isize| "0".repeat(count.max(0) as usize);
    let mut out = String::from(sign);
    if point <= 0 {
        out.push_str(&zeros(point - digits_start));
        out.push('.');
        out.push_str(&zeros(-point));
    } else {
        out.push_str(&zeros(-digits_start));
    }
    if 0 < point && point <= digits_len {
        let (integer, fraction) = digits.split_at(point as usize);
        out.push_str(integer);
        out.push('.');
        out.push_str(fraction);
    } else {
        out.push_str(&digits);
    }
    if digits_len < point {
        out.push_str(&zeros(point - digits_len));
        out.push('.');
        out.push_str(&zeros(digits_end - point));
    } else {
        out.push_str(&zeros(digits_end - digits_len));
    }
    if out.ends_with('.') && !style.alternate {
        out.pop();
    }
    if use_exponent {
        out.push(if style.upper { 'E' } else { 'e' });
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        out.push(exponent_sign);
        out.push_str(&format!("{:02}", exponent.unsigned_abs()));
    }
    out
}

/// Python's `repr(float)` / `str(float)`: shortest round-trip digits, e.g. 12.0 → "12.0", 1e16 → "1e+16", 1e-5 → "1e-05", 0.1 → "0.1", inf → "inf", nan → "nan", -0.0 → "-0.0".
pub fn repr(value: f64) -> String {
    format_float_short(
        value,
        &FloatStyle {
            code: FloatCode::Repr,
            precision: 0,
            alternate: false,
            add_dot_0: true,
            no_negative_zero: false,
            upper: false,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (12.0, "12.0"),
            (1e16, "1e+16"),
            (1e-5, "1e-05"),
            (0.1, "0.1"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (-0.0, "-0.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e22, "1e+22"),
            (1.5e-7, "1.5e-07"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.0001, "0.0001"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            // Exactly halfway between two shortest candidates: Python keeps the even digit.
            (10230864.0 / 1048576.0, "9.756912231445312"),
            (1531092306925133.0 / 8.0, "191386538365641.62"),
        ];
        for (value, expected) in cases {
            assert_eq!(repr(value), expected, "{value:e}");
        }
    }
}
