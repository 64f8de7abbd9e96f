//! Listener definitions (the `listeners:` YAML of the user guide): which event, which request
//! values, which triggers; their watch keys; and matching of received keys against a request.

use std::fmt;
use std::path::Path;

use indexmap::IndexMap;

use crate::notification::{Notification, format_key};
use crate::schema::{Purpose, Schema, ValidationError};
use crate::suggest;
use crate::yaml::{self, Segment, YamlValue};

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

    /// The settings a trigger of this kind takes besides [`COMMON_TRIGGER_SETTINGS`].
    pub fn own_settings(self) -> &'static [&'static str] {
        match self {
            TriggerKind::Echo => &[],
            TriggerKind::Log => &["path"],
            TriggerKind::Command => &["command", "working_dir", "environment"],
            TriggerKind::Post => &["protocol"],
            TriggerKind::Plugin => &["path", "config", "allow", "limits"],
            TriggerKind::Function => &["function"],
        }
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

/// The settings of a listener.
pub const LISTENER_SETTINGS: [&str; 4] = ["event", "name", "request", "triggers"];

/// The settings every trigger takes.
pub const COMMON_TRIGGER_SETTINGS: [&str; 4] = ["type", "timeout", "retries", "required"];

/// The settings of a post trigger's `protocol`, by its type; and of its `cloudevents`.
const POST_HTTP_SETTINGS: [&str; 6] =
    ["type", "url", "headers", "timeout", "verify", "cloudevents"];
const POST_AWS_SETTINGS: [&str; 12] = [
    "type",
    "arn",
    "region_name",
    "endpoint_url",
    "MessageAttributes",
    "MessageGroupId",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "timeout",
    "verify",
    "cloudevents",
];
const CLOUDEVENTS_SETTINGS: [&str; 2] = ["type", "source"];

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
            function: Some(FunctionTrigger::new(f)),
        }
    }
}

/// The signature of a `function` trigger.
pub type TriggerFunction = dyn Fn(&Notification) -> Result<(), String> + Send + Sync;

/// The function of a `function` trigger.
#[derive(Clone)]
pub struct FunctionTrigger(std::sync::Arc<TriggerFunction>);

impl FunctionTrigger {
    pub fn new(
        f: impl Fn(&Notification) -> Result<(), String> + Send + Sync + 'static,
    ) -> FunctionTrigger {
        FunctionTrigger(std::sync::Arc::new(f))
    }

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
    /// The line (from 1) of what is wrong, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl ListenerError {
    pub(crate) fn new(
        origin: &str,
        listener: Option<usize>,
        message: impl Into<String>,
    ) -> ListenerError {
        ListenerError {
            origin: origin.to_string(),
            listener,
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ListenerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Not able to load {}", self.origin)?;
        if let Some(n) = self.listener {
            write!(f, ", listener {n}")?;
        }
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
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
    let mut checked = check_listener_file(path, schema, engine);
    if !checked.problems.is_empty() {
        return Err(checked.problems.remove(0));
    }
    Ok(ListenerSet {
        source: checked.source,
        listeners: checked.listeners.into_iter().map(|(_, l)| l).collect(),
    })
}

/// A listener file as `aviso listen --check` sees it: the usable listeners with their
/// positions (from 1), and every problem.
#[derive(Debug)]
pub struct CheckedFile {
    pub source: String,
    pub listeners: Vec<(usize, Listener)>,
    pub problems: Vec<ListenerError>,
}

/// Reads a listener file and reports every problem in it. Triggers are not loaded here.
pub fn check_listener_file(path: &Path, schema: &Schema, engine: &str) -> CheckedFile {
    let source = format!("listener file {}", path.display());
    let failed = |message: String| CheckedFile {
        problems: vec![ListenerError::new(&source, None, message)],
        listeners: Vec::new(),
        source: source.clone(),
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => return failed(crate::cause::io_error(&error)),
    };
    let (document, lines) = match yaml::parse_located(&text) {
        Ok(parsed) => parsed,
        Err(error) => return failed(error.0),
    };
    let items = match listener_items(&document, &source) {
        Ok(items) => items,
        Err(error) => return failed(error.message),
    };
    let (listeners, problems) =
        parse_each_listener(items, &source, schema, engine, Some(&lines), &no_functions);
    CheckedFile {
        source,
        listeners,
        problems,
    }
}

/// The `listeners:` list of a listener document.
fn listener_items<'a>(
    document: &'a YamlValue,
    source: &str,
) -> Result<&'a [YamlValue], ListenerError> {
    if document.is_null() || document.as_map().is_some_and(|m| m.is_empty()) {
        return Err(ListenerError::new(
            source,
            None,
            "Event listeners definition cannot be empty",
        ));
    }
    match document.get("listeners") {
        None | Some(YamlValue::Null) => Err(ListenerError::new(
            source,
            None,
            "Event listeners definition must start with the keyword 'listeners'",
        )),
        Some(YamlValue::Seq(items)) => Ok(items),
        Some(other) => Err(ListenerError::new(
            source,
            None,
            format!(
                "Wrong file structure, 'listeners' must be a list, found {}",
                other.kind()
            ),
        )),
    }
}

