//! Python's format-spec mini-language, `format(value, spec)` for `int`, `float` and `str`
//! (`Python/formatter_unicode.c`), reproduced exactly, including its error messages.

use std::fmt;

use crate::float_repr::{FloatCode, FloatStyle, format_float_short};
use crate::unicodectype;

/// A value handed to a format field; Python's `int`, `float` or `str`.
#[derive(Debug, Clone, PartialEq)]
pub enum FormatValue<'a> {
    /// An `int` (the values that fit in 64 bits).
    Int(i64),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(&'a str),
}

impl FormatValue<'_> {
    /// Python's type name, as it appears in error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            FormatValue::Int(_) => "int",
            FormatValue::Float(_) => "float",
            FormatValue::Str(_) => "str",
        }
    }
}

/// A template or format-spec error; the message is Python's where Python has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError(pub String);

impl FormatError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        FormatError(message.into())
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FormatError {}

/// `accumulator * 10 + digit`, failing like CPython once it would pass `Py_ssize_t`'s range.
pub(crate) fn accumulate_digit(accumulator: usize, digit: usize) -> Result<usize, FormatError> {
    let limit = isize::MAX as usize;
    if accumulator > (limit - digit) / 10 {
        return Err(FormatError::new("Too many decimal digits in format string"));
    }
    Ok(accumulator * 10 + digit)
}

/// The value of a Unicode decimal digit (`Py_UNICODE_TODECIMAL`): CPython accepts any of them
/// in widths, precisions and field indexes.
pub(crate) fn decimal_digit_value(c: char) -> Option<usize> {
    unicodectype::decimal_value(c).map(|digit| digit as usize)
}

/// Longest width (and float precision) we render; Python would go on until memory runs out.
const MAX_RENDERED_WIDTH: usize = 1_000_000;

/// Alignment: `<`, `>`, `=` (padding after the sign) or `^`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// `<`: padding after the value.
    Left,
    /// `>`: padding before the value.
    Right,
    /// `=`: padding between the sign (and prefix) and the digits.
    AfterSign,
    /// `^`: padding split around the value, the extra one after.
    Center,
}

impl Align {
    fn from_char(c: char) -> Option<Align> {
        match c {
            '<' => Some(Align::Left),
            '>' => Some(Align::Right),
            '=' => Some(Align::AfterSign),
            '^' => Some(Align::Center),
            _ => None,
        }
    }
}

/// Sign option: `+`, `-` or space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    /// `+`: a sign on positive numbers too.
    Plus,
    /// `-`: a sign on negative numbers only (the default).
    Minus,
    /// ` `: a space on positive numbers.
    Space,
}

impl Sign {
    fn from_char(c: char) -> Option<Sign> {
        match c {
            '+' => Some(Sign::Plus),
            '-' => Some(Sign::Minus),
            ' ' => Some(Sign::Space),
            _ => None,
        }
    }
}

/// Thousands separator option: `,` or `_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// `,`: every three digits.
    Comma,
    /// `_`: every three decimal digits, or four binary, octal or hexadecimal ones.
    Underscore,
}

impl Grouping {
    fn separator(self) -> char {
        match self {
            Grouping::Comma => ',',
            Grouping::Underscore => '_',
        }
    }
}

/// A parsed format spec, `[[fill]align][sign]["z"]["#"]["0"][width][grouping]["." precision][type]`.
///
/// Defaults that depend on the value's type (alignment, type code) stay unset
/// here and are resolved by [`FormatSpec::apply`], as Python does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FormatSpec {
    /// Fill character; only given together with `align`.
    pub fill: Option<char>,
    /// Alignment; the type's default when unset.
    pub align: Option<Align>,
    /// Sign option.
    pub sign: Option<Sign>,
    /// `z`: turn a negative zero result into a positive one (floats only).
    pub coerce_negative_zero: bool,
    /// `#`: alternate form.
    pub alternate: bool,
    /// `0` before the width: zero fill, sign-aware for numbers; ignored if `fill` is given.
    pub zero_pad: bool,
    /// Minimum width, in characters.
    pub width: Option<usize>,
    /// Thousands separator.
    pub grouping: Option<Grouping>,
    /// Digits after the point (`f`, `e`, `%`), significant digits (`g`, none) or characters kept (`s`).
    pub precision: Option<usize>,
    /// The presentation type code, validated against the value's type when applied.
    pub presentation: Option<char>,
}

