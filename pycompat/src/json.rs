//! Python's `json.dumps` with its defaults (`Lib/json/encoder.py`): `ensure_ascii=True`,
//! separators `", "` and `": "` without indent and `","` and `": "` with it, floats as
//! `float.__repr__` writes them, and optional `indent` and `sort_keys`.

use serde_json::Value;

use crate::repr::number_repr;

/// `json.dumps(value, indent=indent, sort_keys=sort_keys)`.
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
        // serde_json holds no NaN or infinity, which Python writes as NaN and Infinity.
        Value::Number(n) => out.push_str(&number_repr(n)),
        Value::String(s) => write_basestring_ascii(out, s),
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
                // Byte order of UTF-8 is code point order, as Python sorts `str`.
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                separator(out, indent, depth + 1, i == 0);
                write_basestring_ascii(out, key);
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

/// A JSON string as `ensure_ascii` writes it (`encoder.py_encode_basestring_ascii`): `"`, `\`
/// and `\b \f \n \r \t` by name, every other character outside `' '..='~'` as `\uNNNN`
/// (two, a surrogate pair, above U+FFFF).
pub fn encode_basestring_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    write_basestring_ascii(&mut out, text);
    out
}

fn write_basestring_ascii(out: &mut String, text: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dumps_like_python() {
        let notification = json!({"event": "flight", "request": {"date": "20210101", "country": "italy", "airport": "FCO", "number": "AZ203"}, "payload": "Landed"});
        assert_eq!(
            dumps(&notification, None, false),
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
        // Floats as Python's repr writes them.
        assert_eq!(
            dumps(&json!([1e16, 1.0, 1e-7]), None, false),
            "[1e+16, 1.0, 1e-07]"
        );
    }

    #[test]
    fn service_status_is_printed_as_python_prints_it() {
        let value = json!({"message": "caf\u{e9}", "prev_rev": 3, "etcd_user": null, "version": 2});
        assert_eq!(
            dumps(&value, Some(4), true),
            "{\n    \"etcd_user\": null,\n    \"message\": \"caf\\u00e9\",\n    \"prev_rev\": 3,\n    \"version\": 2\n}"
        );
        assert_eq!(
            encode_basestring_ascii("a\"\\\u{7f}"),
            "\"a\\\"\\\\\\u007f\""
        );
    }
}
