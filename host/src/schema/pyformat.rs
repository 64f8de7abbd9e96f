//! Python `str.format` templates and the format-spec mini-language, reproduced exactly (schema `canonic` values and key templates).
//!
//! The code follows CPython 3.11 (`Objects/stringlib/unicode_format.h`,
//! `Python/formatter_unicode.c`, `Python/pystrtod.c`) step by step, including its
//! error messages, so that values we write are byte-identical to pyaviso's.

/// A value handed to a format field; Python's `int`, `float` or `str`.
#[derive(Debug, Clone, PartialEq)]
pub enum FormatValue<'a> {
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl FormatValue<'_> {
    /// Python's type name, as it appears in error messages.
    fn type_name(&self) -> &'static str {
        match self {
            FormatValue::Int(_) => "int",
            FormatValue::Float(_) => "float",
            FormatValue::Str(_) => "str",
        }
    }
}

/// A template or format-spec error; the message is Python's where Python has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

impl FormatError {
    fn new(message: impl Into<String>) -> Self {
        FormatError(message.into())
    }
}

/// What a replacement field refers to: `{}`, `{0}` or `{name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldName {
    Auto,
    Index(usize),
    Name(String),
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Text with `{{`/`}}` already unescaped; adjacent text is merged into one segment.
    Literal(String),
    Field {
        name: FieldName,
        spec: FormatSpec,
    },
}

/// A parsed `str.format` template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub segments: Vec<Segment>,
    /// The original text, quoted in error messages.
    source: String,
}

impl Template {
    /// Parses a template, rejecting the Python features we do not reproduce
    /// (conversions, attribute/index access, nested fields in a spec).
    pub fn parse(template: &str) -> Result<Template, FormatError> {
        let segments = parse_segments(template)
            .map_err(|problem| FormatError(format!("{problem} in format template '{template}'")))?;
        Ok(Template {
            segments,
            source: template.to_string(),
        })
    }