impl FormatSpec {
    /// Parses a spec (CPython's `parse_internal_render_format_spec`, minus the type-dependent defaults).
    pub fn parse(spec: &str) -> Result<FormatSpec, FormatError> {
        let chars: Vec<char> = spec.chars().collect();
        let at = |pos: usize| chars.get(pos).copied();
        let mut parsed = FormatSpec::default();
        let mut pos = 0;
        if let Some(align) = at(1).and_then(Align::from_char) {
            parsed.fill = at(0);
            parsed.align = Some(align);
            pos = 2;
        } else if let Some(align) = at(0).and_then(Align::from_char) {
            parsed.align = Some(align);
            pos = 1;
        }
        if let Some(sign) = at(pos).and_then(Sign::from_char) {
            parsed.sign = Some(sign);
            pos += 1;
        }
        if at(pos) == Some('z') {
            parsed.coerce_negative_zero = true;
            pos += 1;
        }
        if at(pos) == Some('#') {
            parsed.alternate = true;
            pos += 1;
        }
        if parsed.fill.is_none() && at(pos) == Some('0') {
            parsed.zero_pad = true;
            pos += 1;
        }
        parsed.width = parse_decimal(&chars, &mut pos)?;
        if at(pos) == Some(',') {
            parsed.grouping = Some(Grouping::Comma);
            pos += 1;
        }
        if at(pos) == Some('_') {
            if parsed.grouping.is_some() {
                return Err(FormatError::new("Cannot specify both ',' and '_'."));
            }
            parsed.grouping = Some(Grouping::Underscore);
            pos += 1;
        }
        if at(pos) == Some(',') && parsed.grouping == Some(Grouping::Underscore) {
            return Err(FormatError::new("Cannot specify both ',' and '_'."));
        }
        if at(pos) == Some('.') {
            pos += 1;
            parsed.precision = parse_decimal(&chars, &mut pos)?;
            if parsed.precision.is_none() {
                return Err(FormatError::new("Format specifier missing precision"));
            }
        }
        match chars.len() - pos {
            0 => {}
            1 => parsed.presentation = at(pos),
            // Python adds "for object of type ..." here, which a spec alone cannot know.
            _ => {
                return Err(FormatError(format!("Invalid format specifier '{spec}'")));
            }
        }
        if let (Some(grouping), Some(presentation)) = (parsed.grouping, parsed.presentation) {
            check_grouping(grouping, presentation)?;
        }
        Ok(parsed)
    }

    /// Formats one value as Python's `format(value, spec)` does.
    pub fn apply(&self, value: &FormatValue) -> Result<String, FormatError> {
        if let Some(width) = self.width.filter(|&width| width > MAX_RENDERED_WIDTH) {
            return Err(FormatError(format!(
                "width {width} exceeds the supported maximum of {MAX_RENDERED_WIDTH}"
            )));
        }
        match *value {
            FormatValue::Str(text) => self.format_str(text),
            FormatValue::Int(number) => self.format_int(number),
            FormatValue::Float(number) => match self.presentation {
                None | Some('e' | 'E' | 'f' | 'F' | 'g' | 'G' | 'n' | '%') => {
                    self.format_float(number)
                }
                Some(other) => Err(unknown_format_code(other, value.type_name())),
            },
        }
    }

    fn format_str(&self, text: &str) -> Result<String, FormatError> {
        let presentation = self.presentation.unwrap_or('s');
        if let Some(grouping) = self.grouping {
            check_grouping(grouping, presentation)?;
        }
        if presentation != 's' {
            return Err(unknown_format_code(presentation, "str"));
        }
        match self.sign {
            Some(Sign::Space) => {
                return Err(FormatError::new(
                    "Space not allowed in string format specifier",
                ));
            }
            Some(_) => {
                return Err(FormatError::new(
                    "Sign not allowed in string format specifier",
                ));
            }
            None => {}
        }
        if self.coerce_negative_zero {
            return Err(FormatError::new(
                "Negative zero coercion (z) not allowed in string format specifier",
            ));
        }
        if self.alternate {
            return Err(FormatError::new(
                "Alternate form (#) not allowed in string format specifier",
            ));
        }
        let layout = self.layout(false);
        if layout.align == Align::AfterSign {
            return Err(FormatError::new(
                "'=' alignment not allowed in string format specifier",
            ));
        }
        let kept: &str = match self.precision {
            Some(precision) => text
                .char_indices()
                .nth(precision)
                .map_or(text, |(end, _)| &text[..end]),
            None => text,
        };
        let padding = layout.width.saturating_sub(kept.chars().count());
        let left = match layout.align {
            Align::Right => padding,
            Align::Center => padding / 2,
            Align::Left | Align::AfterSign => 0,
        };
        let mut out = String::new();
        push_repeated(&mut out, layout.fill, left);
        out.push_str(kept);
        push_repeated(&mut out, layout.fill, padding - left);
        Ok(out)
    }

