//! The validation handlers of the event schema (`StringHandler`, `EnumHandler`, ...): each checks a
//! request value and gives its canonical form, exactly as pyaviso writes it into keys.

use std::fmt;

use regex::Regex;
use serde_json::Value;

use pycompat::float_parse::float as python_float;
use pycompat::float_repr::repr as python_float_repr;
use pycompat::format::FormatValue;
use pycompat::int_parse::int as python_int;
use pycompat::str_format::Template;
use pycompat::strptime::DateFormat;

/// One handler of a request key, built from its schema entry `{"type": "...", ...}`.
#[derive(Debug, Clone)]
pub enum Handler {
    String {
        required: bool,
        case: Option<Case>,
    },
    Enum {
        values: Vec<EnumValue>,
        required: bool,
        default: Option<String>,
    },
    Time {
        values: Vec<EnumValue>,
        canonic: Template,
        required: bool,
    },
    Date {
        canonic: DateFormat,
        required: bool,
    },
    Int {
        canonic: Option<Template>,
        range: Option<(i64, i64)>,
        required: bool,
    },
    Float {
        canonic: Option<Template>,
        required: bool,
    },
    Regex {
        pattern: String,
        regex: Regex,
        required: bool,
    },
}

/// `StringHandler`'s `canonic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Lower,
    Upper,
}

/// An allowed value of an `EnumHandler`/`TimeHandler`, typed as written in the schema.
#[derive(Debug, Clone, PartialEq)]
pub enum EnumValue {
    Str(String),
    Int(i64),
    Float(f64),
}

impl fmt::Display for EnumValue {
    /// Python's `str()` of the value, which is what ends up in a key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnumValue::Str(s) => f.write_str(s),
            EnumValue::Int(i) => write!(f, "{i}"),
            EnumValue::Float(x) => f.write_str(&python_float_repr(*x)),
        }
    }
}

impl EnumValue {
    fn from_json(value: &Value) -> Option<EnumValue> {
        match value {
            Value::String(s) => Some(EnumValue::Str(s.clone())),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Some(EnumValue::Int(i)),
                None => n.as_f64().map(EnumValue::Float),
            },
            _ => None,
        }
    }

    fn as_format_value(&self) -> FormatValue<'_> {
        match self {
            EnumValue::Str(s) => FormatValue::Str(s),
            EnumValue::Int(i) => FormatValue::Int(*i),
            EnumValue::Float(x) => FormatValue::Float(*x),
        }
    }

    /// Python's `==` between this value and the input converted to the same type.
    fn equals(&self, other: &EnumValue) -> bool {
        match (self, other) {
            (EnumValue::Str(a), EnumValue::Str(b)) => a == b,
            (EnumValue::Int(a), EnumValue::Int(b)) => a == b,
            (EnumValue::Float(a), EnumValue::Float(b)) => a == b,
            (EnumValue::Int(a), EnumValue::Float(b)) | (EnumValue::Float(b), EnumValue::Int(a)) => {
                *a as f64 == *b
            }
            _ => false,
        }
    }
}

/// Why one handler refused a value; the key's error message collects them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(pub String);

const HANDLER_TYPES: &[&str] = &[
    "StringHandler",
    "EnumHandler",
    "TimeHandler",
    "DateHandler",
    "IntHandler",
    "FloatHandler",
    "RegexHandler",
];

