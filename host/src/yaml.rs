//! A YAML document tree that keeps every scalar as the text that was written, so each reader
//! (configuration, listener requests, trigger settings) decides how to type it.
//!
//! pyaviso reads YAML 1.1 with PyYAML, which silently turns `012` into 10, `12:00` into 720 and
//! `yes` into `True`. Keeping the written text avoids those surprises; see `docs/decisions.md`.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, Parser};
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

    /// The tree of a JSON value (for example a Python program's dict): strings stay strings,
    /// numbers and booleans become plain scalars typed as YAML types them.
    pub fn from_json(value: &serde_json::Value) -> YamlValue {
        use serde_json::Value;
        match value {
            Value::Null => YamlValue::Null,
            Value::Bool(b) => YamlValue::plain(b.to_string()),
            Value::Number(n) => YamlValue::plain(n.to_string()),
            Value::String(s) => YamlValue::string(s.clone()),
            Value::Array(items) => YamlValue::Seq(items.iter().map(YamlValue::from_json).collect()),
            Value::Object(entries) => YamlValue::Map(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), YamlValue::from_json(v)))
                    .collect(),
            ),
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

/// The deepest nesting of lists and mappings (block or flow) a document may have, counting the
/// copies that aliases make. Real configuration, listener and logging files use fewer than ten
/// levels; the limit keeps everything that walks a tree recursively (this builder's callers,
/// `Clone`, `Drop`, `Display`, `to_json`, the configuration merge) far from the stack's end.
pub const MAX_NESTING_DEPTH: usize = 64;

/// The most values (scalars, keys, lists, mappings) that aliases may copy into one stream. Each
/// use of an alias copies its anchored tree, so without a budget a few hundred bytes of nested
/// aliases ("billion laughs") expand to gigabytes.
pub const MAX_ALIAS_COPIED_VALUES: usize = 100_000;

/// The most scalar text, in bytes, that aliases may copy into one stream: a few aliases of one
/// large anchored string would otherwise multiply it without adding many values.
pub const MAX_ALIAS_COPIED_TEXT_BYTES: usize = 1 << 20;

/// Parses one YAML document. An empty document is `Null`.
///
/// The events are pulled one at a time from yaml-rust2's parser rather than pushed by
/// `Parser::load`, because `load` is the only recursive part of yaml-rust2 (`load_node` →
/// `load_sequence`/`load_mapping` → `load_node`, one native frame per level, so 20 KB of
/// `- - - …` overflowed the stack and aborted the process before any receiver could object).
/// The scanner and the parser's state machine keep their own stacks on the heap. Pulling events
/// lets the builder refuse the 65th level as soon as it opens, with no pre-scan (which would
/// have to repeat YAML's rules for indentation, flow, quotes and block scalars) and no thread
/// with a large stack.
pub fn parse(text: &str) -> Result<YamlValue, YamlError> {
    parse_with(text, TreeBuilder::default()).map(|(document, _)| document)
}

/// Like [`parse`], and where each node starts: the line of every key and list item, so that a
/// message can point at what a user wrote. A UTF-8 byte order mark (which editors on Windows
/// write) is skipped, as PyYAML does.
pub fn parse_located(text: &str) -> Result<(YamlValue, Lines), YamlError> {
    let builder = TreeBuilder {
        lines: Some(Lines::default()),
        ..TreeBuilder::default()
    };
    parse_with(text, builder).map(|(document, lines)| (document, lines.unwrap_or_default()))
}

/// One step of a path into a document: a mapping's key or a list's position (from 0).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

impl From<&str> for Segment {
    fn from(key: &str) -> Segment {
        Segment::Key(key.to_string())
    }
}

impl From<usize> for Segment {
    fn from(index: usize) -> Segment {
        Segment::Index(index)
    }
}

/// The line (from 1) each node of a document starts on, by its path from the root.
#[derive(Debug, Clone, Default)]
pub struct Lines(HashMap<Vec<Segment>, usize>);

impl Lines {
    /// The line of the node at `path`, when there is one.
    pub fn at(&self, path: &[Segment]) -> Option<usize> {
        self.0.get(path).copied()
    }
}

