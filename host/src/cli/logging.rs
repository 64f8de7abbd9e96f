//! Console logging on stderr, message only (pyaviso's `%(message)s`), at the level that `debug`,
//! `quiet` or the logging configuration's root level asks for.

use tracing::Level;

use crate::config::{LoggingSetting, Settings};
use crate::yaml::{self, YamlValue};

/// Logging before the settings are known: errors and warnings only need to reach the user.
pub fn init_default() {
    install(Level::INFO);
}

pub fn init(settings: &Settings) {
    let level = if settings.debug {
        Level::DEBUG
    } else if settings.quiet {
        Level::ERROR
    } else {
        settings
            .logging
            .as_ref()
            .and_then(configured_level)
            .unwrap_or(Level::INFO)
    };
    install(level);
}

fn install(level: Level) {
    // A second initialisation (library users, tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .without_time()
        .with_target(false)
        .with_level(false)
        .with_ansi(false)
        .try_init();
}

/// The `root.level` of a Python `dictConfig` document (inline, or in the file given by
/// `-l`/`AVISO_LOG`); other parts of such a document are not interpreted.
fn configured_level(setting: &LoggingSetting) -> Option<Level> {
    let document = match setting {
        LoggingSetting::Inline(document) => document.clone(),
        LoggingSetting::File(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| yaml::parse(&t).map_err(|e| e.0))
        {
            Ok(document) => document,
            Err(error) => {
                eprintln!(
                    "Not able to read the logging configuration {}: {error}",
                    path.display()
                );
                return None;
            }
        },
    };
    let level = document
        .get("root")
        .and_then(|root| root.get("level"))
        .and_then(YamlValue::as_scalar)?;
    match level.to_ascii_uppercase().as_str() {
        "DEBUG" | "NOTSET" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARNING" | "WARN" => Some(Level::WARN),
        "ERROR" | "CRITICAL" | "FATAL" => Some(Level::ERROR),
        _ => None,
    }
}
