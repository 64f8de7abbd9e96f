//! Listener definitions (the `listeners:` YAML of the user guide): which event, which request
//! values, which triggers; their watch keys; and matching of received keys against a request.

use std::fmt;
use std::path::Path;

use indexmap::IndexMap;

use crate::notification::{Notification, format_key};
use crate::schema::{Purpose, Schema, ValidationError};
use crate::yaml::{self, YamlValue};

/// The kinds of trigger: the built-in ones, a user's plugin, and a Rust function (the Rust API
/// only; listener files name the others, in any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerKind {
    Echo,
    Log,
    Command,
    Post,
    Plugin,
    Function,
}

impl TriggerKind {
    /// The kind a listener file names (`type:`, any case); `function` is not one of them.
    pub fn from_listener_file(name: &str) -> Option<TriggerKind> {
        Some(match name.to_ascii_lowercase().as_str() {
            "echo" => TriggerKind::Echo,
            "log" => TriggerKind::Log,
            "command" => TriggerKind::Command,
            "post" => TriggerKind::Post,
            "plugin" => TriggerKind::Plugin,
            _ => return None,
        })
    }

    /// The name written in listener files and messages.
    pub fn name(self) -> &'static str {
        match self {
            TriggerKind::Echo => "echo",
            TriggerKind::Log => "log",
            TriggerKind::Command => "command",
            TriggerKind::Post => "post",
            TriggerKind::Plugin => "plugin",
            TriggerKind::Function => "function",
        }
    }
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq<&str> for TriggerKind {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

/// The listeners of one file (or of the configuration's `listeners:` section).
#[derive(Debug, Clone)]
pub struct ListenerSet {
    /// Where they were defined, for messages.
    pub source: String,
    pub listeners: Vec<Listener>,
}

/// One listener: an event, a request, triggers.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    /// `name:`, when given: what the listener's position is kept under, instead of its event
    /// and request (so that changing its request keeps its position).
    pub name: Option<String>,
    pub event: String,
    /// Canonical values per request key; a key that is absent matches anything.
    pub request: IndexMap<String, Vec<String>>,
    pub triggers: Vec<TriggerSpec>,
    /// Base keys to watch: one per combination of the base's listed values.
    pub watch_keys: Vec<String>,
}

/// A trigger as written in the listener file.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerSpec {
    /// The trigger type.
    pub kind: TriggerKind,
    /// All of the trigger's settings (including `type`), typed as YAML types them.
    pub settings: serde_json::Value,
    /// The Rust function of a `function` trigger.
    pub function: Option<FunctionTrigger>,
}

impl TriggerSpec {
    /// A trigger that calls a Rust function with each notification, like pyaviso's
    /// `{"type": "function", "function": callable}`.
    pub fn function(
        f: impl Fn(&Notification) -> Result<(), String> + Send + Sync + 'static,
    ) -> TriggerSpec {
        TriggerSpec {
            kind: TriggerKind::Function,
            settings: serde_json::json!({"type": "function"}),
            function: Some(FunctionTrigger(std::sync::Arc::new(f))),
        }
    }
}

/// The signature of a `function` trigger.
pub type TriggerFunction = dyn Fn(&Notification) -> Result<(), String> + Send + Sync;

/// The function of a `function` trigger.
#[derive(Clone)]
pub struct FunctionTrigger(std::sync::Arc<TriggerFunction>);

impl FunctionTrigger {
    pub fn call(&self, notification: &Notification) -> Result<(), String> {
        (self.0)(notification)
    }
}

impl fmt::Debug for FunctionTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FunctionTrigger")
    }
}

impl PartialEq for FunctionTrigger {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A listener definition that cannot be used. Messages are pyaviso's; the source and the
/// listener's position say where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ListenerError {
    /// The file (or configuration section) the listeners came from.
    pub origin: String,
    /// 1-based position of the listener in its list, when the problem is inside one.
    pub listener: Option<usize>,
    pub message: String,
}