fn parse_with(
    text: &str,
    mut builder: TreeBuilder,
) -> Result<(YamlValue, Option<Lines>), YamlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, mark) = parser.next_token().map_err(|e| YamlError(e.to_string()))?;
        if event == Event::StreamEnd {
            break;
        }
        builder.on_event(event, mark)?;
    }
    let lines = builder.lines.take();
    match builder.documents.len() {
        0 => Ok((YamlValue::Null, lines)),
        1 => Ok((builder.documents.remove(0), lines)),
        n => Err(YamlError(format!(
            "expected a single document in the stream but found {n}"
        ))),
    }
}

/// What the limits measure of a value: its nesting and what copying it costs.
#[derive(Debug, Clone, Copy, Default)]
struct Extent {
    /// Levels of lists and mappings: 0 for a scalar, 1 for `[x]`.
    height: usize,
    /// Nodes, keys included.
    values: usize,
    /// Bytes of scalar text, keys included.
    text_bytes: usize,
}

impl Extent {
    fn scalar(text: &str) -> Extent {
        Extent {
            height: 0,
            values: 1,
            text_bytes: text.len(),
        }
    }

    /// Adds a child's extent to the running total of an open collection.
    fn add_child(&mut self, child: Extent) {
        self.height = self.height.max(child.height);
        self.values = self.values.saturating_add(child.values);
        self.text_bytes = self.text_bytes.saturating_add(child.text_bytes);
    }

    /// The extent of a collection whose children total `self`.
    fn enclosed(self) -> Extent {
        Extent {
            height: self.height.saturating_add(1),
            values: self.values.saturating_add(1),
            text_bytes: self.text_bytes,
        }
    }
}

/// Builds the tree from the parser's events, within the nesting and alias limits.
#[derive(Default)]
struct TreeBuilder {
    documents: Vec<YamlValue>,
    stack: Vec<OpenCollection>,
    /// By the parser's anchor id, which is unique in the stream (a redefined name gets a new id).
    anchors: HashMap<usize, (YamlValue, Extent)>,
    /// What aliases have copied so far, against the `MAX_ALIAS_COPIED_*` budgets.
    copied_by_aliases: Extent,
    /// Where nodes start, when asked for ([`parse_located`]).
    lines: Option<Lines>,
}

struct OpenCollection {
    content: Open,
    anchor: usize,
    children: Extent,
    /// Its path from the root, when lines are kept.
    path: Vec<Segment>,
}

enum Open {
    Seq(Vec<YamlValue>),
    Map {
        /// A repeated key empties its earlier slot, so the last value stays in the last
        /// position (as PyYAML's dict) without a quadratic search of the entries.
        entries: Vec<Option<(String, YamlValue)>>,
        positions: HashMap<String, usize>,
        pending_key: Option<String>,
    },
}

fn too_deep(mark: Marker) -> YamlError {
    YamlError(format!(
        "line {}: lists and mappings are nested more than {MAX_NESTING_DEPTH} levels deep",
        mark.line()
    ))
}

impl TreeBuilder {
    /// Where the node an event starts goes, when lines are kept: its path, and records its line.
    fn locate(&mut self, event: &Event, mark: Marker) -> Vec<Segment> {
        let Some(lines) = self.lines.as_mut() else {
            return Vec::new();
        };
        let starts_node = matches!(
            event,
            Event::Scalar(..)
                | Event::SequenceStart(..)
                | Event::MappingStart(..)
                | Event::Alias(_)
        );
        if !starts_node {
            return Vec::new();
        }
        let path = match self.stack.last() {
            None => Vec::new(),
            Some(parent) => {
                let mut path = parent.path.clone();
                match &parent.content {
                    Open::Seq(items) => path.push(Segment::Index(items.len())),
                    Open::Map {
                        pending_key: Some(key),
                        ..
                    } => path.push(Segment::Key(key.clone())),
                    // A key: its line is the entry's.
                    Open::Map {
                        pending_key: None, ..
                    } => {
                        if let Event::Scalar(text, ..) = event {
                            path.push(Segment::Key(text.clone()));
                        }
                    }
                }
                path
            }
        };
        lines.0.entry(path.clone()).or_insert(mark.line());
        path
    }