/// Reads a listener definition document: `{listeners: [...]}`.
pub fn parse_listeners(
    document: &YamlValue,
    source: &str,
    schema: &Schema,
    engine: &str,
) -> Result<ListenerSet, ListenerError> {
    let items = listener_items(document, source)?;
    parse_listener_list(items, source, schema, engine)
}

/// Reads the items of a `listeners:` list (also used for the configuration's section).
pub fn parse_listener_list(
    items: &[YamlValue],
    source: &str,
    schema: &Schema,
    engine: &str,
) -> Result<ListenerSet, ListenerError> {
    parse_listener_list_with_functions(items, source, schema, engine, &no_functions)
}

/// Finds the function of a `function` trigger from its `function:` setting (for example, the
/// Python package names each callable by a number); `Err` says why there is none.
pub type FunctionLookup<'a> = dyn Fn(Option<&YamlValue>) -> Result<FunctionTrigger, String> + 'a;

/// Listener files name no functions: only programs can.
fn no_functions(_: Option<&YamlValue>) -> Result<FunctionTrigger, String> {
    Err("Trigger type function can only be used from the Rust or Python API".into())
}

/// Like [`parse_listener_list`], for listeners built by a program: `function` triggers are
/// allowed, their functions found by `functions`.
pub fn parse_listener_list_with_functions(
    items: &[YamlValue],
    source: &str,
    schema: &Schema,
    engine: &str,
    functions: &FunctionLookup<'_>,
) -> Result<ListenerSet, ListenerError> {
    let (listeners, mut problems) =
        parse_each_listener(items, source, schema, engine, None, functions);
    if !problems.is_empty() {
        return Err(problems.remove(0));
    }
    Ok(ListenerSet {
        source: source.to_string(),
        listeners: listeners.into_iter().map(|(_, l)| l).collect(),
    })
}

/// Parses every listener of a list (the usable ones with their positions) and gathers every
/// problem: unknown settings (with their
/// lines, when `lines` of a file are given) and what makes a listener unusable.
fn parse_each_listener(
    items: &[YamlValue],
    source: &str,
    schema: &Schema,
    engine: &str,
    lines: Option<&yaml::Lines>,
    functions: &FunctionLookup<'_>,
) -> (Vec<(usize, Listener)>, Vec<ListenerError>) {
    if items.is_empty() {
        let empty = ListenerError::new(source, None, "Event listeners definition cannot be empty");
        return (Vec::new(), vec![empty]);
    }
    let line_of = |path: &[Segment]| {
        let mut full = vec![Segment::from("listeners")];
        full.extend_from_slice(path);
        lines.and_then(|lines| lines.at(&full))
    };
    let mut problems = Vec::new();
    let mut listeners = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let unknown = unknown_settings(item);
        let parsed = parse_listener(item, schema, engine, functions);
        for (path, message) in unknown {
            let mut at = vec![Segment::Index(i)];
            at.extend(path);
            problems.push(ListenerError {
                line: line_of(&at),
                ..ListenerError::new(source, Some(i + 1), message)
            });
        }
        match parsed {
            Ok(listener) => listeners.push((i + 1, listener)),
            Err(Problems(found)) => {
                for problem in found {
                    let mut at = vec![Segment::Index(i)];
                    at.extend(problem.at);
                    let line = line_of(&at).or_else(|| line_of(&[Segment::Index(i)]));
                    problems.push(ListenerError {
                        line,
                        ..ListenerError::new(source, Some(i + 1), problem.message)
                    });
                }
            }
        }
    }
    (listeners, problems)
}

