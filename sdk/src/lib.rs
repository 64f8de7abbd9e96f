//! Write Aviso trigger plugins in Rust: implement [`Trigger`], call [`export_trigger!`], build
//! with `cargo build --release --target wasm32-wasip2`.
//!
//! ```ignore
//! use aviso_sdk::{Config, Error, Notification, Trigger};
//!
//! struct Shout;
//!
//! impl Trigger for Shout {
//!     fn validate(config: &Config) -> Result<(), Error> {
//!         config.require_str("greeting").map(|_| ())
//!     }
//!     fn run(config: &Config, notification: &Notification) -> Result<(), Error> {
//!         let greeting = config.require_str("greeting")?;
//!         println!("{greeting}: {}", notification.event);
//!         Ok(())
//!     }
//! }
//!
//! aviso_sdk::export_trigger!(Shout);
//! ```

// The generated bindings name this crate by its public name, also from inside it.
extern crate self as aviso_sdk;

pub mod pyjson;

use serde_json::{Map, Value};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "command-trigger-plugin",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_trigger_world",
        default_bindings_module: "aviso_sdk::bindings",
        runtime_path: "aviso_sdk::__wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub mod parser_bindings {
    wit_bindgen::generate!({
        world: "schema-parser-plugin",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_schema_parser_world",
        default_bindings_module: "aviso_sdk::parser_bindings",
        runtime_path: "aviso_sdk::__wit_bindgen::rt",
        with: {
            "aviso:plugin/types@0.1.0": crate::bindings::aviso::plugin::types,
            "aviso:plugin/log@0.1.0": crate::bindings::aviso::plugin::log,
        },
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

use bindings::aviso::plugin::types as wit;

/// A notification, as pyaviso hands it to triggers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub event: String,
    /// Canonical request values, in the schema's key-template order.
    pub request: Vec<(String, String)>,
    /// `payload`, or the schema's rename of it (e.g. `location`).
    pub payload_field: String,
    pub payload: Option<String>,
    pub key: String,
    pub revision: u64,
}

impl Notification {
    /// pyaviso's notification dict: `{"event", "request", <payload field>}`, the payload only
    /// when there is one.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("event".into(), Value::String(self.event.clone()));
        let request = self
            .request
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        object.insert("request".into(), Value::Object(request));
        if let Some(payload) = &self.payload {
            object.insert(self.payload_field.clone(), Value::String(payload.clone()));
        }
        Value::Object(object)
    }

    /// The value of one request key.
    pub fn request_value(&self, key: &str) -> Option<&str> {
        self.request
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[doc(hidden)]
impl From<wit::Notification> for Notification {
    fn from(n: wit::Notification) -> Self {
        Notification {
            event: n.event,
            request: n.request,
            payload_field: n.payload_field,
            payload: n.payload,
            key: n.key,
            revision: n.revision,
        }
    }
}

/// Why a trigger failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The configuration cannot be used.
    InvalidConfig(String),
    /// A capability was not granted.
    Denied(String),
    /// The trigger failed; trying again will not help.
    Failed(String),
    /// A temporary failure; the host may try again.
    Transient(String),
}

#[doc(hidden)]
impl From<Error> for wit::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidConfig(m) => wit::Error::InvalidConfig(m),
            Error::Denied(m) => wit::Error::Denied(m),
            Error::Failed(m) => wit::Error::Failed(m),
            Error::Transient(m) => wit::Error::Transient(m),
        }
    }
}

/// A trigger's configuration: the JSON object of its listener entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Config(pub Map<String, Value>);

