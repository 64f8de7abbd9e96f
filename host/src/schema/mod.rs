//! The event listener schema: which events exist, how their keys are laid out in the store
//! (`endpoint`: base, stem, admin) and how each request value is validated (`request`).

pub(crate) mod handlers;
mod source;

use std::fmt;

use indexmap::IndexMap;
use serde_json::Value;

pub use handlers::Handler;
use pycompat::str_format::{FieldName, Segment, Template};
pub use source::{DEFAULT_SCHEMA, SCHEMA_FILE_NAME, SchemaLocations};

/// The schema of every event a store carries.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Where it was read from, for messages.
    pub source: String,
    /// Informational `version`.
    pub version: Option<Value>,
    /// The name of the payload field: `payload`, or the schema's rename (ECMWF: `location`).
    pub payload_field: String,
    events: IndexMap<String, EventSchema>,
}

/// One event type.
#[derive(Debug, Clone)]
pub struct EventSchema {
    pub name: String,
    pub endpoints: Vec<Endpoint>,
    /// Request keys in schema order, each with its handlers (the first that accepts wins).
    pub request: IndexMap<String, Vec<Handler>>,
}

/// How an event maps to keys for the engines listed in `engines`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub engines: Vec<String>,
    /// Always ends with `/`.
    pub base: Template,
    /// Never starts with `/`.
    pub stem: Template,
    pub admin: Option<Template>,
    /// Matches a full key and captures each placeholder of base + stem.
    key_pattern: regex::Regex,
    key_fields: Vec<String>,
}

/// A schema that cannot be used, naming the event, key and problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SchemaError {
    /// The file (or other source) the schema was read from.
    pub origin: String,
    pub event: Option<String>,
    pub key: Option<String>,
    pub problem: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Wrong schema structure in {}", self.origin)?;
        if let Some(event) = &self.event {
            write!(f, ", event '{event}'")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key '{key}'")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// A request or notification that the schema refuses. Texts are pyaviso's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("Invalid notification, 'event' could not be located")]
    MissingEvent,
    #[error("Invalid notification, {0} could not be located in the schema")]
    UnknownEvent(String),
    /// `hint` names the close keys the event has, when one is (pyaviso's text otherwise).
    #[error("Key {key} is not allowed{hint}")]
    KeyNotAllowed { key: String, hint: String },
    #[error("{0} is a mandatory key")]
    MandatoryKey(String),
    #[error("Value {value} is not valid for key {key}{}", reasons_suffix(.reasons))]
    InvalidValue {
        key: String,
        value: String,
        reasons: Vec<String>,
    },
    #[error("Wrong parameters: {0} required")]
    MissingParameter(String),
    #[error("Event {event} has no endpoint for the {engine} engine in the schema")]
    NoEndpoint { event: String, engine: String },
}

fn reasons_suffix(reasons: &[String]) -> String {
    if reasons.is_empty() {
        String::new()
    } else {
        format!(" ({})", reasons.join("; "))
    }
}

/// What a set of request values is for: a notification needs every value to build its key and
/// takes defaults for missing keys; a listener's missing key is a wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Notification,
    Listener,
}

impl Schema {
    /// Parses and checks a schema document. `source` names it in messages.
    pub fn from_json(text: &str, source: &str) -> Result<Schema, SchemaError> {
        let error = |problem: String| SchemaError {
            origin: source.to_string(),
            event: None,
            key: None,
            problem,
        };
        let document: Value =
            serde_json::from_str(text).map_err(|e| error(format!("not valid JSON: {e}")))?;
        Schema::from_value(&document, source)
    }

    /// Checks an already parsed schema document (for example one a schema parser produced).
    pub fn from_value(document: &Value, source: &str) -> Result<Schema, SchemaError> {
        let error = |event: Option<&str>, key: Option<&str>, problem: String| SchemaError {
            origin: source.to_string(),
            event: event.map(str::to_string),
            key: key.map(str::to_string),
            problem,
        };
        let Some(top) = document.as_object() else {
            return Err(error(None, None, "the schema must be a JSON object".into()));
        };
        let payload_field = match top.get("payload") {
            None | Some(Value::Null) => "payload".to_string(),
            Some(Value::String(s)) if s.is_empty() => "payload".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(error(
                    None,
                    None,
                    format!("'payload' must be a string, found {other}"),
                ));
            }
        };
        let mut events = IndexMap::new();
        for (name, spec) in top {
            if name == "version" || name == "payload" {
                continue;
            }
            let event = EventSchema::from_value(name, spec)
                .map_err(|(key, problem)| error(Some(name), key.as_deref(), problem))?;
            events.insert(name.clone(), event);
        }
        if events.is_empty() {
            return Err(error(None, None, "the schema defines no event".into()));
        }
        Ok(Schema {
            source: source.to_string(),
            version: top.get("version").cloned(),
            payload_field,
            events,
        })
    }

    /// The built-in `flight` schema of pyaviso.
    pub fn default_schema() -> Schema {
        Schema::from_json(DEFAULT_SCHEMA, "the built-in schema")
            .expect("the built-in schema is valid")
    }

    pub fn event(&self, name: &str) -> Result<&EventSchema, ValidationError> {
        self.events
            .get(name)
            .ok_or_else(|| ValidationError::UnknownEvent(name.to_string()))
    }

    pub fn events(&self) -> impl Iterator<Item = &EventSchema> {
        self.events.values()
    }
}