/// Settings a listener or its built-in triggers do not have (misspelt ones would otherwise be
/// ignored: a command run in the wrong directory, a header never sent), each with its path
/// inside the listener and a message suggesting what was meant. pyaviso ignored them
/// (docs/decisions.md).
fn unknown_settings(item: &YamlValue) -> Vec<(Vec<Segment>, String)> {
    let mut unknown = Vec::new();
    let Some(entries) = item.as_map() else {
        return unknown;
    };
    for (key, _) in entries {
        if !LISTENER_SETTINGS.contains(&key.as_str()) {
            unknown.push((
                vec![Segment::from(key.as_str())],
                format!(
                    "'{key}' is not a listener setting{}",
                    suggest::hint(key, &LISTENER_SETTINGS)
                ),
            ));
        }
    }
    let Some(YamlValue::Seq(triggers)) = item.get("triggers") else {
        return unknown;
    };
    for (j, trigger) in triggers.iter().enumerate() {
        let Some(kind) = trigger
            .get("type")
            .and_then(YamlValue::as_scalar)
            .and_then(TriggerKind::from_listener_file)
        else {
            continue;
        };
        let mut known: Vec<&str> = COMMON_TRIGGER_SETTINGS.to_vec();
        known.extend_from_slice(kind.own_settings());
        let at = |keys: &[&str]| {
            let mut path = vec![Segment::from("triggers"), Segment::Index(j)];
            path.extend(keys.iter().map(|k| Segment::from(*k)));
            path
        };
        let mut check = |map: &YamlValue, known: &[&str], within: &[&str], what: &str| {
            for (key, _) in map.as_map().unwrap_or_default() {
                if !known.contains(&key.as_str()) {
                    let mut path = within.to_vec();
                    path.push(key);
                    unknown.push((
                        at(&path),
                        format!(
                            "trigger {}: '{key}' is not a setting of {what}{}",
                            j + 1,
                            suggest::hint(key, known)
                        ),
                    ));
                }
            }
        };
        let what = format!("{kind} triggers");
        check(trigger, &known, &[], &what);
        if kind == TriggerKind::Post
            && let Some(protocol) = trigger.get("protocol")
        {
            let aws = protocol
                .get("type")
                .and_then(YamlValue::as_scalar)
                .is_some_and(|t| t.eq_ignore_ascii_case("cloudevents_aws"));
            let (settings, what): (&[&str], _) = if aws {
                (&POST_AWS_SETTINGS, "a cloudevents_aws protocol")
            } else {
                (&POST_HTTP_SETTINGS, "a cloudevents_http protocol")
            };
            check(protocol, settings, &["protocol"], what);
            if let Some(cloudevents) = protocol.get("cloudevents") {
                check(
                    cloudevents,
                    &CLOUDEVENTS_SETTINGS,
                    &["protocol", "cloudevents"],
                    "protocol.cloudevents",
                );
            }
        }
    }
    unknown
}

fn parse_listener(
    item: &YamlValue,
    schema: &Schema,
    engine: &str,
    functions: &FunctionLookup<'_>,
) -> Result<Listener, Problems> {
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
            return Err(Problems::from(format!(
                "'name' must be a text naming the listener, found {}",
                other.kind()
            )));
        }
    };
    let event_schema = schema
        .event(event)
        .map_err(|_| format!("Wrong schema structure, {event} could not be located"))?;
    let request_node = item
        .get("request")
        .ok_or_else(|| Problem::from("Wrong file structure, 'request' could not be located"))?;
    let raw_request = request_values(request_node)?;
    let request = event_schema
        .canonical_request(
            raw_request
                .iter()
                .map(|(k, vs)| (k.as_str(), vs.iter().map(String::as_str).collect())),
            Purpose::Listener,
        )
        .map_err(|e| match e {
            ValidationError::KeyNotAllowed { key, .. } => {
                let keys: Vec<&str> = event_schema.request.keys().map(String::as_str).collect();
                Problem {
                    message: format!("Key {key} is not allowed{}", suggest::hint(&key, &keys)),
                    at: vec![Segment::from("request"), Segment::from(key.as_str())],
                }
            }
            other => Problem::from(other.to_string()),
        })?;
    let triggers = parse_triggers(item.get("triggers"), functions)?;
    let mut unknown_placeholders = Vec::new();
    for (index, trigger) in triggers.iter().enumerate() {
        if let Some(name) = unknown_request_placeholder(trigger, event_schema) {
            let keys: Vec<&str> = event_schema.request.keys().map(String::as_str).collect();
            unknown_placeholders.push(Problem::from(format!(
                "trigger {}: ${{request.{name}}} cannot be substituted: {event} notifications have no '{name}'{}",
                index + 1,
                suggest::hint(&name, &keys)
            )));
        }
    }
    if !unknown_placeholders.is_empty() {
        return Err(Problems(unknown_placeholders));
    }
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