impl Config {
    /// Parses the configuration text the host passes.
    pub fn parse(text: &str) -> Result<Config, Error> {
        match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(Config(map)),
            Ok(other) => Err(Error::InvalidConfig(format!(
                "configuration must be an object, found {other}"
            ))),
            Err(e) => Err(Error::InvalidConfig(format!(
                "configuration is not valid JSON: {e}"
            ))),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// A string setting that must be present: pyaviso's `<key> is a mandatory field`.
    pub fn require_str(&self, key: &str) -> Result<&str, Error> {
        match self.get(key) {
            None => Err(Error::InvalidConfig(format!("{key} is a mandatory field"))),
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(Error::InvalidConfig(format!(
                "{key} must be a string, found {other}"
            ))),
        }
    }

    /// An optional string setting.
    pub fn optional_str(&self, key: &str) -> Result<Option<&str>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(Error::InvalidConfig(format!(
                "{key} must be a string, found {other}"
            ))),
        }
    }

    /// A nested object setting (e.g. `protocol`), itself a `Config`.
    pub fn optional_section(&self, key: &str) -> Result<Option<Config>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Config(map.clone()))),
            Some(other) => Err(Error::InvalidConfig(format!(
                "{key} must be a mapping, found {other}"
            ))),
        }
    }

    /// A mapping of strings (e.g. `environment`, `headers`); numbers and booleans are taken as
    /// their text, as a YAML author expects.
    pub fn string_map(&self, key: &str) -> Result<Vec<(String, String)>, Error> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    Value::Number(n) => Ok((k.clone(), n.to_string())),
                    Value::Bool(b) => Ok((k.clone(), b.to_string())),
                    other => Err(Error::InvalidConfig(format!(
                        "{key}.{k} must be a string, found {other}"
                    ))),
                })
                .collect(),
            Some(other) => Err(Error::InvalidConfig(format!(
                "{key} must be a mapping, found {other}"
            ))),
        }
    }

    /// An optional number of seconds.
    pub fn optional_seconds(&self, key: &str) -> Result<Option<f64>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_f64().filter(|s| *s >= 0.0).map(Some).ok_or_else(|| {
                Error::InvalidConfig(format!("{key} must be a number of seconds, found {n}"))
            }),
            Some(other) => Err(Error::InvalidConfig(format!(
                "{key} must be a number of seconds, found {other}"
            ))),
        }
    }

    /// An optional boolean setting.
    pub fn optional_bool(&self, key: &str) -> Result<Option<bool>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(Error::InvalidConfig(format!(
                "{key} must be true or false, found {other}"
            ))),
        }
    }
}

/// What a trigger plugin implements.
pub trait Trigger {
    /// Checks the configuration once, when the listener loads. The default accepts anything.
    fn validate(config: &Config) -> Result<(), Error> {
        let _ = config;
        Ok(())
    }

    /// Runs the trigger for one notification.
    fn run(config: &Config, notification: &Notification) -> Result<(), Error>;
}

/// Messages to the host's log, attributed to the plugin.
pub mod log {
    use crate::bindings::aviso::plugin::log::{Level, emit};

    pub fn debug(message: &str) {
        emit(Level::Debug, message);
    }
    pub fn info(message: &str) {
        emit(Level::Info, message);
    }
    pub fn warn(message: &str) {
        emit(Level::Warn, message);
    }
    pub fn error(message: &str) {
        emit(Level::Error, message);
    }
}

/// The host's command capability (granted to the built-in command trigger, and to user plugins
/// only when site policy allows it).
pub mod command {
    pub use crate::bindings::aviso::plugin::command::{CommandOutput, CommandRequest};

    /// Runs a command through the host; `Err` when the capability is denied or the command
    /// could not be started.
    pub fn run(request: &CommandRequest) -> Result<CommandOutput, crate::Error> {
        crate::bindings::aviso::plugin::command::run(request).map_err(crate::Error::from_wit)
    }
}

impl Error {
    #[doc(hidden)]
    pub fn from_wit(e: wit::Error) -> Error {
        match e {
            wit::Error::InvalidConfig(m) => Error::InvalidConfig(m),
            wit::Error::Denied(m) => Error::Denied(m),
            wit::Error::Failed(m) => Error::Failed(m),
            wit::Error::Transient(m) => Error::Transient(m),
        }
    }
}

#[doc(hidden)]
pub fn __validate<T: Trigger>(config: String) -> Result<(), wit::Error> {
    let config = Config::parse(&config)?;
    T::validate(&config).map_err(Into::into)
}

#[doc(hidden)]
pub fn __run<T: Trigger>(
    config: String,
    notification: wit::Notification,
) -> Result<(), wit::Error> {
    let config = Config::parse(&config)?;
    T::run(&config, &Notification::from(notification)).map_err(Into::into)
}

