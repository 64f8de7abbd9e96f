//! Write Aviso plugins in Rust: implement [`Trigger`] (or [`SchemaParser`]), export it with
//! [`export_trigger!`] (or [`export_schema_parser!`]), build with
//! `cargo build --release --target wasm32-wasip2`. The result is a WebAssembly component that
//! Aviso loads.
//!
//! ```no_run
//! use aviso_sdk::{Config, Context, Error, Notification, Trigger, log};
//! use serde::Deserialize;
//!
//! /// The trigger's `config:` block.
//! #[derive(Deserialize)]
//! struct Settings {
//!     greeting: String,
//!     #[serde(default)]
//!     shout: bool,
//! }
//!
//! struct Greet;
//!
//! impl Trigger for Greet {
//!     fn validate(config: &Config) -> Result<(), Error> {
//!         config.parse_as::<Settings>()?; // "greeting is a mandatory field"
//!         Ok(())
//!     }
//!
//!     fn run(config: &Config, notification: &Notification) -> Result<(), Error> {
//!         let settings: Settings = config.parse_as()?;
//!         let mut line = format!("{} {}", settings.greeting, notification.event);
//!         if settings.shout {
//!             line = line.to_uppercase();
//!         }
//!         std::fs::write("/board/greeting.txt", line).context("cannot write the greeting")?;
//!         log::info("greeted");
//!         Ok(())
//!     }
//! }
//!
//! aviso_sdk::export_trigger!(Greet);
//! ```
//!
//! What the SDK offers besides: [`Error`] with conversions for `?` and [`Context`],
//! [`Notification::to_json`] (pyaviso's notification dict), [`pyjson`] (Python's `json.dumps`
//! and `repr`, byte for byte), [`http`] (outbound HTTP, to granted origins), [`clock`] (UTC and
//! local time), [`log`] (the host's log) and [`command`] (the command capability, when
//! granted). Every component built with it carries the SDK's [`VERSION`] in a custom section
//! named `aviso-sdk-version`.

#![deny(missing_docs)]

// The generated bindings name this crate by its public name, also from inside it.
extern crate self as aviso_sdk;

mod config;
mod error;
pub mod http;
pub mod pyjson;

/// Python-compatible text, as the host writes it: `json.dumps`, `repr`, `str.format` and format
/// specs, `int()`/`float()` of text (CPython 3.11, Unicode 14.0.0).
pub use pycompat;

pub use config::Config;
pub use error::{Context, Error};
/// serde, as the SDK uses it: `#[derive(aviso_sdk::serde::Deserialize)]` with
/// `#[serde(crate = "aviso_sdk::serde")]` works without a dependency of your own.
pub use serde;

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
    /// The event type, e.g. `flight`.
    pub event: String,
    /// Canonical request values, in the schema's key-template order.
    pub request: Vec<(String, String)>,
    /// `payload`, or the schema's rename of it (e.g. `location`).
    pub payload_field: String,
    /// The payload; `None` when the notifier sent none.
    pub payload: Option<String>,
    /// The notification's key in the store.
    pub key: String,
    /// The store revision of the notification (0 when the store has none).
    pub revision: u64,
}

impl Notification {
    /// pyaviso's notification dict: `{"event", "request", <payload field>}`, the payload only
    /// when there is one.
    ///
    /// ```
    /// use aviso_sdk::Notification;
    ///
    /// let notification = Notification {
    ///     event: "flight".into(),
    ///     request: vec![("number".into(), "AZ203".into())],
    ///     payload_field: "location".into(),
    ///     payload: Some("FCO".into()),
    ///     key: "/tmp/aviso/flight/AZ203".into(),
    ///     revision: 7,
    /// };
    /// assert_eq!(
    ///     notification.to_json().to_string(),
    ///     r#"{"event":"flight","request":{"number":"AZ203"},"location":"FCO"}"#
    /// );
    /// assert_eq!(notification.request_value("number"), Some("AZ203"));
    /// ```
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

/// What a trigger plugin implements; [`export_trigger!`] exports it.
///
/// Each call runs in a fresh sandbox: nothing a call keeps in memory is there for the next.
pub trait Trigger {
    /// Checks the configuration once, when the listener loads. The default accepts anything.
    fn validate(config: &Config) -> Result<(), Error> {
        let _ = config;
        Ok(())
    }