/// The first `${request.NAME}` of a command trigger (in `command` or an `environment` value)
/// whose NAME the event does not have: caught when the listener loads, not at every
/// notification.
fn unknown_request_placeholder(
    trigger: &TriggerSpec,
    event: &crate::schema::EventSchema,
) -> Option<String> {
    if trigger.kind != TriggerKind::Command {
        return None;
    }
    let settings = &trigger.settings;
    let environment = settings
        .get("environment")
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flat_map(|variables| variables.values());
    let texts = settings
        .get("command")
        .into_iter()
        .chain(environment)
        .filter_map(serde_json::Value::as_str);
    for text in texts {
        let mut rest = text;
        while let Some(start) = rest.find("${request.") {
            rest = &rest[start + "${request.".len()..];
            let Some(end) = rest.find('}') else { break };
            let name = &rest[..end];
            // `${request.a.b}` or other forms the command trigger refuses by itself.
            let simple = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            if simple && !event.request.contains_key(name) {
                return Some(name.to_string());
            }
            rest = &rest[end..];
        }
    }
    None
}

/// What makes a listener unusable, and where in it (empty: the listener as a whole).
struct Problem {
    at: Vec<Segment>,
    message: String,
}

impl From<String> for Problem {
    fn from(message: String) -> Problem {
        Problem {
            at: Vec::new(),
            message,
        }
    }
}

impl From<&str> for Problem {
    fn from(message: &str) -> Problem {
        Problem::from(message.to_string())
    }
}

/// Everything that makes a listener unusable: its triggers are checked each on its own, so that
/// `listen --check` shows every problem at once.
struct Problems(Vec<Problem>);

impl From<Problem> for Problems {
    fn from(problem: Problem) -> Problems {
        Problems(vec![problem])
    }
}

impl From<String> for Problems {
    fn from(message: String) -> Problems {
        Problems::from(Problem::from(message))
    }
}

impl From<&str> for Problems {
    fn from(message: &str) -> Problems {
        Problems::from(Problem::from(message))
    }
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

fn parse_triggers(
    node: Option<&YamlValue>,
    functions: &FunctionLookup<'_>,
) -> Result<Vec<TriggerSpec>, Problems> {
    let items = match node {
        None => return Err("'triggers' is a mandatory field".into()),
        Some(YamlValue::Null) => return Err("At least one trigger must be defined".into()),
        Some(YamlValue::Seq(items)) if items.is_empty() => {
            return Err("At least one trigger must be defined".into());
        }
        Some(YamlValue::Seq(items)) => items,
        Some(other) => {
            return Err(format!("'triggers' must be a list, found {}", other.kind()).into());
        }
    };
    let (specs, failed) = items
        .iter()
        .enumerate()
        .map(|(index, trigger)| {
            let at = |message: String| Problem {
                at: vec![Segment::from("triggers"), Segment::Index(index)],
                message,
            };
            if trigger.as_map().is_none() {
                return Err(at(format!(
                    "Wrong file structure, a trigger must be a mapping, found {trigger}"
                )));
            }
            let kind = match trigger.get("type") {
                None | Some(YamlValue::Null) => {
                    return Err(at("'type' is a mandatory field in trigger".into()));
                }
                Some(t) => t
                    .as_scalar()
                    .map(str::to_lowercase)
                    .unwrap_or_else(|| t.to_string()),
            };
            if kind == "function" {
                let function = functions(trigger.get("function")).map_err(at)?;
                let mut settings = trigger.to_json();
                if let Some(map) = settings.as_object_mut() {
                    map.remove("function");
                }
                return Ok(TriggerSpec {
                    kind: TriggerKind::Function,
                    settings,
                    function: Some(function),
                });
            }
            let Some(kind) = TriggerKind::from_listener_file(&kind) else {
                let types = ["echo", "log", "command", "post", "plugin"];
                return Err(at(format!(
                    "Trigger type {kind} not recognised{}",
                    suggest::hint(&kind, &types)
                )));
            };
            Ok(TriggerSpec {
                kind,
                settings: trigger.to_json(),
                function: None,
            })
        })
        .partition::<Vec<_>, _>(Result::is_ok);
    if failed.is_empty() {
        Ok(specs.into_iter().flatten().collect())
    } else {
        Err(Problems(
            failed.into_iter().filter_map(Result::err).collect(),
        ))
    }
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
    /// How messages name it: its `name:`, else its event and request
    /// (`flight country=italy,airport=FCO|MXP`).
    pub fn label(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let request: Vec<String> = self
            .request
            .iter()
            .map(|(key, values)| format!("{key}={}", values.join("|")))
            .collect();
        format!("{} {}", self.event, request.join(","))
    }

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
