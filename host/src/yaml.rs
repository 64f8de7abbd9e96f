//! A YAML document tree that keeps every scalar as the text that was written, so each reader
//! (configuration, listener requests, trigger settings) decides how to type it.
//!
//! pyaviso reads YAML 1.1 with PyYAML, which silently turns `012` into 10, `12:00` into 720 and
//! `yes` into `True`. Keeping the written text avoids those surprises; see `docs/decisions.md`.

use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A node of a YAML document.
#[derive(Debug, Clone, PartialEq)]
pub enum YamlValue {
    /// `~`, `null`, or nothing at all.
    Null,
    Scalar(Scalar),
    Seq(Vec<YamlValue>),
    /// Entries in file order; a repeated key keeps its last value, as PyYAML does.
    Map(Vec<(String, YamlValue)>),
}

/// A scalar as written, and whether it was quoted (a quoted scalar is always a string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    pub text: String,
    pub quoted: bool,
}

/// A YAML syntax error, with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct YamlError(pub String);

impl YamlValue {
    /// A plain (unquoted) scalar, as environment variables and command-line values are read.
    pub fn plain(text: impl Into<String>) -> YamlValue {
        let text = text.into();
        if is_null_text(&text) {
            YamlValue::Null
        } else {
            YamlValue::Scalar(Scalar {
                text,
                quoted: false,
            })
        }
    }

    /// A string that must stay a string.
    pub fn string(text: impl Into<String>) -> YamlValue {
        YamlValue::Scalar(Scalar {
            text: text.into(),
            quoted: true,
        })
    }

    pub fn is_null(&self) -> bool {
        matches!(self, YamlValue::Null)
    }

