//! CloudEvents 1.0 in structured mode, with pyaviso's attributes and serialisation:
//! `{"specversion", "id", "source", "type", "time", "data"}`, Python's JSON separators.

use aviso_sdk::{Config, Error, Notification, clock, pyjson};
use serde_json::{Map, Value};

pub struct Attributes {
    pub kind: String,
    pub source: String,
}

impl Attributes {
    /// `cloudevents.type` (default `aviso`) and `cloudevents.source`
    /// (default `https://aviso.ecmwf.int`) of the protocol block.
    pub fn from_config(protocol: &Config) -> Result<Attributes, Error> {
        let section = protocol.optional_section("cloudevents")?;
        let get = |key: &str, default: &str| -> Result<String, Error> {
            Ok(match &section {
                Some(s) => s.optional_str(key)?.unwrap_or(default).to_string(),
                None => default.to_string(),
            })
        };
        Ok(Attributes {
            kind: get("type", "aviso")?,
            source: get("source", "https://aviso.ecmwf.int")?,
        })
    }
}

/// The event's JSON text, and its id.
pub fn structured(attributes: &Attributes, notification: &Notification) -> (String, String) {
    let now = clock::now(0);
    let id = uuid4();
    let mut event = Map::new();
    event.insert("specversion".into(), Value::String("1.0".into()));
    event.insert("id".into(), Value::String(id.clone()));
    event.insert("source".into(), Value::String(attributes.source.clone()));
    event.insert("type".into(), Value::String(attributes.kind.clone()));
    event.insert(
        "time".into(),
        Value::String(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            now.year, now.month, now.day, now.hour, now.minute, now.second
        )),
    );
    event.insert("data".into(), notification.to_json());
    (pyjson::dumps(&Value::Object(event), None, false), id)
}

/// A random (version 4) UUID from the host's secure random source.
fn uuid4() -> String {
    let mut bytes = wasi::random::random::get_random_bytes(16);
    bytes.resize(16, 0);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