impl EventSchema {
    /// Errors carry the offending request key, if any, and the problem.
    fn from_value(name: &str, spec: &Value) -> Result<EventSchema, (Option<String>, String)> {
        let plain = |problem: &str| (None, problem.to_string());
        let Some(fields) = spec.as_object() else {
            return Err((
                None,
                format!("an event must be a JSON object, found {spec}"),
            ));
        };
        let request_spec = match fields.get("request") {
            None => return Err(plain("'request' could not be located")),
            Some(Value::Object(r)) => r,
            Some(other) => {
                return Err((None, format!("'request' must be an object, found {other}")));
            }
        };
        let mut request = IndexMap::new();
        for (key, handler_specs) in request_spec {
            let Some(list) = handler_specs.as_array().filter(|l| !l.is_empty()) else {
                return Err((
                    Some(key.clone()),
                    "expected a non-empty list of handlers".to_string(),
                ));
            };
            let handlers = list
                .iter()
                .map(Handler::from_spec)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|problem| (Some(key.clone()), problem))?;
            request.insert(key.clone(), handlers);
        }
        let endpoint_specs = match fields.get("endpoint") {
            None => return Err(plain("'endpoint' could not be located")),
            Some(Value::Array(list)) if !list.is_empty() => list,
            Some(_) => return Err(plain("'endpoint' should be a non empty list")),
        };
        let endpoints = endpoint_specs
            .iter()
            .map(|spec| Endpoint::from_value(spec, &request))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|problem| (None, problem))?;
        Ok(EventSchema {
            name: name.to_string(),
            endpoints,
            request,
        })
    }

    /// The first endpoint serving `engine`, as pyaviso chooses.
    pub fn endpoint(&self, engine: &str) -> Result<&Endpoint, ValidationError> {
        self.endpoints
            .iter()
            .find(|e| e.engines.iter().any(|name| name == engine))
            .ok_or_else(|| ValidationError::NoEndpoint {
                event: self.name.clone(),
                engine: engine.to_string(),
            })
    }

    /// The canonical form of one value: the first handler that accepts it wins.
    pub fn canonicalise(&self, key: &str, value: &str) -> Result<String, ValidationError> {
        let handlers = self.request.get(key).ok_or_else(|| {
            let known: Vec<&str> = self.request.keys().map(String::as_str).collect();
            let close = crate::suggest::close_matches(key, &known);
            ValidationError::KeyNotAllowed {
                key: key.to_string(),
                hint: if close.is_empty() {
                    String::new()
                } else {
                    crate::suggest::hint(key, &known)
                },
            }
        })?;
        let mut reasons = Vec::new();
        for handler in handlers {
            match handler.canonicalise(key, value) {
                Ok(canonical) => return Ok(canonical),
                Err(rejection) => reasons.push(rejection.0),
            }
        }
        Err(ValidationError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            reasons,
        })
    }

    /// Validates request values (several per key for a listener), canonicalises them and checks
    /// required keys; for a notification, a missing key with a `default` takes it.
    pub fn canonical_request<'a, I>(
        &self,
        values: I,
        purpose: Purpose,
    ) -> Result<IndexMap<String, Vec<String>>, ValidationError>
    where
        I: IntoIterator<Item = (&'a str, Vec<&'a str>)>,
    {
        let mut canonical: IndexMap<String, Vec<String>> = IndexMap::new();
        for (key, key_values) in values {
            let converted = key_values
                .into_iter()
                .map(|v| self.canonicalise(key, v))
                .collect::<Result<Vec<_>, _>>()?;
            canonical
                .entry(key.to_string())
                .or_default()
                .extend(converted);
        }
        for (key, handlers) in &self.request {
            if canonical.contains_key(key) {
                continue;
            }
            let default = handlers.iter().find_map(Handler::default_value);
            match default {
                Some(default) if purpose == Purpose::Notification => {
                    canonical.insert(key.clone(), vec![default.to_string()]);
                }
                _ if handlers.iter().any(Handler::required) => {
                    return Err(ValidationError::MandatoryKey(key.clone()));
                }
                _ => {}
            }
        }
        Ok(canonical)
    }
}