impl Handler {
    /// Builds a handler from its schema entry; the error says what is wrong with it.
    pub fn from_spec(spec: &Value) -> Result<Handler, String> {
        let Some(fields) = spec.as_object() else {
            return Err(format!(
                "a handler must be an object like {{\"type\": \"StringHandler\"}}, found {spec}"
            ));
        };
        let Some(kind) = fields.get("type") else {
            return Err("'type' could not be located".to_string());
        };
        let Some(kind) = kind.as_str() else {
            return Err(format!("'type' must be a string, found {kind}"));
        };
        let allowed: &[&str] = match kind {
            "StringHandler" => &["required", "canonic"],
            "EnumHandler" => &["values", "required", "default"],
            "TimeHandler" => &["values", "canonic", "required"],
            "DateHandler" => &["canonic", "required"],
            "IntHandler" => &["canonic", "range", "required"],
            "FloatHandler" => &["canonic", "required"],
            "RegexHandler" => &["regex", "required"],
            other => {
                return Err(format!(
                    "unknown handler type '{other}' (known: {})",
                    HANDLER_TYPES.join(", ")
                ));
            }
        };
        if let Some(unknown) = fields
            .keys()
            .find(|k| *k != "type" && !allowed.contains(&k.as_str()))
        {
            return Err(format!(
                "{kind} does not take the property '{unknown}' (it takes: {})",
                allowed.join(", ")
            ));
        }
        let required = match fields.get("required") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(format!("'required' must be true or false, found {other}")),
        };
        let text = |name: &str| -> Result<Option<&str>, String> {
            match fields.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(format!("'{name}' must be a string, found {other}")),
            }
        };
        let mandatory_text = |name: &str| -> Result<&str, String> {
            text(name)?.ok_or_else(|| format!("{kind} needs '{name}'"))
        };
        // A canonic format is tried once on a sample of the type it will format, so that a
        // format Python would refuse at run time is refused when the schema loads.
        let format_template = |canonic: &str, sample: FormatValue| -> Result<Template, String> {
            let template = Template::parse(canonic)
                .map_err(|e| format!("invalid 'canonic' format '{canonic}': {e}"))?;
            if template.names().next().is_some() {
                return Err(format!(
                    "'canonic' format '{canonic}' must use a positional field such as {{0}} or {{}}"
                ));
            }
            template
                .format_one(&sample)
                .map_err(|e| format!("invalid 'canonic' format '{canonic}': {e}"))?;
            Ok(template)
        };
        let values = || -> Result<Vec<EnumValue>, String> {
            let list = match fields.get("values") {
                None | Some(Value::Null) => {
                    return Err(format!("{kind} needs 'values' (a non-empty list)"));
                }
                Some(Value::Array(list)) => list,
                Some(other) => return Err(format!("'values' must be a list, found {other}")),
            };
            if list.is_empty() {
                return Err("'values' must not be empty".to_string());
            }
            list.iter()
                .map(|v| {
                    EnumValue::from_json(v).ok_or_else(|| {
                        format!("'values' may hold strings and numbers only, found {v}")
                    })
                })
                .collect()
        };
        Ok(match kind {
            "StringHandler" => Handler::String {
                required,
                case: match text("canonic")? {
                    None => None,
                    Some("lower") => Some(Case::Lower),
                    Some("upper") => Some(Case::Upper),
                    Some(other) => {
                        return Err(format!("Case {other} not recognised (use lower or upper)"));
                    }
                },
            },
            "EnumHandler" => Handler::Enum {
                values: values()?,
                required,
                default: match fields.get("default") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(
                        EnumValue::from_json(v)
                            .ok_or_else(|| {
                                format!("'default' must be a string or a number, found {v}")
                            })?
                            .to_string(),
                    ),
                },
            },
            "TimeHandler" => {
                let values = values()?;
                let canonic =
                    format_template(mandatory_text("canonic")?, values[0].as_format_value())?;
                Handler::Time {
                    values,
                    canonic,
                    required,
                }
            }
            "DateHandler" => Handler::Date {
                canonic: DateFormat::parse(mandatory_text("canonic")?)
                    .map_err(|e| e.to_string())?,
                required,
            },
            "IntHandler" => Handler::Int {
                canonic: text("canonic")?
                    .map(|c| format_template(c, FormatValue::Int(0)))
                    .transpose()?,
                range: match fields.get("range") {
                    None | Some(Value::Null) => None,
                    Some(Value::Array(bounds)) => match bounds.as_slice() {
                        [lo, hi] => match (lo.as_i64(), hi.as_i64()) {
                            (Some(lo), Some(hi)) if lo <= hi => Some((lo, hi)),
                            _ => {
                                return Err(format!(
                                    "'range' must be [lowest, highest] integers, found {}",
                                    Value::Array(bounds.clone())
                                ));
                            }
                        },
                        _ => {
                            return Err(
                                "'range' must have two items: [lowest, highest]".to_string()
                            );
                        }
                    },
                    Some(other) => {
                        return Err(format!(
                            "'range' must be a list [lowest, highest], found {other}"
                        ));
                    }
                },
                required,
            },
            "FloatHandler" => Handler::Float {
                canonic: text("canonic")?
                    .map(|c| format_template(c, FormatValue::Float(0.0)))
                    .transpose()?,
                required,
            },
            _ => {
                let pattern = mandatory_text("regex")?;
                // Python's re.match anchors at the start only.
                let regex = Regex::new(&format!("^(?:{pattern})")).map_err(|e| {
                    format!("'regex' {pattern:?} is not a supported regular expression: {e}")
                })?;
                Handler::Regex {
                    pattern: pattern.to_string(),
                    regex,
                    required,
                }
            }
        })
    }

    pub fn required(&self) -> bool {
        match self {
            Handler::String { required, .. }
            | Handler::Enum { required, .. }
            | Handler::Time { required, .. }
            | Handler::Date { required, .. }
            | Handler::Int { required, .. }
            | Handler::Float { required, .. }
            | Handler::Regex { required, .. } => *required,
        }
    }

    /// `EnumHandler`'s `default`, as text.
    pub fn default_value(&self) -> Option<&str> {
        match self {
            Handler::Enum { default, .. } => default.as_deref(),
            _ => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Handler::String { .. } => "StringHandler",
            Handler::Enum { .. } => "EnumHandler",
            Handler::Time { .. } => "TimeHandler",
            Handler::Date { .. } => "DateHandler",
            Handler::Int { .. } => "IntHandler",
            Handler::Float { .. } => "FloatHandler",
            Handler::Regex { .. } => "RegexHandler",
        }
    }

    /// The canonical form of `value` for request key `key`, or why this handler refuses it.
    pub fn canonicalise(&self, key: &str, value: &str) -> Result<String, Rejection> {
        match self {
            Handler::String { case, .. } => Ok(match case {
                None => value.to_string(),
                Some(Case::Lower) => value.to_lowercase(),
                Some(Case::Upper) => value.to_uppercase(),
            }),
            Handler::Enum {
                values, default, ..
            } => {
                if value.is_empty() {
                    if let Some(default) = default {
                        return Ok(default.clone());
                    }
                }
                Ok(match_enum(key, values, value)?.to_string())
            }
            Handler::Time {
                values, canonic, ..
            } => {
                let matched = match_enum(key, values, value)?;
                canonic
                    .format_one(&matched.as_format_value())
                    .map_err(|e| Rejection(format!("canonic format failed: {e}")))
            }
            Handler::Date { canonic, .. } => canonic.canonicalise(value).map_err(|_| {
                Rejection(format!(
                    "Date attribute is not complying with the format defined ({})",
                    canonic.as_str()
                ))
            }),
            Handler::Int { canonic, range, .. } => {
                let number = python_int(value)
                    .ok_or_else(|| Rejection(format!("Key {key} has to be an integer")))?;
                if let Some((lo, hi)) = range {
                    if number < *lo || number > *hi {
                        return Err(Rejection(format!(
                            "Value {value} for key {key} is outside the range defined ([{lo}, {hi}])"
                        )));
                    }
                }
                match canonic {
                    None => Ok(number.to_string()),
                    Some(t) => t
                        .format_one(&FormatValue::Int(number))
                        .map_err(|e| Rejection(format!("canonic format failed: {e}"))),
                }
            }
            Handler::Float { canonic, .. } => {
                let number = python_float(value)
                    .ok_or_else(|| Rejection(format!("Key {key} has to be a float")))?;
                match canonic {
                    None => Ok(python_float_repr(number)),
                    Some(t) => t
                        .format_one(&FormatValue::Float(number))
                        .map_err(|e| Rejection(format!("canonic format failed: {e}"))),
                }
            }
            Handler::Regex { pattern, regex, .. } => {
                if regex.is_match(value) {
                    Ok(value.to_string())
                } else {
                    Err(Rejection(format!("does not match the regex {pattern}")))
                }
            }
        }
    }
}

/// `EnumHandler`'s rule: convert the input to the type of the first allowed value, then look it up.
/// The matched schema value is returned, so `06` and `6` both give the schema's `6`.
fn match_enum<'v>(
    key: &str,
    values: &'v [EnumValue],
    value: &str,
) -> Result<&'v EnumValue, Rejection> {
    let converted = match values.first() {
        Some(EnumValue::Int(_)) => python_int(value).map(EnumValue::Int),
        Some(EnumValue::Float(_)) => python_float(value).map(EnumValue::Float),
        _ => Some(EnumValue::Str(value.to_string())),
    }
    .ok_or_else(|| Rejection(format!("Key {key} is not of a valid type")))?;
    values.iter().find(|v| v.equals(&converted)).ok_or_else(|| {
        let allowed: Vec<String> = values.iter().map(ToString::to_string).collect();
        Rejection(format!(
            "Key {key} accepts only the following values: {}",
            allowed.join(",")
        ))
    })
}

#[cfg(test)]
mod tests;