    /// Runs the trigger for one notification.
    fn run(config: &Config, notification: &Notification) -> Result<(), Error>;
}

/// Messages to the host's log, attributed to the plugin (always granted). The host keeps
/// messages up to 16 KiB each, 1000 per call and 1 MiB in all.
pub mod log {
    use crate::bindings::aviso::plugin::log::{Level, emit};

    /// Logs at debug level (shown with `aviso -d`).
    pub fn debug(message: &str) {
        emit(Level::Debug, message);
    }
    /// Logs at info level.
    pub fn info(message: &str) {
        emit(Level::Info, message);
    }
    /// Logs a warning.
    pub fn warn(message: &str) {
        emit(Level::Warn, message);
    }
    /// Logs an error.
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

/// The version of this SDK (its crate version), as every component built with it carries it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The custom section `aviso-sdk-version` holding [`VERSION`], which the host reads from a
/// component's bytes (`aviso plugin inspect`).
mod version_section {
    use super::VERSION;

    #[cfg(target_family = "wasm")]
    #[unsafe(link_section = "aviso-sdk-version")]
    #[used]
    static SECTION: [u8; VERSION.len()] = {
        let mut bytes = [0u8; VERSION.len()];
        let mut i = 0;
        while i < bytes.len() {
            bytes[i] = VERSION.as_bytes()[i];
            i += 1;
        }
        bytes
    };

    /// Called from every export: a linker keeps an object file's custom sections only when
    /// something in it is used, and a custom section has no address to refer to. This
    /// function lives beside the section (as wit-bindgen does for its own).
    #[inline(never)]
    pub fn link() -> &'static str {
        VERSION
    }
}

#[doc(hidden)]
pub fn __validate<T: Trigger>(config: String) -> Result<(), wit::Error> {
    std::hint::black_box(version_section::link());
    let config = Config::parse(&config)?;
    T::validate(&config).map_err(Into::into)
}

#[doc(hidden)]
pub fn __run<T: Trigger>(
    config: String,
    notification: wit::Notification,
) -> Result<(), wit::Error> {
    std::hint::black_box(version_section::link());
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
    /// The path relative to the service, e.g. `language.json`.
    pub path: String,
    /// The file's bytes.
    pub content: Vec<u8>,
}

/// What a schema parser plugin implements: the event schema as found (JSON text) and the other
/// files of its service in, the schema Aviso should use (JSON text) out.
pub trait SchemaParser {
    /// Turns the event schema (`event_listener_schema.json`'s text) into the schema to use,
    /// given all the files of its service (the schema included).
    fn parse(schema: &str, files: &[ServiceFile]) -> Result<String, Error>;
}

#[doc(hidden)]
pub fn __parse<P: SchemaParser>(
    schema: String,
    files: Vec<(String, Vec<u8>)>,
) -> Result<String, wit::Error> {
    std::hint::black_box(version_section::link());
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
        /// The year, e.g. 2021.
        pub year: i64,
        /// The month, 1 to 12.
        pub month: i64,
        /// The day of the month, 1 to 31.
        pub day: i64,
        /// The hour, 0 to 23.
        pub hour: i64,
        /// The minute, 0 to 59.
        pub minute: i64,
        /// The second, 0 to 59.
        pub second: i64,
        /// The millisecond, 0 to 999.
        pub millisecond: i64,
    }

    /// Now, shifted by `utc_offset_seconds` (0 for UTC).
    pub fn now(utc_offset_seconds: i64) -> DateTime {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        from_unix_millis(since_epoch.as_millis() as i64 + utc_offset_seconds * 1000)
    }

    /// The UTC time `millis` milliseconds after 1970-01-01 00:00:00 (before it when negative).
    ///
    /// ```
    /// let t = aviso_sdk::clock::from_unix_millis(951_782_400_000);
    /// assert_eq!((t.year, t.month, t.day, t.hour), (2000, 2, 29, 0));
    /// ```
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