impl fmt::Display for ListenerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Not able to load {}", self.origin)?;
        if let Some(n) = self.listener {
            write!(f, ", listener {n}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Reads a listener file.
pub fn load_listener_file(
    path: &Path,
    schema: &Schema,
    engine: &str,
) -> Result<ListenerSet, ListenerError> {
    let source = format!("listener file {}", path.display());
    let error = |message: String| ListenerError {
        origin: source.clone(),
        listener: None,
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let document = yaml::parse(&text).map_err(|e| error(e.0))?;
    parse_listeners(&document, &source, schema, engine)
}

/// Reads a listener definition document: `{listeners: [...]}`.
pub fn parse_listeners(
    document: &YamlValue,
    source: &str,
    schema: &Schema,
    engine: &str,
) -> Result<ListenerSet, ListenerError> {
    let error = |listener: Option<usize>, message: String| ListenerError {
        origin: source.to_string(),
        listener,
        message,
    };
    if document.is_null() || document.as_map().is_some_and(|m| m.is_empty()) {
        return Err(error(
            None,
            "Event listeners definition cannot be empty".into(),
        ));
    }
    let items = match document.get("listeners") {
        None | Some(YamlValue::Null) => {
            return Err(error(
                None,
                "Event listeners definition must start with the keyword 'listeners'".into(),
            ));
        }
        Some(YamlValue::Seq(items)) => items,
        Some(other) => {
            return Err(error(
                None,
                format!(
                    "Wrong file structure, 'listeners' must be a list, found {}",
                    other.kind()
                ),
            ));
        }
    };
    parse_listener_list(items, source, schema, engine)
}

/// Reads the items of a `listeners:` list (also used for the configuration's section).
pub fn parse_listener_list(
    items: &[YamlValue],
    source: &str,
    schema: &Schema,
    engine: &str,
) -> Result<ListenerSet, ListenerError> {
    if items.is_empty() {
        return Err(ListenerError {
            origin: source.to_string(),
            listener: None,
            message: "Event listeners definition cannot be empty".into(),
        });
    }
    let listeners = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            parse_listener(item, schema, engine).map_err(|message| ListenerError {
                origin: source.to_string(),
                listener: Some(i + 1),
                message,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ListenerSet {
        source: source.to_string(),
        listeners,
    })
}

fn parse_listener(item: &YamlValue, schema: &Schema, engine: &str) -> Result<Listener, String> {
    if item.as_map().is_none() {
        return Err("Wrong file structure".into());
    }
    let event = match item.get("event") {
        None | Some(YamlValue::Null) => {
            return Err("Wrong file structure, 'event' could not be located".into());
        }
        Some(value) => value.as_scalar().ok_or_else(|| {
            format!(
                "Wrong file structure, 'event' must be a name, found {}",
                value.kind()
            )
        })?,
    };
    let name = match item.get("name") {
        None | Some(YamlValue::Null) => None,
        Some(YamlValue::Scalar(s)) if !s.text.trim().is_empty() => Some(s.text.trim().to_string()),
        Some(other) => {
            return Err(format!(
                "'name' must be a text naming the listener, found {}",
                other.kind()
            ));
        }
    };
    let event_schema = schema
        .event(event)
        .map_err(|_| format!("Wrong schema structure, {event} could not be located"))?;
    let request_node = item
        .get("request")
        .ok_or("Wrong file structure, 'request' could not be located")?;
    let raw_request = request_values(request_node)?;
    let request = event_schema
        .canonical_request(
            raw_request
                .iter()
                .map(|(k, vs)| (k.as_str(), vs.iter().map(String::as_str).collect())),
            Purpose::Listener,
        )
        .map_err(|e| e.to_string())?;
    let triggers = parse_triggers(item.get("triggers"))?;
    let endpoint = event_schema.endpoint(engine).map_err(|e| e.to_string())?;
    let watch_keys = expand_combinations(&request, endpoint.base.names())
        .into_iter()
        .map(|values| {
            format_key(&endpoint.base, &values).map_err(|e| match e {
                ValidationError::MissingParameter(name) => {
                    format!("Wrong listener file: {name} required")
                }
                other => other.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut unique_keys = Vec::new();
    for key in watch_keys {
        if !unique_keys.contains(&key) {
            unique_keys.push(key);
        }
    }
    Ok(Listener {
        name,
        event: event.to_string(),
        request,
        triggers,
        watch_keys: unique_keys,
    })
}

/// Request values as text: a scalar, or a list of scalars. A null value means "any".
fn request_values(node: &YamlValue) -> Result<Vec<(String, Vec<String>)>, String> {
    let entries = match node {
        YamlValue::Null => return Ok(Vec::new()),
        YamlValue::Map(entries) => entries,
        other => {
            return Err(format!(
                "Wrong file structure, 'request' must be a mapping, found {}",
                other.kind()
            ));
        }
    };
    let mut values = Vec::new();
    for (key, value) in entries {
        let texts = match value {
            YamlValue::Null => continue,
            YamlValue::Scalar(s) => vec![s.text.clone()],
            YamlValue::Seq(items) if items.is_empty() => {
                return Err(format!("Value [] is not valid for key {key} (an empty list matches nothing)"));
            }
            YamlValue::Seq(items) => items
                .iter()
                .map(|item| match item {
                    YamlValue::Scalar(s) => Ok(s.text.clone()),
                    other => Err(format!("Value {other} is not valid for key {key} (a list may hold plain values only)")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            YamlValue::Map(_) => {
                return Err(format!("Value {value} is not valid for key {key} (expected a value or a list of values)"));
            }
        };
        values.push((key.clone(), texts));
    }
    Ok(values)
}

fn parse_triggers(node: Option<&YamlValue>) -> Result<Vec<TriggerSpec>, String> {
    let items = match node {
        None => return Err("'triggers' is a mandatory field".into()),
        Some(YamlValue::Null) => return Err("At least one trigger must be defined".into()),
        Some(YamlValue::Seq(items)) if items.is_empty() => {
            return Err("At least one trigger must be defined".into());
        }
        Some(YamlValue::Seq(items)) => items,
        Some(other) => return Err(format!("'triggers' must be a list, found {}", other.kind())),
    };
    items
        .iter()
        .map(|trigger| {
            if trigger.as_map().is_none() {
                return Err(format!(
                    "Wrong file structure, a trigger must be a mapping, found {trigger}"
                ));
            }
            let kind = match trigger.get("type") {
                None | Some(YamlValue::Null) => {
                    return Err("'type' is a mandatory field in trigger".into());
                }
                Some(t) => t
                    .as_scalar()
                    .map(str::to_lowercase)
                    .unwrap_or_else(|| t.to_string()),
            };
            if kind == "function" {
                return Err("Trigger type function can only be used from the Rust API".into());
            }
            let Some(kind) = TriggerKind::from_listener_file(&kind) else {
                return Err(format!("Trigger type {kind} not recognised"));
            };
            Ok(TriggerSpec {
                kind,
                settings: trigger.to_json(),
                function: None,
            })
        })
        .collect()
}

/// Every combination of the listed values of `names` (the base's placeholders); names without
/// a value are left out, so formatting reports them.
fn expand_combinations<'a>(
    request: &IndexMap<String, Vec<String>>,
    names: impl Iterator<Item = &'a str>,
) -> Vec<IndexMap<String, String>> {
    let mut combinations = vec![IndexMap::new()];
    let mut seen = Vec::new();
    for name in names {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let Some(values) = request.get(name) else {
            continue;
        };
        combinations = combinations
            .into_iter()
            .flat_map(|combination| {
                values.iter().map(move |value| {
                    let mut next = combination.clone();
                    next.insert(name.to_string(), value.clone());
                    next
                })
            })
            .collect();
    }
    combinations
}

impl Listener {
    /// Whether a notification with these (parsed) request fields is one this listener wants:
    /// every key of the request must have one of its listed values.
    pub fn accepts(&self, fields: &IndexMap<String, String>) -> bool {
        self.request
            .iter()
            .all(|(key, allowed)| fields.get(key).is_some_and(|v| allowed.contains(v)))
    }
}

#[cfg(test)]
mod tests;