    pub fn as_scalar(&self) -> Option<&str> {
        match self {
            YamlValue::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(String, YamlValue)]> {
        match self {
            YamlValue::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value of `key` in a mapping; `None` for a missing key or a non-mapping.
    pub fn get(&self, key: &str) -> Option<&YamlValue> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// A short description of the node's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            YamlValue::Null => "null",
            YamlValue::Scalar(_) => "a scalar",
            YamlValue::Seq(_) => "a list",
            YamlValue::Map(_) => "a mapping",
        }
    }

    /// JSON with YAML typing of plain scalars (PyYAML's booleans, decimal/hex/octal integers,
    /// floats); used where a value is handed on as structured data, such as trigger settings.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            YamlValue::Null => Value::Null,
            YamlValue::Scalar(s) if s.quoted => Value::String(s.text.clone()),
            YamlValue::Scalar(s) => resolve_plain_scalar(&s.text),
            YamlValue::Seq(items) => Value::Array(items.iter().map(YamlValue::to_json).collect()),
            YamlValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

impl fmt::Display for YamlValue {
    /// Flow-style rendering, for messages that quote a piece of a file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            YamlValue::Null => f.write_str("null"),
            YamlValue::Scalar(s) => f.write_str(&s.text),
            YamlValue::Seq(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            YamlValue::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// YAML's spellings of null for a plain scalar.
fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// PyYAML (YAML 1.1) booleans.
pub fn parse_yaml_bool(text: &str) -> Option<bool> {
    match text {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn resolve_plain_scalar(text: &str) -> serde_json::Value {
    use serde_json::Value;
    if let Some(b) = parse_yaml_bool(text) {
        return Value::Bool(b);
    }
    if let Some(i) = parse_yaml_int(text) {
        return Value::from(i);
    }
    if let Some(x) = parse_yaml_float(text) {
        if let Some(n) = serde_json::Number::from_f64(x) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

fn parse_yaml_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if negative { -magnitude } else { magnitude })
}

fn parse_yaml_float(text: &str) -> Option<f64> {
    let unsigned = text.trim_start_matches(['-', '+']);
    let looks_numeric = unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && unsigned.chars().any(|c| c.is_ascii_digit())
        && unsigned
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
    if looks_numeric {
        return text.parse().ok();
    }
    match unsigned {
        ".inf" | ".Inf" | ".INF" if text.starts_with('-') => Some(f64::NEG_INFINITY),
        ".inf" | ".Inf" | ".INF" => Some(f64::INFINITY),
        ".nan" | ".NaN" | ".NAN" => Some(f64::NAN),
        _ => None,
    }
}

/// Parses one YAML document. An empty document is `Null`.
pub fn parse(text: &str) -> Result<YamlValue, YamlError> {
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, true)
        .map_err(|e| YamlError(e.to_string()))?;
    if let Some(error) = builder.error {
        return Err(YamlError(error));
    }
    match builder.documents.len() {
        0 => Ok(YamlValue::Null),
        1 => Ok(builder.documents.remove(0)),
        n => Err(YamlError(format!(
            "expected a single document in the stream but found {n}"
        ))),
    }
}

/// Builds the tree from the parser's event stream.
#[derive(Default)]
struct TreeBuilder {
    documents: Vec<YamlValue>,
    /// Open collections; a mapping holds its pending key.
    stack: Vec<(Open, usize)>,
    anchors: Vec<(usize, YamlValue)>,
    error: Option<String>,
}

enum Open {
    Seq(Vec<YamlValue>),
    Map(Vec<(String, YamlValue)>, Option<String>),
}

impl TreeBuilder {
    fn fail(&mut self, message: String) {
        if self.error.is_none() {
            self.error = Some(message);
        }
    }

    fn push_value(&mut self, value: YamlValue, anchor: usize, mark: Marker) {
        if anchor > 0 {
            self.anchors.push((anchor, value.clone()));
        }
        match self.stack.last_mut() {
            None => self.documents.push(value),
            Some((Open::Seq(items), _)) => items.push(value),
            Some((Open::Map(entries, pending_key), _)) => match pending_key.take() {
                None => match value {
                    YamlValue::Scalar(s) => *pending_key = Some(s.text),
                    YamlValue::Null => *pending_key = Some("null".to_string()),
                    other => {
                        let message = format!(
                            "line {}: a mapping key must be a scalar, found {}",
                            mark.line(),
                            other.kind()
                        );
                        self.fail(message);
                    }
                },
                Some(key) => {
                    entries.retain(|(k, _)| *k != key);
                    entries.push((key, value));
                }
            },
        }
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                // An explicit tag such as `!!str` asks for the text as written.
                let quoted = !matches!(style, TScalarStyle::Plain) || tag.is_some();
                let value = if !quoted && is_null_text(&text) {
                    YamlValue::Null
                } else {
                    YamlValue::Scalar(Scalar { text, quoted })
                };
                self.push_value(value, anchor, mark);
            }
            Event::SequenceStart(anchor, _) => self.stack.push((Open::Seq(Vec::new()), anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack.push((Open::Map(Vec::new(), None), anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((open, anchor)) = self.stack.pop() {
                    let value = match open {
                        Open::Seq(items) => YamlValue::Seq(items),
                        Open::Map(entries, _) => YamlValue::Map(entries),
                    };
                    self.push_value(value, anchor, mark);
                }
            }
            Event::Alias(id) => match self.anchors.iter().rev().find(|(a, _)| *a == id) {
                Some((_, value)) => {
                    let value = value.clone();
                    self.push_value(value, 0, mark);
                }
                None => self.fail(format!("line {}: unknown alias", mark.line())),
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(text: &str) -> YamlValue {
        YamlValue::Scalar(Scalar {
            text: text.into(),
            quoted: false,
        })
    }

    #[test]
    fn scalars_keep_their_written_text() {
        let doc = parse("a: 012\nb: 12:00\nc: yes\nd: 2021-01-01\ne: '7'\nf: 1.50\n").unwrap();
        assert_eq!(doc.get("a"), Some(&scalar("012")));
        assert_eq!(doc.get("b"), Some(&scalar("12:00")));
        assert_eq!(doc.get("c"), Some(&scalar("yes")));
        assert_eq!(doc.get("d"), Some(&scalar("2021-01-01")));
        assert_eq!(doc.get("e"), Some(&YamlValue::string("7")));
        assert_eq!(doc.get("f"), Some(&scalar("1.50")));
    }

    #[test]
    fn nulls_lists_and_nested_maps() {
        let doc = parse("a:\nb: ~\nc: [x, 'y']\nd:\n  e: 1\n").unwrap();
        assert!(doc.get("a").unwrap().is_null());
        assert!(doc.get("b").unwrap().is_null());
        assert_eq!(
            doc.get("c"),
            Some(&YamlValue::Seq(vec![scalar("x"), YamlValue::string("y")]))
        );
        assert_eq!(doc.get("d").unwrap().get("e"), Some(&scalar("1")));
    }

    #[test]
    fn empty_document_is_null_and_syntax_errors_are_reported() {
        assert_eq!(parse("").unwrap(), YamlValue::Null);
        assert_eq!(parse("# only a comment\n").unwrap(), YamlValue::Null);
        let err = parse("a: [1, 2\n").unwrap_err();
        assert!(err.0.contains("line"), "{err}");
    }

    #[test]
    fn aliases_repeat_their_anchor() {
        let doc = parse("a: &t {type: echo}\nb: *t\n").unwrap();
        assert_eq!(doc.get("a"), doc.get("b"));
    }

    #[test]
    fn repeated_keys_keep_the_last_value() {
        let doc = parse("a: 1\na: 2\n").unwrap();
        assert_eq!(doc.as_map().unwrap().len(), 1);
        assert_eq!(doc.get("a"), Some(&scalar("2")));
    }

    #[test]
    fn json_conversion_types_plain_scalars() {
        let doc =
            parse("i: 60\nh: 0x1f\nf: 1.5\nb: no\ns: hello\nq: '60'\nn: ~\nl: [1, a]\n").unwrap();
        assert_eq!(
            doc.to_json(),
            serde_json::json!({"i": 60, "h": 31, "f": 1.5, "b": false, "s": "hello", "q": "60", "n": null, "l": [1, "a"]})
        );
    }
}