    /// Field names in order of appearance (Name fields only), for key templates like "/ec/diss/{destination}".
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Field {
                name: FieldName::Name(name),
                ..
            } => Some(name.as_str()),
            _ => None,
        })
    }

    /// Formats a template whose fields are all positional (`{}`, `{0}`) with one argument. Error if a field is named or index > 0.
    pub fn format_one(&self, value: &FormatValue) -> Result<String, FormatError> {
        let mut out = String::new();
        let mut next_auto_index = 0;
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Field { name, spec } => {
                    let index = match name {
                        FieldName::Auto => {
                            next_auto_index += 1;
                            next_auto_index - 1
                        }
                        FieldName::Index(index) => *index,
                        FieldName::Name(name) => {
                            return Err(FormatError(format!(
                                "named field '{name}' needs a named value in format template '{}'",
                                self.source
                            )));
                        }
                    };
                    if index > 0 {
                        return Err(FormatError(format!(
                            "Replacement index {index} out of range for positional args tuple"
                        )));
                    }
                    out.push_str(&spec.apply(value)?);
                }
            }
        }
        Ok(out)
    }

    /// Formats a template with named fields; `lookup` returns the string value of a name (None → Err(FormatError) mentioning the missing name; the caller maps it).
    pub fn format_named<'v>(
        &self,
        lookup: impl Fn(&str) -> Option<&'v str>,
    ) -> Result<String, FormatError> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Field {
                    name: FieldName::Name(name),
                    spec,
                } => {
                    let value = lookup(name).ok_or_else(|| {
                        FormatError(format!(
                            "missing value for field '{name}' in format template '{}'",
                            self.source
                        ))
                    })?;
                    out.push_str(&spec.apply(&FormatValue::Str(value))?);
                }
                Segment::Field { name, .. } => {
                    // No positional arguments exist here, exactly like `template.format(**values)`;
                    // the first positional field fails, and an automatic one is index 0.
                    let index = match name {
                        FieldName::Index(index) => *index,
                        _ => 0,
                    };
                    return Err(FormatError(format!(
                        "Replacement index {index} out of range for positional args tuple"
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// Whether a template numbers its positional fields itself (`{0}`) or lets Python do it (`{}`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Numbering {
    Undecided,
    Automatic,
    Manual,
}

/// A replacement field as written, before validation.
struct RawField<'t> {
    name: &'t str,
    conversion: Option<char>,
    spec: &'t str,
    spec_has_nested_field: bool,
}

/// Splits a template into literals and fields (CPython's `MarkupIterator_next`).
fn parse_segments(template: &str) -> Result<Vec<Segment>, String> {
    let bytes = template.as_bytes();
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut numbering = Numbering::Undecided;
    let mut pos = 0;
    while pos < bytes.len() {
        let start = pos;
        let mut brace = None;
        while let Some(&byte) = bytes.get(pos) {
            pos += 1;
            if byte == b'{' || byte == b'}' {
                brace = Some(byte);
                break;
            }
        }
        // Braces are ASCII, so every `pos` below sits on a char boundary.
        let next = bytes.get(pos).copied();
        match brace {
            None => literal.push_str(&template[start..pos]),
            Some(b'}') => {
                if next != Some(b'}') {
                    return Err("Single '}' encountered in format string".to_string());
                }
                literal.push_str(&template[start..pos]);
                pos += 1;
            }
            Some(_) => match next {
                None => return Err("Single '{' encountered in format string".to_string()),
                Some(b'{') => {
                    literal.push_str(&template[start..pos]);
                    pos += 1;
                }
                Some(_) => {
                    literal.push_str(&template[start..pos - 1]);
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    let raw = scan_field(template, &mut pos)?;
                    segments.push(build_field(&raw, &mut numbering)?);
                }
            },
        }
    }
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    Ok(segments)
}

/// Reads one field after its opening brace (CPython's `parse_field`), leaving `pos` after its closing brace.
fn scan_field<'t>(template: &'t str, pos: &mut usize) -> Result<RawField<'t>, String> {
    let bytes = template.as_bytes();
    let name_start = *pos;
    let mut terminator = None;
    while let Some(&byte) = bytes.get(*pos) {
        *pos += 1;
        match byte {
            b'{' => return Err("unexpected '{' in field name".to_string()),
            // CPython lets an index key contain ':', '!' or '}', so it skips to the ']'.
            b'[' => {
                while bytes.get(*pos).is_some_and(|&inner| inner != b']') {
                    *pos += 1;
                }
            }
            b'}' | b':' | b'!' => {
                terminator = Some(byte);
                break;
            }
            _ => {}
        }
    }
    let Some(terminator) = terminator else {
        return Err("expected '}' before end of string".to_string());
    };
    let mut field = RawField {
        name: &template[name_start..*pos - 1],
        conversion: None,
        spec: "",
        spec_has_nested_field: false,
    };
    if terminator == b'}' {
        return Ok(field);
    }
    if terminator == b'!' {
        let Some(conversion) = template[*pos..].chars().next() else {
            return Err("end of string while looking for conversion specifier".to_string());
        };
        field.conversion = Some(conversion);
        *pos += conversion.len_utf8();
        if let Some(&after) = bytes.get(*pos) {
            *pos += 1;
            if after == b'}' {
                return Ok(field);
            }
            if after != b':' {
                return Err("expected ':' after conversion specifier".to_string());
            }
        }
    }
    // The spec ends at the '}' balancing the field's own '{'.
    let spec_start = *pos;
    let mut depth = 1;
    while let Some(&byte) = bytes.get(*pos) {
        *pos += 1;
        match byte {
            b'{' => {
                field.spec_has_nested_field = true;
                depth += 1;
            }
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    field.spec = &template[spec_start..*pos - 1];
                    return Ok(field);
                }
            }
            _ => {}
        }
    }
    Err("unmatched '{' in format spec".to_string())
}

