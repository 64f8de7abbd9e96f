//! Python's `repr()`: of a `str` as `Objects/unicodeobject.c` (`unicode_repr`) writes it, and of
//! a JSON-like value as a Python dict, list, str, int, float, bool or `None` (`dictobject.c`,
//! `listobject.c`, `longobject.c`, [`crate::float_repr`]).

use serde_json::Value;

use crate::float_repr;
use crate::unicodectype;

/// Python's `repr(text)`: single quotes unless the text holds a `'` and no `"`; the quote in use
/// and backslashes escaped; `\t`, `\n`, `\r` by name; other ASCII controls and DEL as `\xNN`;
/// non-ASCII characters that are not printable (`str.isprintable`, Unicode 14.0.0: controls,
/// format characters, separators, private use, unassigned) as `\xNN`, `\uNNNN` or `\UNNNNNNNN`.
pub fn str_repr(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    write_str_repr(&mut out, text);
    out
}

/// [`str_repr`], appended to `out`.
pub fn write_str_repr(out: &mut String, text: &str) {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            _ if c == quote => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0'..='\u{1F}' | '\u{7F}' => push_hex(out, 'x', 2, c),
            _ if c.is_ascii() || unicodectype::is_printable(c) => out.push(c),
            '\u{80}'..='\u{FF}' => push_hex(out, 'x', 2, c),
            '\u{100}'..='\u{FFFF}' => push_hex(out, 'u', 4, c),
            _ => push_hex(out, 'U', 8, c),
        }
    }
    out.push(quote);
}

/// `\x`, `\u` or `\U` and the code point in `width` lower-case hexadecimal digits.
fn push_hex(out: &mut String, letter: char, width: usize, c: char) {
    out.push('\\');
    out.push(letter);
    out.push_str(&format!("{:0width$x}", u32::from(c)));
}

/// Python's `repr()` of a JSON-like value (objects as dicts in insertion order), as pyaviso's
/// log trigger writes a notification:
/// `{'event': 'flight', 'request': {...}, 'payload': 'Landed'}`.
pub fn repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, value);
    out
}

/// [`repr`], appended to `out`.
pub fn write_repr(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::Number(n) => out.push_str(&number_repr(n)),
        Value::String(s) => write_str_repr(out, s),
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
                write_str_repr(out, key);
                out.push_str(": ");
                write_repr(out, item);
            }
            out.push('}');
        }
    }
}

/// `repr()` of a JSON number as Python reads it (`json.loads`): an int, or a float.
pub(crate) fn number_repr(number: &serde_json::Number) -> String {
    match number.as_f64() {
        Some(float) if number.is_f64() => float_repr::repr(float),
        _ => number.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repr_like_python() {
        let notification = json!({"event": "flight", "request": {"date": "20210101", "country": "italy", "airport": "FCO", "number": "AZ203"}, "payload": "Landed"});
        assert_eq!(
            repr(&notification),
            "{'event': 'flight', 'request': {'date': '20210101', 'country': 'italy', 'airport': 'FCO', 'number': 'AZ203'}, 'payload': 'Landed'}"
        );
        assert_eq!(repr(&json!("it's")), "\"it's\"");
        assert_eq!(repr(&json!("it's \"x\"")), "'it\\'s \"x\"'");
        assert_eq!(repr(&json!("a\nb\u{1b}é")), "'a\\nb\\x1bé'");
        assert_eq!(
            repr(&json!([null, true, false, 1, -2, 1.5, 1e16, 0.0001])),
            "[None, True, False, 1, -2, 1.5, 1e+16, 0.0001]"
        );
    }

    #[test]
    fn str_repr_escapes_what_python_escapes() {
        // Checked against Python 3.11: repr(s).
        assert_eq!(
            str_repr("\u{1F600}\u{10FFFF}\u{FFFFD}"),
            "'\u{1F600}\\U0010ffff\\U000ffffd'"
        );
        // Unassigned in Unicode 14.0.0, and a format character.
        assert_eq!(str_repr("\u{378}\u{AD}\u{2028}"), "'\\u0378\\xad\\u2028'");
    }
}