impl Endpoint {
    fn from_value(
        spec: &Value,
        request: &IndexMap<String, Vec<Handler>>,
    ) -> Result<Endpoint, String> {
        let Some(fields) = spec.as_object() else {
            return Err(format!("an endpoint must be a JSON object, found {spec}"));
        };
        let engines = match fields.get("engine") {
            None => return Err("'engine' in 'endpoint' could not be located".into()),
            Some(Value::Array(list)) => list
                .iter()
                .map(|e| {
                    e.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("'engine' names must be strings, found {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?,
            // pyaviso tests membership in whatever is given, so "etcd_rest,etcd_grpc" works there.
            Some(Value::String(s)) => s
                .split([',', ' '])
                .filter(|e| !e.is_empty())
                .map(str::to_string)
                .collect(),
            Some(other) => {
                return Err(format!(
                    "'engine' must be a list of engine names, found {other}"
                ));
            }
        };
        let template = |name: &str, mandatory: bool| -> Result<Option<String>, String> {
            match fields.get(name) {
                None | Some(Value::Null) if mandatory => {
                    Err(format!("'{name}' in 'endpoint' could not be located"))
                }
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(format!(
                    "'{name}' in 'endpoint' must be a string, found {other}"
                )),
            }
        };
        let mut base = template("base", true)?.unwrap_or_default();
        if !base.ends_with('/') {
            base.push('/');
        }
        let stem_text = template("stem", true)?.unwrap_or_default();
        let stem = stem_text
            .strip_prefix('/')
            .unwrap_or(&stem_text)
            .to_string();
        let admin = template("admin", false)?;
        let parse = |part: &str, text: &str| -> Result<Template, String> {
            let parsed =
                Template::parse(text).map_err(|e| format!("'{part}' template '{text}': {e}"))?;
            for segment in &parsed.segments {
                if let Segment::Field { name, .. } = segment {
                    match name {
                        FieldName::Name(n) if request.contains_key(n) => {}
                        FieldName::Name(n) => {
                            return Err(format!(
                                "'{part}' template '{text}' uses {{{n}}}, which is not a key of 'request'"
                            ));
                        }
                        _ => {
                            return Err(format!(
                                "'{part}' template '{text}' must name its fields, like {{date}}"
                            ));
                        }
                    }
                }
            }
            // Fail now, not at the first notification, if a field's format cannot take text.
            parsed
                .format_named(|_| Some("x"))
                .map_err(|e| format!("'{part}' template '{text}': {e}"))?;
            Ok(parsed)
        };
        let base = parse("base", &base)?;
        let stem = parse("stem", &stem)?;
        let admin = admin.map(|a| parse("admin", &a)).transpose()?;
        let (key_pattern, key_fields) = key_pattern(&base, &stem)?;
        Ok(Endpoint {
            engines,
            base,
            stem,
            admin,
            key_pattern,
            key_fields,
        })
    }

    /// Reads the request values back out of a full key, as a listener does with what it
    /// receives. Each placeholder takes the shortest text that lets the rest match (the last one
    /// takes the remainder); a placeholder used twice must have the same value both times.
    /// `None` if the key does not have the endpoint's shape.
    pub fn parse_key(&self, key: &str) -> Option<IndexMap<String, String>> {
        let captures = self.key_pattern.captures(key)?;
        let mut fields = IndexMap::new();
        for (name, capture) in self.key_fields.iter().zip(captures.iter().skip(1)) {
            let value = capture?.as_str();
            match fields.get(name) {
                Some(previous) if previous != value => return None,
                Some(_) => {}
                None => {
                    fields.insert(name.clone(), value.to_string());
                }
            }
        }
        Some(fields)
    }
}

/// The pattern that reads a full key: literals as written, `(.+?)` per placeholder, anchored.
fn key_pattern(base: &Template, stem: &Template) -> Result<(regex::Regex, Vec<String>), String> {
    let mut pattern = String::from("^");
    let mut fields = Vec::new();
    for segment in base.segments.iter().chain(&stem.segments) {
        match segment {
            Segment::Literal(text) => pattern.push_str(&regex::escape(text)),
            Segment::Field {
                name: FieldName::Name(name),
                ..
            } => {
                pattern.push_str("(.+?)");
                fields.push(name.clone());
            }
            Segment::Field { .. } => return Err("key templates must name their fields".into()),
        }
    }
    pattern.push('$');
    let regex =
        regex::Regex::new(&pattern).map_err(|e| format!("cannot build a key pattern: {e}"))?;
    Ok((regex, fields))
}

#[cfg(test)]
mod tests;