    fn on_event(&mut self, event: Event, mark: Marker) -> Result<(), YamlError> {
        let path = self.locate(&event, mark);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                // An explicit tag such as `!!str` asks for the text as written.
                let quoted = !matches!(style, TScalarStyle::Plain) || tag.is_some();
                let extent = Extent::scalar(&text);
                let value = if !quoted && is_null_text(&text) {
                    YamlValue::Null
                } else {
                    YamlValue::Scalar(Scalar { text, quoted })
                };
                self.push_value(value, extent, anchor, mark)
            }
            Event::SequenceStart(anchor, _) => self.open(Open::Seq(Vec::new()), anchor, mark, path),
            Event::MappingStart(anchor, _) => self.open(
                Open::Map {
                    entries: Vec::new(),
                    positions: HashMap::new(),
                    pending_key: None,
                },
                anchor,
                mark,
                path,
            ),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(open) => {
                    let value = match open.content {
                        Open::Seq(items) => YamlValue::Seq(items),
                        Open::Map { entries, .. } => {
                            YamlValue::Map(entries.into_iter().flatten().collect())
                        }
                    };
                    self.push_value(value, open.children.enclosed(), open.anchor, mark)
                }
                None => Ok(()),
            },
            Event::Alias(id) => {
                let Some((value, extent)) = self.anchors.get(&id) else {
                    return Err(YamlError(format!("line {}: unknown alias", mark.line())));
                };
                let extent = *extent;
                // Checked before copying, so an alias bomb is refused without being built.
                if self.stack.len().saturating_add(extent.height) > MAX_NESTING_DEPTH {
                    return Err(too_deep(mark));
                }
                let mut copied = self.copied_by_aliases;
                copied.add_child(extent);
                if copied.values > MAX_ALIAS_COPIED_VALUES {
                    return Err(YamlError(format!(
                        "line {}: aliases copy more than {MAX_ALIAS_COPIED_VALUES} values into the document",
                        mark.line()
                    )));
                }
                if copied.text_bytes > MAX_ALIAS_COPIED_TEXT_BYTES {
                    return Err(YamlError(format!(
                        "line {}: aliases copy more than {MAX_ALIAS_COPIED_TEXT_BYTES} bytes of text into the document",
                        mark.line()
                    )));
                }
                self.copied_by_aliases = copied;
                let value = value.clone();
                self.push_value(value, extent, 0, mark)
            }
            // Anchors do not reach across documents (a stream of several is refused anyway).
            Event::DocumentStart => {
                self.anchors.clear();
                Ok(())
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => Ok(()),
        }
    }

    fn open(
        &mut self,
        content: Open,
        anchor: usize,
        mark: Marker,
        path: Vec<Segment>,
    ) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_NESTING_DEPTH {
            return Err(too_deep(mark));
        }
        self.stack.push(OpenCollection {
            content,
            anchor,
            children: Extent::default(),
            path,
        });
        Ok(())
    }

    fn push_value(
        &mut self,
        value: YamlValue,
        extent: Extent,
        anchor: usize,
        mark: Marker,
    ) -> Result<(), YamlError> {
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), extent));
        }
        let Some(parent) = self.stack.last_mut() else {
            self.documents.push(value);
            return Ok(());
        };
        parent.children.add_child(extent);
        match &mut parent.content {
            Open::Seq(items) => items.push(value),
            Open::Map {
                entries,
                positions,
                pending_key,
            } => match pending_key.take() {
                None => match value {
                    YamlValue::Scalar(s) => *pending_key = Some(s.text),
                    YamlValue::Null => *pending_key = Some("null".to_string()),
                    other => {
                        return Err(YamlError(format!(
                            "line {}: a mapping key must be a scalar, found {}",
                            mark.line(),
                            other.kind()
                        )));
                    }
                },
                Some(key) => {
                    if let Some(earlier) = positions.insert(key.clone(), entries.len()) {
                        entries[earlier] = None;
                    }
                    entries.push(Some((key, value)));
                }
            },
        }
        Ok(())
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
    fn lines_point_at_keys_and_list_items_and_a_byte_order_mark_is_skipped() {
        let text = "\u{feff}listeners:\n  - event: flight\n    triggers:\n      - type: echo\n\n      - type: log\n        path: x\n";
        let (doc, lines) = parse_located(text).unwrap();
        assert!(doc.get("listeners").is_some());
        let at = |path: &[Segment]| lines.at(path);
        assert_eq!(at(&["listeners".into()]), Some(1));
        assert_eq!(at(&["listeners".into(), 0.into()]), Some(2));
        assert_eq!(
            at(&["listeners".into(), 0.into(), "triggers".into()]),
            Some(3)
        );
        let second = ["listeners".into(), 0.into(), "triggers".into(), 1.into()];
        assert_eq!(at(&second), Some(6));
        let mut path = second.to_vec();
        path.push("path".into());
        assert_eq!(at(&path), Some(7));
        assert_eq!(parse(text).unwrap(), doc);
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
    fn a_repeated_key_moves_to_its_last_position() {
        let doc = parse("a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(
            doc,
            YamlValue::Map(vec![("b".into(), scalar("2")), ("a".into(), scalar("3"))])
        );
    }

    /// 20 KB of nesting in each style, as in the security review (L1).
    fn deeply_nested_documents() -> Vec<(&'static str, String)> {
        vec![
            ("block sequences", "- ".repeat(10_000) + "x"),
            (
                "block mappings with complex keys",
                "? ".repeat(10_000) + "x",
            ),
            (
                "indented block mappings",
                (0..200).map(|i| format!("{}k:\n", " ".repeat(i))).collect(),
            ),
            ("flow sequences", "[".repeat(20_000)),
            ("flow mappings", "{a: ".repeat(5_000)),
            ("flow sequences on separate lines", "[\n".repeat(10_000)),
            (
                "flow inside block",
                "- ".repeat(40) + &"{a: [".repeat(4_000),
            ),
        ]
    }

    #[test]
    fn deep_nesting_is_an_error_naming_the_line_not_a_stack_overflow() {
        for (style, text) in deeply_nested_documents() {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains("line "), "{style}: {err}");
            // yaml-rust2's scanner looks ahead through flow collections for a possible `:`, so
            // deep flow nesting may first meet its own flow limit (255 levels): an error too.
            assert!(
                err.contains("nested more than 64 levels deep")
                    || err.contains("recursion limit exceeded"),
                "{style}: {err}"
            );
        }
        assert_eq!(
            parse(&("- ".repeat(10_000) + "x")).unwrap_err().to_string(),
            "line 1: lists and mappings are nested more than 64 levels deep"
        );
        assert_eq!(
            parse(&"? ".repeat(10_000)).unwrap_err().to_string(),
            "line 1: lists and mappings are nested more than 64 levels deep"
        );
    }

    #[test]
    fn sixty_four_levels_are_allowed_and_sixty_five_are_not() {
        let nested = |levels: usize| "[".repeat(levels) + &"]".repeat(levels);
        assert!(parse(&nested(MAX_NESTING_DEPTH)).is_ok());
        let err = parse(&nested(MAX_NESTING_DEPTH + 1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1: lists and mappings are nested more than 64 levels deep"
        );
    }

    #[test]
    fn an_alias_counts_the_depth_of_what_it_copies() {
        let anchored = "[".repeat(60) + &"]".repeat(60);
        let fits = format!("a: &deep {anchored}\nb: [[*deep]]\n");
        assert!(parse(&fits).is_ok());
        let too_deep = format!("a: &deep {anchored}\nb: [[[[*deep]]]]\n");
        assert_eq!(
            parse(&too_deep).unwrap_err().to_string(),
            "line 2: lists and mappings are nested more than 64 levels deep"
        );
    }

    /// `a0: &a0 [x, …]`, then each `aN` lists ten `*aN-1`: 10^levels values from a few hundred
    /// bytes.
    fn alias_bomb(levels: usize) -> String {
        let mut text = "a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n".to_string();
        for level in 1..=levels {
            let previous = format!("*a{}", level - 1);
            let items = [previous.as_str(); 10].join(",");
            text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        text
    }

    #[test]
    fn an_alias_bomb_is_refused_before_it_is_built() {
        let bomb = alias_bomb(8);
        assert!(bomb.len() < 450, "{}", bomb.len());
        assert_eq!(
            parse(&bomb).unwrap_err().to_string(),
            "line 5: aliases copy more than 100000 values into the document"
        );
        // Modest reuse stays well within the budget.
        assert!(parse(&alias_bomb(3)).is_ok());
    }

    #[test]
    fn aliases_of_a_long_string_are_limited_by_the_text_they_copy() {
        let long = "x".repeat(10_000);
        let uses = vec!["*long"; 200].join(", ");
        let text = format!("a: &long {long}\nb: [{uses}]\n");
        assert_eq!(
            parse(&text).unwrap_err().to_string(),
            "line 2: aliases copy more than 1048576 bytes of text into the document"
        );
    }

    #[test]
    fn anchors_do_not_reach_into_the_next_document_and_several_documents_are_refused() {
        let err = parse("a: &t 1\n---\nb: *t\n").unwrap_err();
        assert_eq!(err.to_string(), "line 3: unknown alias");
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected a single document in the stream but found 2"
        );
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
