//! Console logging on stderr, message only (pyaviso's `%(message)s`), at the level that `debug`,
//! `quiet` or the logging configuration's root level asks for.
//!
//! The level applies to aviso's own messages. The libraries below (the HTTP/2 and gRPC stacks,
//! TLS, wasmtime) say only warnings and errors, even with `-d`: their traces are for whoever
//! debugs them, who asks with `RUST_LOG` (`RUST_LOG=h2=trace,tonic=debug`).

use tracing::Level;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LoggingSetting, Settings};
use crate::yaml::{self, YamlValue};

/// Logging before the settings are known: errors and warnings only need to reach the user.
pub fn init_default() {
    install(Level::INFO);
}

/// Logging as the settings ask. A logging configuration file that is missing or is not YAML
/// is an error (pyaviso stops there too): the user asked for logging they would not get.
pub fn init(settings: &Settings) -> Result<(), String> {
    let configured = match &settings.logging {
        Some(setting) => configured_level(setting)?,
        None => None,
    };
    let level = if settings.debug {
        Level::DEBUG
    } else if settings.quiet {
        Level::ERROR
    } else {
        configured.unwrap_or(Level::INFO)
    };
    install(level);
    Ok(())
}

/// Aviso's messages at `level`; other crates' at `level` but never more than warnings, unless
/// `RUST_LOG` says otherwise for them.
fn install(level: Level) {
    let own = LevelFilter::from_level(level);
    let mut targets = Targets::new()
        .with_default(own.min(LevelFilter::WARN))
        .with_target("aviso", own);
    if let Some(asked) = std::env::var("RUST_LOG")
        .ok()
        .and_then(|text| text.parse::<Targets>().ok())
    {
        if let Some(default) = asked.default_level() {
            targets = targets.with_default(default);
        }
        targets = targets.with_targets(asked);
    }
    // A second initialisation (library users, tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .without_time()
                .with_target(false)
                .with_level(false)
                .with_ansi(false),
        )
        .with(targets)
        .try_init();
}

/// The `root.level` of a Python `dictConfig` document (inline, or in the file given by
/// `-l`/`AVISO_LOG`); other parts of such a document are not interpreted.
fn configured_level(setting: &LoggingSetting) -> Result<Option<Level>, String> {
    let document = match setting {
        LoggingSetting::Inline(document) => document.clone(),
        LoggingSetting::File(path) => std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| yaml::parse(&t).map_err(|e| e.0))
            .map_err(|error| {
                format!(
                    "Not able to read the logging configuration {}: {error}",
                    path.display()
                )
            })?,
    };
    let Some(level) = document
        .get("root")
        .and_then(|root| root.get("level"))
        .and_then(YamlValue::as_scalar)
    else {
        return Ok(None);
    };
    Ok(match level.to_ascii_uppercase().as_str() {
        "DEBUG" | "NOTSET" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARNING" | "WARN" => Some(Level::WARN),
        "ERROR" | "CRITICAL" | "FATAL" => Some(Level::ERROR),
        _ => None,
    })
}