/// Validates a scanned field in the order CPython checks it at format time.
fn build_field(raw: &RawField, numbering: &mut Numbering) -> Result<Segment, String> {
    let first_len = raw.name.find(['.', '[']).unwrap_or(raw.name.len());
    let (first, accessors) = raw.name.split_at(first_len);
    let index = parse_field_index(first)?;
    let name = match index {
        _ if first.is_empty() => FieldName::Auto,
        Some(index) => FieldName::Index(index),
        None => FieldName::Name(first.to_string()),
    };
    let uses_auto = matches!(name, FieldName::Auto);
    if !matches!(name, FieldName::Name(_)) {
        if *numbering == Numbering::Undecided {
            *numbering = if uses_auto {
                Numbering::Automatic
            } else {
                Numbering::Manual
            };
        }
        match (*numbering, uses_auto) {
            (Numbering::Manual, true) => {
                return Err(
                    "cannot switch from manual field specification to automatic field numbering"
                        .to_string(),
                );
            }
            (Numbering::Automatic, false) => {
                return Err(
                    "cannot switch from automatic field numbering to manual field specification"
                        .to_string(),
                );
            }
            _ => {}
        }
    }
    if !accessors.is_empty() {
        return Err(format!(
            "attribute or index access '{}' is not supported",
            raw.name
        ));
    }
    match raw.conversion {
        None => {}
        Some(conversion @ ('r' | 's' | 'a')) => {
            return Err(format!("unsupported conversion '!{conversion}'"));
        }
        Some(conversion) if (33..127).contains(&u32::from(conversion)) => {
            return Err(format!("Unknown conversion specifier {conversion}"));
        }
        Some(conversion) => {
            return Err(format!(
                "Unknown conversion specifier \\x{:x}",
                u32::from(conversion)
            ));
        }
    }
    if raw.spec_has_nested_field {
        return Err("nested replacement fields in format spec are not supported".to_string());
    }
    let spec = FormatSpec::parse(raw.spec).map_err(|error| error.0)?;
    Ok(Segment::Field { name, spec })
}

/// A field name made only of decimal digits is a positional index (CPython's `get_integer`).
fn parse_field_index(text: &str) -> Result<Option<usize>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let mut index: usize = 0;
    for c in text.chars() {
        let Some(digit) = decimal_digit_value(c) else {
            return Ok(None);
        };
        index = accumulate_digit(index, digit).map_err(|error| error.0)?;
    }
    Ok(Some(index))
}

/// `accumulator * 10 + digit`, failing like CPython once it would pass `Py_ssize_t`'s range.
fn accumulate_digit(accumulator: usize, digit: usize) -> Result<usize, FormatError> {
    let limit = isize::MAX as usize;
    if accumulator > (limit - digit) / 10 {
        return Err(FormatError::new("Too many decimal digits in format string"));
    }
    Ok(accumulator * 10 + digit)
}

/// First code point of each run of ten Unicode decimal digits (Unicode 14.0, as in Python 3.11):
/// CPython accepts any of them in widths, precisions and field indexes.
const DECIMAL_DIGIT_ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66,
    0xde6, 0xe50, 0xed0, 0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90,
    0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10,
    0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650,
    0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50,
    0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

/// The value of a Unicode decimal digit (`Py_UNICODE_TODECIMAL`).
fn decimal_digit_value(c: char) -> Option<usize> {
    let code = u32::from(c);
    let run = DECIMAL_DIGIT_ZEROS.partition_point(|&zero| zero <= code);
    let zero = *DECIMAL_DIGIT_ZEROS.get(run.checked_sub(1)?)?;
    let offset = code - zero;
    (offset < 10).then_some(offset as usize)
}

/// Longest width (and float precision) we render; Python would go on until memory runs out.
const MAX_RENDERED_WIDTH: usize = 1_000_000;

/// Alignment: `<`, `>`, `=` (padding after the sign) or `^`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
    AfterSign,
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
    Plus,
    Minus,
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
    Comma,
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
    pub align: Option<Align>,
    pub sign: Option<Sign>,
    /// `z`: turn a negative zero result into a positive one (floats only).
    pub coerce_negative_zero: bool,
    /// `#`: alternate form.
    pub alternate: bool,
    /// `0` before the width: zero fill, sign-aware for numbers; ignored if `fill` is given.
    pub zero_pad: bool,
    pub width: Option<usize>,
    pub grouping: Option<Grouping>,
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

/// `PyOS_double_to_string`'s format codes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FloatCode {
    Exponent,
    Fixed,
    General,
    /// Shortest round-trip digits, as `repr`.
    Repr,
}

