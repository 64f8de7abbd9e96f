//! Python's `json.dumps` and `repr` of a notification, byte for byte: pyaviso's echo, log and
//! command outputs are what users' scripts parse.

use serde_json::Value;

/// `json.dumps(value, indent=indent, sort_keys=sort_keys)` with Python's defaults:
/// `ensure_ascii=True`, separators `", "`/`": "` without indent and `","`/`": "` with it.
pub fn dumps(value: &Value, indent: Option<usize>, sort_keys: bool) -> String {
    let mut out = String::new();
    write_json(&mut out, value, indent, sort_keys, 0);
    out
}

fn write_json(
    out: &mut String,
    value: &Value,
    indent: Option<usize>,
    sort_keys: bool,
    depth: usize,
) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                separator(out, indent, depth + 1, i == 0);
                write_json(out, item, indent, sort_keys, depth + 1);
            }
            close(out, indent, depth, ']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                separator(out, indent, depth + 1, i == 0);
                write_json_string(out, key);
                out.push_str(": ");
                write_json(out, item, indent, sort_keys, depth + 1);
            }
            close(out, indent, depth, '}');
        }
    }
}

fn separator(out: &mut String, indent: Option<usize>, depth: usize, first: bool) {
    match indent {
        None if !first => out.push_str(", "),
        None => {}
        Some(width) => {
            if !first {
                out.push(',');
            }
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', width * depth));
        }
    }
}

fn close(out: &mut String, indent: Option<usize>, depth: usize, bracket: char) {
    if let Some(width) = indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', width * depth));
    }
    out.push(bracket);
}

/// A JSON string with Python's `ensure_ascii` escaping (`\u00e9`, surrogate pairs).
fn write_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Python's `repr()` of a JSON-like value (dicts in insertion order), as pyaviso's log trigger
/// writes a notification: `{'event': 'flight', 'request': {...}, 'payload': 'Landed'}`.
pub fn repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, value);
    out
}

fn write_repr(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_repr_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr_string(out, key);
                out.push_str(": ");
                write_repr(out, item);
            }
            out.push('}');
        }
    }
}

/// Python's `repr(str)`: single quotes unless the text has a `'` and no `"`; non-printable
/// characters escaped as `\xNN`, `\uNNNN` or `\UNNNNNNNN`.
fn write_repr_string(out: &mut String, text: &str) {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_python_printable(c) => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(quote);
}

/// An approximation of Python's `str.isprintable` per character: control and format
/// characters, separators other than the space, and unassigned code points are not printable.
fn is_python_printable(c: char) -> bool {
    let code = c as u32;
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || (0xd800..=0xdfff).contains(&code)
        || matches!(code, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe0001 | 0xe0020..=0xe007f)
        || (0xe000..=0xf8ff).contains(&code)
        || (0xf0000..).contains(&code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn notification() -> Value {
        json!({"event": "flight", "request": {"date": "20210101", "country": "italy", "airport": "FCO", "number": "AZ203"}, "payload": "Landed"})
    }

    #[test]
    fn dumps_like_python() {
        assert_eq!(
            dumps(&notification(), None, false),
            r#"{"event": "flight", "request": {"date": "20210101", "country": "italy", "airport": "FCO", "number": "AZ203"}, "payload": "Landed"}"#
        );
        assert_eq!(
            dumps(
                &json!({"b": "caf\u{e9}", "a": ["\u{1F600}", "\u{1b}[31m"]}),
                Some(4),
                true
            ),
            "{\n    \"a\": [\n        \"\\ud83d\\ude00\",\n        \"\\u001b[31m\"\n    ],\n    \"b\": \"caf\\u00e9\"\n}"
        );
        assert_eq!(
            dumps(&json!({"a": {}, "b": []}), Some(4), false),
            "{\n    \"a\": {},\n    \"b\": []\n}"
        );
    }

    #[test]
    fn repr_like_python() {
        assert_eq!(
            repr(&notification()),
            "{'event': 'flight', 'request': {'date': '20210101', 'country': 'italy', 'airport': 'FCO', 'number': 'AZ203'}, 'payload': 'Landed'}"
        );
        assert_eq!(repr(&json!("it's")), "\"it's\"");
        assert_eq!(repr(&json!("it's \"x\"")), "'it\\'s \"x\"'");
        assert_eq!(repr(&json!("a\nb\u{1b}é")), "'a\\nb\\x1bé'");
    }
}