    fn format_int(&self, number: i64) -> Result<String, FormatError> {
        let presentation = self.presentation.unwrap_or('d');
        match presentation {
            'b' | 'c' | 'd' | 'o' | 'x' | 'X' | 'n' => self.format_integer(number, presentation),
            // Python converts the int to the nearest float (ties to even), as `as` does.
            'e' | 'E' | 'f' | 'F' | 'g' | 'G' | '%' => self.format_float(number as f64),
            other => Err(unknown_format_code(other, "int")),
        }
    }

    /// CPython's `format_long_internal`.
    fn format_integer(&self, number: i64, presentation: char) -> Result<String, FormatError> {
        if self.precision.is_some() {
            return Err(FormatError::new(
                "Precision not allowed in integer format specifier",
            ));
        }
        if self.coerce_negative_zero {
            return Err(FormatError::new(
                "Negative zero coercion (z) not allowed in integer format specifier",
            ));
        }
        let layout = self.layout(true);
        if presentation == 'c' {
            if self.sign.is_some() {
                return Err(FormatError::new(
                    "Sign not allowed with integer format specifier 'c'",
                ));
            }
            if self.alternate {
                return Err(FormatError::new(
                    "Alternate form (#) not allowed with integer format specifier 'c'",
                ));
            }
            if !(0..=0x10ffff).contains(&number) {
                return Err(FormatError::new("%c arg not in range(0x110000)"));
            }
            let character = u32::try_from(number)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| {
                    FormatError(format!(
                        "%c arg {number:#x} is a surrogate, which a Rust string cannot hold"
                    ))
                })?;
            // Python treats the character as trailing text, never as digits to pad or group.
            let remainder = character.to_string();
            let parts = NumberParts {
                negative: false,
                prefix: "",
                digits: "",
                has_decimal_point: false,
                remainder: &remainder,
            };
            return Ok(render_number(&parts, &layout, None));
        }
        let magnitude = number.unsigned_abs();
        let (digits, prefix, group_size) = match presentation {
            'b' => (format!("{magnitude:b}"), "0b", 4),
            'o' => (format!("{magnitude:o}"), "0o", 4),
            'x' => (format!("{magnitude:x}"), "0x", 4),
            'X' => (format!("{magnitude:X}"), "0X", 4),
            _ => (magnitude.to_string(), "", 3),
        };
        let grouping = match self.grouping {
            // 'n' uses the C locale, which has no thousands separator.
            _ if presentation == 'n' => None,
            Some(Grouping::Comma) => Some((3, ',')),
            Some(Grouping::Underscore) => Some((group_size, '_')),
            None => None,
        };
        let parts = NumberParts {
            negative: number < 0,
            prefix: if self.alternate { prefix } else { "" },
            digits: &digits,
            has_decimal_point: false,
            remainder: "",
        };
        Ok(render_number(&parts, &layout, grouping))
    }

    /// CPython's `format_float_internal`; the caller has checked the type code.
    fn format_float(&self, number: f64) -> Result<String, FormatError> {
        if let Some(precision) = self.precision {
            if precision > i32::MAX as usize {
                return Err(FormatError::new("precision too big"));
            }
            if precision > MAX_RENDERED_WIDTH {
                return Err(FormatError(format!(
                    "precision {precision} exceeds the supported maximum of {MAX_RENDERED_WIDTH}"
                )));
            }
        }
        let mut number = number;
        let mut append_percent = false;
        let mut style = FloatStyle {
            code: FloatCode::Fixed,
            precision: self.precision.unwrap_or(6),
            alternate: self.alternate,
            add_dot_0: false,
            no_negative_zero: self.coerce_negative_zero,
            upper: false,
        };
        match self.presentation {
            // No type: repr, or with a precision 'g' that keeps a ".0" on integral results.
            None => {
                style.add_dot_0 = true;
                (style.code, style.precision) = match self.precision {
                    Some(precision) => (FloatCode::General, precision),
                    None => (FloatCode::Repr, 0),
                };
            }
            Some('e') => style.code = FloatCode::Exponent,
            Some('E') => (style.code, style.upper) = (FloatCode::Exponent, true),
            Some('F') => style.upper = true,
            Some('g' | 'n') => style.code = FloatCode::General,
            Some('G') => (style.code, style.upper) = (FloatCode::General, true),
            Some('%') => {
                number *= 100.0;
                append_percent = true;
            }
            _ => {}
        }
        let mut text = format_float_short(number, &style);
        if append_percent {
            text.push('%');
        }
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        let integer_len = body.bytes().take_while(u8::is_ascii_digit).count();
        let (digits, rest) = body.split_at(integer_len);
        let (has_decimal_point, remainder) = match rest.strip_prefix('.') {
            Some(after_point) => (true, after_point),
            None => (false, rest),
        };
        let grouping = match self.grouping {
            _ if self.presentation == Some('n') => None,
            Some(grouping) => Some((3, grouping.separator())),
            None => None,
        };
        let parts = NumberParts {
            negative,
            prefix: "",
            digits,
            has_decimal_point,
            remainder,
        };
        Ok(render_number(&parts, &self.layout(true), grouping))
    }

    /// Fill, alignment and width with the type's defaults applied.
    fn layout(&self, numeric: bool) -> Layout {
        let fill = match self.fill {
            Some(fill) => fill,
            None if self.zero_pad => '0',
            None => ' ',
        };
        let align = match self.align {
            Some(align) => align,
            None if !numeric => Align::Left,
            None if self.zero_pad => Align::AfterSign,
            None => Align::Right,
        };
        Layout {
            fill,
            align,
            sign: self.sign,
            width: self.width.unwrap_or(0),
        }
    }
}