/// Exports a [`Trigger`] implementation as the plugin's `trigger` interface.
#[macro_export]
macro_rules! export_trigger {
    ($trigger:ty) => {
        #[doc(hidden)]
        pub struct __AvisoTriggerExport;

        impl $crate::bindings::exports::aviso::plugin::trigger::Guest for __AvisoTriggerExport {
            fn validate(config: String) -> Result<(), $crate::bindings::aviso::plugin::types::Error> {
                $crate::__validate::<$trigger>(config)
            }
            fn run(
                config: String,
                notification: $crate::bindings::aviso::plugin::types::Notification,
            ) -> Result<(), $crate::bindings::aviso::plugin::types::Error> {
                $crate::__run::<$trigger>(config, notification)
            }
        }

        $crate::bindings::__export_trigger_world!(__AvisoTriggerExport with_types_in $crate::bindings);
    };
}

/// One file of the configuration service the schema came from: its path relative to the
/// service (e.g. `language.json`) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFile {
    pub path: String,
    pub content: Vec<u8>,
}

/// What a schema parser plugin implements: the event schema as found (JSON text) and the other
/// files of its service in, the schema Aviso should use (JSON text) out.
pub trait SchemaParser {
    fn parse(schema: &str, files: &[ServiceFile]) -> Result<String, Error>;
}

#[doc(hidden)]
pub fn __parse<P: SchemaParser>(
    schema: String,
    files: Vec<(String, Vec<u8>)>,
) -> Result<String, wit::Error> {
    let files: Vec<ServiceFile> = files
        .into_iter()
        .map(|(path, content)| ServiceFile { path, content })
        .collect();
    P::parse(&schema, &files).map_err(Into::into)
}

/// Exports a [`SchemaParser`] implementation as the plugin's `schema-parser` interface.
#[macro_export]
macro_rules! export_schema_parser {
    ($parser:ty) => {
        #[doc(hidden)]
        pub struct __AvisoSchemaParserExport;

        impl $crate::parser_bindings::exports::aviso::plugin::schema_parser::Guest
            for __AvisoSchemaParserExport
        {
            fn parse(
                schema: String,
                files: Vec<(String, Vec<u8>)>,
            ) -> Result<String, $crate::bindings::aviso::plugin::types::Error> {
                $crate::__parse::<$parser>(schema, files)
            }
        }

        $crate::parser_bindings::__export_schema_parser_world!(
            __AvisoSchemaParserExport with_types_in $crate::parser_bindings
        );
    };
}

/// UTC and local wall-clock time without a time zone database (sandboxes have none).
pub mod clock {
    use std::time::{SystemTime, UNIX_EPOCH};

    /// A broken-down time: year, month, day, hour, minute, second, millisecond.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct DateTime {
        pub year: i64,
        pub month: i64,
        pub day: i64,
        pub hour: i64,
        pub minute: i64,
        pub second: i64,
        pub millisecond: i64,
    }

    /// Now, shifted by `utc_offset_seconds` (0 for UTC).
    pub fn now(utc_offset_seconds: i64) -> DateTime {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        from_unix_millis(since_epoch.as_millis() as i64 + utc_offset_seconds * 1000)
    }

    pub fn from_unix_millis(millis: i64) -> DateTime {
        let days = millis.div_euclid(86_400_000);
        let ms_of_day = millis.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: ms_of_day / 3_600_000,
            minute: ms_of_day / 60_000 % 60,
            second: ms_of_day / 1000 % 60,
            millisecond: ms_of_day % 1000,
        }
    }

    /// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
    fn civil_from_days(days: i64) -> (i64, i64, i64) {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        (yoe + era * 400 + i64::from(month <= 2), month, day)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn dates_from_unix_time() {
            let t = super::from_unix_millis(1_609_459_200_123 + 3_723_000);
            assert_eq!(
                (
                    t.year,
                    t.month,
                    t.day,
                    t.hour,
                    t.minute,
                    t.second,
                    t.millisecond
                ),
                (2021, 1, 1, 1, 2, 3, 123)
            );
            let leap = super::from_unix_millis(951_782_400_000);
            assert_eq!((leap.year, leap.month, leap.day), (2000, 2, 29));
        }
    }
}