struct FloatStyle {
    code: FloatCode,
    precision: usize,
    alternate: bool,
    /// Keep ".0" on integral results in fixed notation (`repr` and the no-type spec).
    add_dot_0: bool,
    no_negative_zero: bool,
    upper: bool,
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
fn format_float_short(number: f64, style: &FloatStyle) -> String {
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
pub fn python_float_repr(value: f64) -> String {
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
    use FormatValue::{Float, Int, Str};

    /// Rows computed with Python 3.11 as `template.format(value)`; an `Err` holds Python's message,
    /// which ours must equal or extend with the template it was found in.
    #[rustfmt::skip]
    #[allow(clippy::approx_constant)] // 3.14159 is a sample value, not an attempt at PI
    const PYTHON_CASES: &[(&str, FormatValue<'static>, Result<&str, &str>)] = &[
        ("{0:0>4}", Int(1), Ok("0001")),
        ("{0:0>4}", Int(12), Ok("0012")),
        ("{0:0>4}", Int(-1), Ok("00-1")),
        ("{0:0>4}", Int(12345), Ok("12345")),
        ("{0:0>2}", Int(0), Ok("00")),
        ("{0:0>2}", Int(6), Ok("06")),
        ("{0:0>2}", Int(12), Ok("12")),
        ("{0:0>2}", Str("6"), Ok("06")),
        ("{:2.2f}", Float(12.333), Ok("12.33")),
        ("{:2.2f}", Float(12.0), Ok("12.00")),
        ("{:2.2f}", Int(5), Ok("5.00")),
        ("{:04d}", Int(-5), Ok("-005")),
        ("{:+d}", Int(5), Ok("+5")),
        ("{:,}", Int(1234567), Ok("1,234,567")),
        ("{:_x}", Int(65535), Ok("ffff")),
        ("{:#x}", Int(255), Ok("0xff")),
        ("{:#010b}", Int(5), Ok("0b00000101")),
        ("{:e}", Float(1234.5), Ok("1.234500e+03")),
        ("{:.3g}", Float(0.0001234), Ok("0.000123")),
        ("{:g}", Float(1e-05), Ok("1e-05")),
        ("{:g}", Float(100000.0), Ok("100000")),
        ("{:g}", Float(1000000.0), Ok("1e+06")),
        ("{:.0f}", Float(0.5), Ok("0")),
        ("{:.0f}", Float(1.5), Ok("2")),
        ("{:.1%}", Float(0.25), Ok("25.0%")),
        ("{:^7}", Str("ab"), Ok("  ab   ")),
        ("{:*<5}", Str("ab"), Ok("ab***")),
        ("{:.2}", Str("abcdef"), Ok("ab")),
        ("{}", Float(12.0), Ok("12.0")),
        ("{}", Float(1e+16), Ok("1e+16")),
        ("{:.3}", Float(12.0), Ok("12.0")),
        ("{:.2}", Float(1234.5), Ok("1.2e+03")),
        ("{:10.3f}", Float(-3.14159), Ok("    -3.142")),
        ("{:=+8.2f}", Float(3.14159), Ok("+   3.14")),
        ("{:z.1f}", Float(-0.04), Ok("0.0")),
        ("{}", Str("abc"), Ok("abc")),
        ("{:5}", Str("ab"), Ok("ab   ")),
        ("{:>5}", Str("ab"), Ok("   ab")),
        ("{:05}", Str("ab"), Ok("ab000")),
        ("{:<05}", Str("ab"), Ok("ab000")),
        ("{:x^6}", Str("ab"), Ok("xxabxx")),
        ("{:^6}", Str("abc"), Ok(" abc  ")),
        ("{:.0}", Str("abc"), Ok("")),
        ("{:5.1}", Str("abc"), Ok("a    ")),
        ("{:s}", Str("é€😀"), Ok("é€😀")),
        ("{:>4}", Str("é€"), Ok("  é€")),
        ("{:.2}", Str("é€😀"), Ok("é€")),
        ("{:٣}", Str("ab"), Ok("ab ")),
        ("{:+}", Str("ab"), Err("Sign not allowed in string format specifier")),
        ("{: }", Str("ab"), Err("Space not allowed in string format specifier")),
        ("{:z}", Str("ab"), Err("Negative zero coercion (z) not allowed in string format specifier")),
        ("{:#}", Str("ab"), Err("Alternate form (#) not allowed in string format specifier")),
        ("{:=5}", Str("ab"), Err("'=' alignment not allowed in string format specifier")),
        ("{:,}", Str("ab"), Err("Cannot specify ',' with 's'.")),
        ("{:d}", Str("x"), Err("Unknown format code 'd' for object of type 'str'")),
        ("{:é}", Str("x"), Err("Unknown format code '\\xe9' for object of type 'str'")),
        ("{}", Int(0), Ok("0")),
        ("{}", Int(-42), Ok("-42")),
        ("{}", Int(9223372036854775807), Ok("9223372036854775807")),
        ("{}", Int(i64::MIN), Ok("-9223372036854775808")),
        ("{:d}", Int(7), Ok("7")),
        ("{:5}", Int(42), Ok("   42")),
        ("{:<5}", Int(42), Ok("42   ")),
        ("{:^5}", Int(42), Ok(" 42  ")),
        ("{:=5}", Int(-42), Ok("-  42")),
        ("{:05}", Int(-42), Ok("-0042")),
        ("{:+05}", Int(42), Ok("+0042")),
        ("{: }", Int(42), Ok(" 42")),
        ("{: }", Int(-42), Ok("-42")),
        ("{:-}", Int(42), Ok("42")),
        ("{:x<05}", Int(5), Ok("5xxxx")),
        ("{:<05}", Int(5), Ok("50000")),
        ("{:0^7}", Int(5), Ok("0005000")),
        ("{:b}", Int(10), Ok("1010")),
        ("{:#b}", Int(-10), Ok("-0b1010")),
        ("{:o}", Int(8), Ok("10")),
        ("{:#o}", Int(0), Ok("0o0")),
        ("{:X}", Int(48879), Ok("BEEF")),
        ("{:#X}", Int(48879), Ok("0XBEEF")),
        ("{:#_X}", Int(3735928559), Ok("0XDEAD_BEEF")),
        ("{:_b}", Int(255), Ok("1111_1111")),
        ("{:_o}", Int(12345678), Ok("5706_0516")),
        ("{:_d}", Int(1234567), Ok("1_234_567")),
        ("{:,d}", Int(-1234567), Ok("-1,234,567")),
        ("{:08,}", Int(1234), Ok("0,001,234")),
        ("{:07,}", Int(1234), Ok("001,234")),
        ("{:010,}", Int(-1234), Ok("-0,001,234")),
        ("{:0=12_}", Int(1234567), Ok("0_001_234_567")),
        ("{:#012_x}", Int(255), Ok("0x0_0000_00ff")),
        ("{:n}", Int(1234567), Ok("1234567")),
        ("{:c}", Int(65), Ok("A")),
        ("{:c}", Int(8364), Ok("€")),
        ("{:05c}", Int(65), Ok("0000A")),
        ("{:<3c}", Int(97), Ok("a  ")),
        ("{:c}", Int(-1), Err("%c arg not in range(0x110000)")),
        ("{:c}", Int(1114112), Err("%c arg not in range(0x110000)")),
        ("{:+c}", Int(65), Err("Sign not allowed with integer format specifier 'c'")),
        ("{:#c}", Int(65), Err("Alternate form (#) not allowed with integer format specifier 'c'")),
        ("{:.2d}", Int(5), Err("Precision not allowed in integer format specifier")),
        ("{:.2}", Int(5), Err("Precision not allowed in integer format specifier")),
        ("{:z}", Int(5), Err("Negative zero coercion (z) not allowed in integer format specifier")),
        ("{:s}", Int(5), Err("Unknown format code 's' for object of type 'int'")),
        ("{:q}", Int(5), Err("Unknown format code 'q' for object of type 'int'")),
        ("{:,n}", Int(5), Err("Cannot specify ',' with 'n'.")),
        ("{:,x}", Int(5), Err("Cannot specify ',' with 'x'.")),
        ("{:,_}", Int(5), Err("Cannot specify both ',' and '_'.")),
        ("{:_,}", Int(5), Err("Cannot specify both ',' and '_'.")),
        ("{:.}", Int(5), Err("Format specifier missing precision")),
        ("{:٣}", Int(5), Ok("  5")),
        ("{:e}", Int(5), Ok("5.000000e+00")),
        ("{:.2e}", Int(123456), Ok("1.23e+05")),
        ("{:g}", Int(100000000000000000), Ok("1e+17")),
        ("{:%}", Int(1), Ok("100.000000%")),
        ("{:f}", Int(9007199254740993), Ok("9007199254740992.000000")),
        ("{:,.2f}", Int(1234567), Ok("1,234,567.00")),
        ("{:.3G}", Int(123456), Ok("1.23E+05")),
        ("{}", Float(0.1), Ok("0.1")),
        ("{}", Float(0.30000000000000004), Ok("0.30000000000000004")),
        ("{}", Float(-0.0), Ok("-0.0")),
        ("{}", Float(1e+22), Ok("1e+22")),
        ("{}", Float(1.5e-07), Ok("1.5e-07")),
        ("{}", Float(0.0001), Ok("0.0001")),
        ("{}", Float(1.2345678901234568e+17), Ok("1.2345678901234568e+17")),
        ("{}", Float(1234567890123456.0), Ok("1234567890123456.0")),
        ("{}", Float(f64::INFINITY), Ok("inf")),
        ("{}", Float(f64::NEG_INFINITY), Ok("-inf")),
        ("{}", Float(f64::NAN), Ok("nan")),
        ("{}", Float(5e-324), Ok("5e-324")),
        ("{}", Float(1.7976931348623157e+308), Ok("1.7976931348623157e+308")),
        ("{:f}", Float(1.0), Ok("1.000000")),
        ("{:F}", Float(f64::INFINITY), Ok("INF")),
        ("{:f}", Float(-f64::NAN), Ok("nan")),
        ("{:E}", Float(1234.5), Ok("1.234500E+03")),
        ("{:G}", Float(1e-10), Ok("1E-10")),
        ("{:.0e}", Float(2.5), Ok("2e+00")),
        ("{:.1e}", Float(125.0), Ok("1.2e+02")),
        ("{:.2f}", Float(0.125), Ok("0.12")),
        ("{:.2f}", Float(0.375), Ok("0.38")),
        ("{:.0f}", Float(2.5), Ok("2")),
        ("{:.0f}", Float(-0.4), Ok("-0")),
        ("{:z.0f}", Float(-0.4), Ok("0")),
        ("{:z}", Float(-0.0), Ok("0.0")),
        ("{:z.2e}", Float(-0.0), Ok("0.00e+00")),
        ("{:z.1f}", Float(f64::NEG_INFINITY), Ok("-inf")),
        ("{:g}", Float(0.0), Ok("0")),
        ("{:#g}", Float(0.0), Ok("0.00000")),
        ("{:#g}", Float(123456.0), Ok("123456.")),
        ("{:#.0f}", Float(1.0), Ok("1.")),
        ("{:#.0e}", Float(1.0), Ok("1.e+00")),
        ("{:#}", Float(1e+16), Ok("1.e+16")),
        ("{:#.3}", Float(12.0), Ok("12.0")),
        ("{:.2}", Float(12.0), Ok("1.2e+01")),
        ("{:.0}", Float(12.0), Ok("1e+01")),
        ("{:.16}", Float(0.1), Ok("0.1")),
        ("{:.17}", Float(0.1), Ok("0.10000000000000001")),
        ("{:.3}", Float(1e-05), Ok("1e-05")),
        ("{:g}", Float(0.0001), Ok("0.0001")),
        ("{:g}", Float(123456789.0), Ok("1.23457e+08")),
        ("{:.10g}", Float(123456789.0), Ok("123456789")),
        ("{:n}", Float(1234.5), Ok("1234.5")),
        ("{:.3n}", Float(1234.5), Ok("1.23e+03")),
        ("{:%}", Float(0.5), Ok("50.000000%")),
        ("{:.0%}", Float(0.125), Ok("12%")),
        ("{:,.1%}", Float(12.345), Ok("1,234.5%")),
        ("{:,}", Float(1234567.0), Ok("1,234,567.0")),
        ("{:_}", Float(1234567.891), Ok("1_234_567.891")),
        ("{:,.2f}", Float(-1234567.891), Ok("-1,234,567.89")),
        ("{:015,.1f}", Float(123456789.0), Ok("0,123,456,789.0")),
        ("{:010,.3%}", Float(1.5), Ok("0,150.000%")),
        ("{:010}", Float(f64::INFINITY), Ok("0000000inf")),
        ("{:010,}", Float(f64::NEG_INFINITY), Ok("-000000inf")),
        ("{:+}", Float(f64::NAN), Ok("+nan")),
        ("{:+.2f}", Float(0.0), Ok("+0.00")),
        ("{: .2f}", Float(2.0), Ok(" 2.00")),
        ("{:>+10.2e}", Float(-0.000123), Ok(" -1.23e-04")),
        ("{:^12.3f}", Float(3.14159), Ok("   3.142    ")),
        ("{:*^12.3f}", Float(-3.14159), Ok("***-3.142***")),
        ("{:<10g}", Float(0.5), Ok("0.5       ")),
        ("{:010.2f}", Float(-1.5), Ok("-000001.50")),
        ("{:.1f}", Float(1e+22), Ok("10000000000000000000000.0")),
        ("{:_.0f}", Float(1e+22), Ok("10_000_000_000_000_000_000_000")),
        ("{:e}", Float(1e-300), Ok("1.000000e-300")),
        ("{:e}", Float(1e+100), Ok("1.000000e+100")),
        ("{:d}", Float(1.0), Err("Unknown format code 'd' for object of type 'float'")),
        ("{:s}", Float(1.0), Err("Unknown format code 's' for object of type 'float'")),
        ("{:x}", Float(1.0), Err("Unknown format code 'x' for object of type 'float'")),
        ("{:c}", Float(1.0), Err("Unknown format code 'c' for object of type 'float'")),
        ("{:#x}", Float(1.0), Err("Unknown format code 'x' for object of type 'float'")),
        ("{{}}", Int(1), Ok("{}")),
        ("a{{b}}c", Int(1), Ok("a{b}c")),
        ("x{}y", Int(1), Ok("x1y")),
        ("{0}{0}", Int(1), Ok("11")),
        ("{}{}", Int(1), Err("Replacement index 1 out of range for positional args tuple")),
        ("{1}", Int(1), Err("Replacement index 1 out of range for positional args tuple")),
        ("{0:}", Int(1), Ok("1")),
        ("{:}", Int(1), Ok("1")),
        ("{٠}", Int(1), Ok("1")),
        ("{0!x}", Int(1), Err("Unknown conversion specifier x")),
        ("{0!}", Int(1), Err("unmatched '{' in format spec")),
        ("{0!", Int(1), Err("end of string while looking for conversion specifier")),
        ("{0!rr}", Int(1), Err("expected ':' after conversion specifier")),
        ("{", Int(1), Err("Single '{' encountered in format string")),
        ("}", Int(1), Err("Single '}' encountered in format string")),
        ("a}b", Int(1), Err("Single '}' encountered in format string")),
        ("{0", Int(1), Err("expected '}' before end of string")),
        ("{0:", Int(1), Err("unmatched '{' in format spec")),
        ("{:{", Int(1), Err("unmatched '{' in format spec")),
        ("{:}}", Int(1), Err("Single '}' encountered in format string")),
        ("{a{}", Int(1), Err("unexpected '{' in field name")),
        ("{} {0}", Int(1), Err("cannot switch from automatic field numbering to manual field specification")),
        ("{0} {}", Int(1), Err("cannot switch from manual field specification to automatic field numbering")),
        ("{99999999999999999999}", Int(1), Err("Too many decimal digits in format string")),
        ("{:99999999999999999999}", Int(1), Err("Too many decimal digits in format string")),
    ];

    fn check(template: &str, value: &FormatValue, expected: Result<&str, &str>) {
        let actual = Template::parse(template).and_then(|parsed| parsed.format_one(value));
        match (actual, expected) {
            (Ok(actual), Ok(expected)) => {
                assert_eq!(actual, expected, "{template:?} with {value:?}");
            }
            (Err(actual), Err(expected)) => assert!(
                actual.0 == expected
                    || actual
                        .0
                        .starts_with(&format!("{expected} in format template '")),
                "{template:?} with {value:?}: got {:?}, want {expected:?}",
                actual.0
            ),
            (actual, expected) => {
                panic!("{template:?} with {value:?}: got {actual:?}, want {expected:?}")
            }
        }
    }

    #[test]
    fn matches_python() {
        for (template, value, expected) in PYTHON_CASES {
            check(template, value, *expected);
        }
    }

    /// Python accepts these (or words the error differently); we reject them on purpose.
    #[test]
    fn rejects_unsupported_features() {
        let cases = [
            (
                "{0!r}",
                "unsupported conversion '!r' in format template '{0!r}'",
            ),
            ("{!s}", "unsupported conversion '!s'"),
            (
                "{0.real}",
                "attribute or index access '0.real' is not supported",
            ),
            (
                "{0[1]}",
                "attribute or index access '0[1]' is not supported",
            ),
            (
                "{a[}]}",
                "attribute or index access 'a[}]' is not supported",
            ),
            (
                "{:{}}",
                "nested replacement fields in format spec are not supported",
            ),
            (
                "{:>{width}}",
                "nested replacement fields in format spec are not supported",
            ),
            (
                "{:abc}",
                "Invalid format specifier 'abc' in format template '{:abc}'",
            ),
        ];
        for (template, message) in cases {
            let error = Template::parse(template).expect_err(template);
            assert!(error.0.contains(message), "{template}: {}", error.0);
        }
        let named = Template::parse("{name}").expect("parses");
        let error = named.format_one(&Int(1)).expect_err("named field");
        assert!(error.0.contains("'name'"), "{}", error.0);
        let huge_width = Template::parse("{:2000000}").expect("parses");
        assert!(huge_width.format_one(&Int(1)).is_err());
        let huge_precision = Template::parse("{:.2000000f}").expect("parses");
        assert!(huge_precision.format_one(&Float(1.0)).is_err());
        let surrogate = Template::parse("{:c}").expect("parses");
        assert!(surrogate.format_one(&Int(0xd800)).is_err());
    }

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

    #[test]
    fn segments_and_names() {
        let template = Template::parse("/ec/diss/{destination}").expect("parses");
        assert_eq!(template.names().collect::<Vec<_>>(), ["destination"]);
        assert_eq!(
            template.segments,
            [
                Segment::Literal("/ec/diss/".to_string()),
                Segment::Field {
                    name: FieldName::Name("destination".to_string()),
                    spec: FormatSpec::default(),
                },
            ]
        );
        let mixed = Template::parse("a{{b}}{}{0}").expect_err("mixed numbering");
        assert!(mixed.0.contains("cannot switch"));
        let positional = Template::parse("{{x}}{0:>3}").expect("parses");
        assert_eq!(positional.names().count(), 0);
        assert_eq!(positional.segments.len(), 2);
        assert_eq!(positional.format_one(&Int(7)), Ok("{x}  7".to_string()));
    }

    #[test]
    fn formats_named_fields() {
        let template = Template::parse("/ec/diss/{destination}").expect("parses");
        let lookup = |name: &str| (name == "destination").then_some("FOO");
        assert_eq!(
            template.format_named(lookup),
            Ok("/ec/diss/FOO".to_string())
        );

        let template = Template::parse("{date}/{country:>4}").expect("parses");
        let only_date = |name: &str| (name == "date").then_some("20240101");
        let error = template
            .format_named(only_date)
            .expect_err("missing country");
        assert!(error.0.contains("'country'"), "{}", error.0);
        let both = |name: &str| match name {
            "date" => Some("20240101"),
            "country" => Some("it"),
            _ => None,
        };
        assert_eq!(template.format_named(both), Ok("20240101/  it".to_string()));

        let positional = Template::parse("{}").expect("parses");
        assert!(positional.format_named(|_| Some("x")).is_err());
    }

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
            assert_eq!(python_float_repr(value), expected, "{value:e}");
        }
    }
}