/// Reads a run of decimal digits (CPython's `get_integer`); `None` if there is none.
fn parse_decimal(chars: &[char], pos: &mut usize) -> Result<Option<usize>, FormatError> {
    let mut value = None;
    while let Some(digit) = chars.get(*pos).copied().and_then(decimal_digit_value) {
        value = Some(accumulate_digit(value.unwrap_or(0), digit)?);
        *pos += 1;
    }
    Ok(value)
}

/// Which type codes accept a thousands separator (PEP 378, PEP 515).
fn check_grouping(grouping: Grouping, presentation: char) -> Result<(), FormatError> {
    match presentation {
        'd' | 'e' | 'f' | 'g' | 'E' | 'G' | '%' | 'F' => Ok(()),
        'b' | 'o' | 'x' | 'X' if grouping == Grouping::Underscore => Ok(()),
        _ => Err(FormatError(format!(
            "Cannot specify '{}' with {}.",
            grouping.separator(),
            quote_code(presentation)
        ))),
    }
}

fn unknown_format_code(presentation: char, type_name: &str) -> FormatError {
    FormatError(format!(
        "Unknown format code {} for object of type '{type_name}'",
        quote_code(presentation)
    ))
}

/// A type code as CPython quotes it in messages: printable ASCII as is, anything else as `\x..`.
fn quote_code(code: char) -> String {
    if (33..128).contains(&u32::from(code)) {
        format!("'{code}'")
    } else {
        format!("'\\x{:x}'", u32::from(code))
    }
}

fn push_repeated(out: &mut String, c: char, count: usize) {
    out.extend(std::iter::repeat_n(c, count));
}

/// Resolved padding options.
struct Layout {
    fill: char,
    align: Align,
    sign: Option<Sign>,
    /// 0 when no width was given, which never pads.
    width: usize,
}

/// A number split the way CPython's `calc_number_widths` sees it.
struct NumberParts<'a> {
    negative: bool,
    /// "0x" and friends.
    prefix: &'a str,
    /// Integer digits, the only part that is grouped or zero-padded.
    digits: &'a str,
    has_decimal_point: bool,
    /// Everything after the decimal point (fraction, exponent, '%', or a 'c' character).
    remainder: &'a str,
}

/// Lays out sign, prefix, padding and grouped digits (CPython's `calc_number_widths` and `fill_number`).
fn render_number(parts: &NumberParts, layout: &Layout, grouping: Option<(usize, char)>) -> String {
    let sign = match layout.sign {
        Some(Sign::Plus) => Some(if parts.negative { '-' } else { '+' }),
        Some(Sign::Space) => Some(if parts.negative { '-' } else { ' ' }),
        Some(Sign::Minus) | None => parts.negative.then_some('-'),
    };
    let non_digit_len = usize::from(sign.is_some())
        + parts.prefix.len()
        + usize::from(parts.has_decimal_point)
        + parts.remainder.chars().count();
    // Zero fill after the sign is done by the grouping code, so the zeros get separators too.
    let min_digits_width = if layout.fill == '0' && layout.align == Align::AfterSign {
        layout.width.saturating_sub(non_digit_len)
    } else {
        0
    };
    let grouped = if parts.digits.is_empty() {
        String::new()
    } else {
        group_digits(parts.digits, min_digits_width, grouping)
    };
    let padding = layout
        .width
        .saturating_sub(non_digit_len + grouped.chars().count());
    let (left, after_sign, right) = match layout.align {
        Align::Left => (0, 0, padding),
        Align::Center => (padding / 2, 0, padding - padding / 2),
        Align::AfterSign => (0, padding, 0),
        Align::Right => (padding, 0, 0),
    };
    let mut out = String::new();
    push_repeated(&mut out, layout.fill, left);
    out.extend(sign);
    out.push_str(parts.prefix);
    push_repeated(&mut out, layout.fill, after_sign);
    out.push_str(&grouped);
    if parts.has_decimal_point {
        out.push('.');
    }
    out.push_str(parts.remainder);
    push_repeated(&mut out, layout.fill, right);
    out
}

/// Inserts separators every `size` digits from the right and pads with zeros up to
/// `min_width` (CPython's `_PyUnicode_InsertThousandsGrouping`, including its habit
/// of overshooting the width rather than starting a group with a separator).
fn group_digits(digits: &str, min_width: usize, grouping: Option<(usize, char)>) -> String {
    // Signed like CPython's counters, which go below zero on the last group.
    let mut remaining = digits.len() as isize;
    let mut min_width = min_width as isize;
    let mut end = digits.len();
    let mut groups = Vec::new();
    let mut take_group = |len: isize, remaining: &mut isize| {
        let taken = (*remaining).min(len).max(0) as usize;
        let zeros = (len - *remaining).max(0) as usize;
        let mut group = "0".repeat(zeros);
        group.push_str(&digits[end - taken..end]);
        end -= taken;
        *remaining -= taken as isize;
        groups.push(group);
    };
    let mut complete = false;
    if let Some((size, _)) = grouping {
        loop {
            let len = (size as isize).min(remaining.max(min_width).max(1));
            take_group(len, &mut remaining);
            min_width -= len;
            if remaining <= 0 && min_width <= 0 {
                complete = true;
                break;
            }
            // Room for the separator.
            min_width -= 1;
        }
    }
    if !complete {
        take_group(remaining.max(min_width).max(1), &mut remaining);
    }
    groups.reverse();
    let separator = grouping.map(|(_, separator)| separator.to_string());
    groups.join(separator.as_deref().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::str_format::Template;
    use FormatValue::Str;
    #[test]
    fn apply_errors_are_python_messages_verbatim() {
        let spec = FormatSpec::parse("d").expect("parses");
        assert_eq!(
            spec.apply(&Str("x")),
            Err(FormatError(
                "Unknown format code 'd' for object of type 'str'".to_string()
            ))
        );
        let template = Template::parse("{:d}").expect("parses");
        assert_eq!(
            template.format_one(&Str("x")).map_err(|error| error.0),
            Err("Unknown format code 'd' for object of type 'str'".to_string())
        );
    }

    #[test]
    fn parses_spec_fields() {
        let spec = FormatSpec::parse("*^+z#012_.3e").expect("parses");
        assert_eq!(
            spec,
            FormatSpec {
                fill: Some('*'),
                align: Some(Align::Center),
                sign: Some(Sign::Plus),
                coerce_negative_zero: true,
                alternate: true,
                zero_pad: false,
                width: Some(12),
                grouping: Some(Grouping::Underscore),
                precision: Some(3),
                presentation: Some('e'),
            }
        );
        assert_eq!(FormatSpec::parse(""), Ok(FormatSpec::default()));
        let zero_flag = FormatSpec::parse("08").expect("parses");
        assert!(zero_flag.zero_pad && zero_flag.fill.is_none());
    }
}
