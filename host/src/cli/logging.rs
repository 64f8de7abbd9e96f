//! Logging as pyaviso users configure it: by default the message alone on stderr (pyaviso's
//! `%(message)s`); with a Python `dictConfig` document (`-l FILE`, `AVISO_LOG`, `logging:`)
//! its root level, its stream and file handlers, their levels and their formats
//! (`%(asctime)s - %(levelname)s - %(message)s`, `datefmt`). `-d` turns the root and the
//! console handlers to DEBUG, `-q` the console handlers to ERROR, as pyaviso does.
//!
//! The level applies to aviso's own messages. The libraries below (the HTTP/2 and gRPC stacks,
//! TLS, wasmtime) say only warnings and errors, even with `-d`: their traces are for whoever
//! debugs them, who asks with `RUST_LOG` (`RUST_LOG=h2=trace,tonic=debug`).

use std::io::Write;
use std::sync::Mutex;

use tracing::Level;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LoggingSetting, Settings};
use crate::yaml::{self, YamlValue};

/// Logging before the settings are known: errors and warnings only need to reach the user.
pub fn init_default() {
    install(Level::INFO, vec![Handler::console(None)]);
}

/// The console only, at the level `-d`/`-q` ask (commands without a configuration, `serve`);
/// with `json`, one JSON object per line.
pub fn init_console(debug: bool, quiet: bool, json: bool) {
    let mut console = Handler::console(Some(Format {
        json,
        ..Format::default()
    }));
    let level = if debug { Level::DEBUG } else { Level::INFO };
    if quiet {
        console.level = Some(Level::ERROR);
    }
    install(level, vec![console]);
}

/// Logging as the settings ask. A logging configuration that is missing, is not YAML or names
/// a level or handler that does not exist is an error (pyaviso stops there too): the user asked
/// for logging they would not get.
pub fn init(settings: &Settings) -> Result<(), String> {
    let mut notes = Vec::new();
    let (root, mut handlers) = match &settings.logging {
        Some(setting) => configured(setting, &mut notes)?,
        None => (None, vec![Handler::console(None)]),
    };
    let root = if settings.debug {
        Level::DEBUG
    } else {
        root.unwrap_or(Level::INFO)
    };
    for handler in handlers.iter_mut().filter(|h| h.is_console()) {
        if settings.debug {
            handler.level = Some(Level::DEBUG);
        } else if settings.quiet {
            handler.level = Some(Level::ERROR);
        }
    }
    install(root, handlers);
    // Said once logging is in place: before, nothing could print them.
    for note in notes {
        tracing::warn!("{note}");
    }
    Ok(())
}

/// Aviso's messages at `level`; other crates' at `level` but never more than warnings, unless
/// `RUST_LOG` says otherwise for them.
fn install(level: Level, handlers: Vec<Handler>) {
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
        .with(Handlers(handlers))
        .with(targets)
        .try_init();
}

/// Where one handler writes.
enum Sink {
    Stderr,
    Stdout,
    File(Mutex<std::fs::File>),
}

/// One `dictConfig` handler: where, from which level, in which format.
struct Handler {
    sink: Sink,
    /// `None`: every message the root level lets through.
    level: Option<Level>,
    format: Format,
}

impl Handler {
    fn console(format: Option<Format>) -> Handler {
        Handler {
            sink: Sink::Stderr,
            level: None,
            format: format.unwrap_or_default(),
        }
    }

    fn is_console(&self) -> bool {
        !matches!(self.sink, Sink::File(_))
    }

    fn write(&self, line: &str) {
        match &self.sink {
            // A progress bar on the terminal is cleared for the line and drawn again after it.
            Sink::Stderr => crate::progress::suspended(|| {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }),
            Sink::Stdout => crate::progress::suspended(|| {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }),
            Sink::File(file) => {
                let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
                let _ = writeln!(file, "{line}");
            }
        }
    }
}

/// A Python `logging` format string (`%`-style) and its `datefmt`; or one JSON object per line.
#[derive(Clone)]
struct Format {
    pattern: String,
    date_format: Option<String>,
    json: bool,
}

impl Default for Format {
    fn default() -> Format {
        Format {
            pattern: "%(message)s".into(),
            date_format: None,
            json: false,
        }
    }
}

impl Format {
    /// The line for one message, as Python's `Formatter.format` makes it for the attributes a
    /// record of ours has (`asctime`, `levelname`, `levelno`, `name`, `message`, `process`,
    /// `created`); others are left empty.
    fn render(&self, level: Level, message: &str) -> String {
        let mut line = String::with_capacity(self.pattern.len() + message.len());
        let mut rest = self.pattern.as_str();
        while let Some(start) = rest.find('%') {
            line.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            if let Some(stripped) = after.strip_prefix('%') {
                line.push('%');
                rest = stripped;
                continue;
            }
            let Some((name, spec)) = after
                .strip_prefix('(')
                .and_then(|inner| inner.split_once(')'))
            else {
                line.push('%');
                rest = after;
                continue;
            };
            // Flags and width, then the conversion letter: `%(levelname)-8s`.
            let conversion = spec
                .find(|c: char| c.is_ascii_alphabetic())
                .unwrap_or(spec.len());
            let flags = &spec[..conversion];
            let value = self.attribute(name, level, message);
            let width: usize = flags
                .trim_start_matches(['-', '0', ' ', '+', '#'])
                .split('.')
                .next()
                .and_then(|w| w.parse().ok())
                .unwrap_or(0);
            if flags.starts_with('-') {
                line.push_str(&format!("{value:<width$}"));
            } else {
                line.push_str(&format!("{value:>width$}"));
            }
            rest = &spec[(conversion + 1).min(spec.len())..];
        }
        line.push_str(rest);
        line
    }

    fn attribute(&self, name: &str, level: Level, message: &str) -> String {
        let now = chrono::Local::now();
        match name {
            "message" | "msg" => message.to_string(),
            "asctime" => match &self.date_format {
                Some(format) => now.format(format).to_string(),
                None => now.format("%Y-%m-%d %H:%M:%S,%3f").to_string(),
            },
            "levelname" => python_level_name(level).to_string(),
            "levelno" => python_level_number(level).to_string(),
            "name" => "aviso".to_string(),
            "process" => std::process::id().to_string(),
            "created" => format!("{:.6}", now.timestamp_micros() as f64 / 1e6),
            _ => String::new(),
        }
    }
}

/// One message as a JSON object: `{"time", "level", "tenant", "message"}` (`tenant` only for
/// a tenant's lines), for log collectors.
fn json_line(level: Level, tenant: Option<&str>, message: &str) -> String {
    let mut record = serde_json::json!({
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "level": python_level_name(level),
        "message": message,
    });
    if let Some(tenant) = tenant {
        record["tenant"] = serde_json::Value::String(tenant.to_string());
    }
    record.to_string()
}

fn python_level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

fn python_level_number(level: Level) -> u8 {
    match level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        Level::DEBUG | Level::TRACE => 10,
    }
}

/// Every handler, for every message the filters let through.
struct Handlers(Vec<Handler>);

/// The tenant a span runs for (`aviso serve`), kept with the span.
struct TenantTag(String);

impl<S> tracing_subscriber::Layer<S> for Handlers
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        context: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = MessageText(String::new());
        attributes.record(&mut fields);
        let tenant = fields
            .0
            .split_whitespace()
            .find_map(|field| field.strip_prefix("tenant=").map(str::to_string));
        if let (Some(tenant), Some(span)) = (tenant, context.span(id)) {
            span.extensions_mut().insert(TenantTag(tenant));
        }
    }

    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        context: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let level = *event.metadata().level();
        let mut message = MessageText(String::new());
        event.record(&mut message);
        // Lines of a tenant's listeners say whose they are.
        let tenant = context.event_scope(event).and_then(|scope| {
            scope
                .into_iter()
                .find_map(|span| span.extensions().get::<TenantTag>().map(|t| t.0.clone()))
        });
        let tagged = match &tenant {
            Some(tenant) => format!("[{tenant}] {}", message.0),
            None => message.0.clone(),
        };
        for handler in &self.0 {
            if handler.level.is_some_and(|least| level > least) {
                continue;
            }
            let line = if handler.format.json {
                json_line(level, tenant.as_deref(), &message.0)
            } else {
                handler.format.render(level, &tagged)
            };
            handler.write(&line);
        }
    }
}

/// An event's message, with any other fields after it (`key=value`).
struct MessageText(String);

impl tracing::field::Visit for MessageText {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

/// The root level and the handlers of a `dictConfig` document (inline, or in the file given by
/// `-l`/`AVISO_LOG`). Loggers other than the root and filters are not interpreted.
fn configured(
    setting: &LoggingSetting,
    notes: &mut Vec<String>,
) -> Result<(Option<Level>, Vec<Handler>), String> {
    let (document, origin) = match setting {
        LoggingSetting::Inline(document) => (document.clone(), "the logging section".to_string()),
        LoggingSetting::File(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| crate::cause::io_error(&e))
                .and_then(|t| yaml::parse(&t).map_err(|e| e.0))
                .map_err(|error| {
                    format!(
                        "Not able to read the logging configuration {}: {error}",
                        path.display()
                    )
                })?,
            path.display().to_string(),
        ),
    };
    let wrong = |what: String| format!("Wrong logging configuration in {origin}: {what}");
    let root = document.get("root");
    let level = match root
        .and_then(|root| root.get("level"))
        .and_then(YamlValue::as_scalar)
    {
        Some(name) => Some(level_named(name).map_err(|e| wrong(format!("root.level {e}")))?),
        None => None,
    };
    let formats = formats(&document).map_err(wrong)?;
    let Some(declared) = document.get("handlers").and_then(YamlValue::as_map) else {
        return Ok((level, vec![Handler::console(None)]));
    };
    // The root's handlers; all declared ones when it names none.
    let names: Vec<String> = match root.and_then(|root| root.get("handlers")) {
        Some(YamlValue::Seq(items)) => items
            .iter()
            .filter_map(YamlValue::as_scalar)
            .map(str::to_string)
            .collect(),
        _ => declared.iter().map(|(name, _)| name.clone()).collect(),
    };
    let mut handlers = Vec::new();
    for name in names {
        let Some((_, settings)) = declared.iter().find(|(declared, _)| *declared == name) else {
            return Err(wrong(format!(
                "root.handlers names {name}, which is not declared in handlers"
            )));
        };
        if let Some(handler) = handler(&name, settings, &formats, notes)
            .map_err(|e| wrong(format!("handler {name}: {e}")))?
        {
            handlers.push(handler);
        }
    }
    if handlers.is_empty() {
        // Python's "last resort": with no handler, warnings and errors still reach stderr.
        let mut last_resort = Handler::console(None);
        last_resort.level = Some(Level::WARN);
        handlers.push(last_resort);
    }
    Ok((level, handlers))
}

/// The declared formatters by name.
fn formats(document: &YamlValue) -> Result<Vec<(String, Format)>, String> {
    let Some(declared) = document.get("formatters").and_then(YamlValue::as_map) else {
        return Ok(Vec::new());
    };
    declared
        .iter()
        .map(|(name, settings)| {
            let scalar = |key: &str| settings.get(key).and_then(YamlValue::as_scalar);
            if scalar("style").is_some_and(|style| style != "%") {
                return Err(format!(
                    "formatter {name}: only the '%' style of format is supported"
                ));
            }
            Ok((
                name.clone(),
                Format {
                    pattern: scalar("format").unwrap_or("%(message)s").to_string(),
                    date_format: scalar("datefmt").map(str::to_string),
                    json: false,
                },
            ))
        })
        .collect()
}

/// One handler; `None` (with a warning) for a class that has no meaning here.
fn handler(
    name: &str,
    settings: &YamlValue,
    formats: &[(String, Format)],
    notes: &mut Vec<String>,
) -> Result<Option<Handler>, String> {
    let scalar = |key: &str| settings.get(key).and_then(YamlValue::as_scalar);
    let level = scalar("level").map(level_named).transpose()?;
    let format = match scalar("formatter") {
        Some(formatter) => formats
            .iter()
            .find(|(declared, _)| declared == formatter)
            .map(|(_, format)| format.clone())
            .ok_or_else(|| format!("formatter {formatter} is not declared in formatters"))?,
        None => Format::default(),
    };
    let class = scalar("class").unwrap_or("logging.StreamHandler");
    let sink = match class {
        "logging.StreamHandler" => match scalar("stream").unwrap_or("ext://sys.stderr") {
            "ext://sys.stderr" => Sink::Stderr,
            "ext://sys.stdout" => Sink::Stdout,
            other => {
                return Err(format!(
                    "stream {other} is not ext://sys.stderr or ext://sys.stdout"
                ));
            }
        },
        "logging.FileHandler"
        | "logging.handlers.WatchedFileHandler"
        | "logging.handlers.RotatingFileHandler"
        | "logging.handlers.TimedRotatingFileHandler" => {
            let path = scalar("filename").ok_or("filename is a mandatory field")?;
            let path = crate::config::expand_user_path(path)?;
            let truncate = scalar("mode") == Some("w");
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(!truncate)
                .write(true)
                .truncate(truncate)
                .open(&path)
                .map_err(|e| {
                    format!(
                        "cannot open {}: {}",
                        path.display(),
                        crate::cause::io_error(&e)
                    )
                })?;
            if class.contains("Rotating") {
                notes.push(format!(
                    "Logging handler {name}: {} is appended to, not rotated; rotate it with logrotate (copytruncate)",
                    path.display()
                ));
            }
            Sink::File(Mutex::new(file))
        }
        other if PYTHON_HANDLERS.contains(&other) => {
            notes.push(format!(
                "Logging handler {name} is ignored: class {other} is not supported (logging.StreamHandler and logging.FileHandler are)"
            ));
            return Ok(None);
        }
        other => {
            let known: Vec<&str> = SUPPORTED_HANDLERS
                .iter()
                .chain(PYTHON_HANDLERS)
                .copied()
                .collect();
            let hint = crate::suggest::close_matches(other, &known)
                .first()
                .map(|close| format!(" (did you mean {close}?)"))
                .unwrap_or_default();
            return Err(format!("class {other} is not a logging handler{hint}"));
        }
    };
    Ok(Some(Handler {
        sink,
        level,
        format,
    }))
}

/// The handler classes written to here.
const SUPPORTED_HANDLERS: &[&str] = &[
    "logging.StreamHandler",
    "logging.FileHandler",
    "logging.handlers.WatchedFileHandler",
    "logging.handlers.RotatingFileHandler",
    "logging.handlers.TimedRotatingFileHandler",
];

/// Python's other handler classes: a configuration written for pyaviso may name them.
const PYTHON_HANDLERS: &[&str] = &[
    "logging.NullHandler",
    "logging.handlers.SysLogHandler",
    "logging.handlers.SMTPHandler",
    "logging.handlers.HTTPHandler",
    "logging.handlers.SocketHandler",
    "logging.handlers.DatagramHandler",
    "logging.handlers.MemoryHandler",
    "logging.handlers.QueueHandler",
    "logging.handlers.NTEventLogHandler",
    "logging.handlers.BufferingHandler",
];

/// A Python level name.
fn level_named(name: &str) -> Result<Level, String> {
    match name.to_ascii_uppercase().as_str() {
        "DEBUG" | "NOTSET" => Ok(Level::DEBUG),
        "INFO" => Ok(Level::INFO),
        "WARNING" | "WARN" => Ok(Level::WARN),
        "ERROR" | "CRITICAL" | "FATAL" => Ok(Level::ERROR),
        _ => Err(format!(
            "{name} is not a level: use DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(pattern: &str) -> Format {
        Format {
            pattern: pattern.into(),
            date_format: None,
            json: false,
        }
    }

    #[test]
    fn python_formats_are_rendered() {
        assert_eq!(format("%(message)s").render(Level::INFO, "hi"), "hi");
        assert_eq!(
            format("%(name)s - %(levelname)-8s| %(message)s 100%%").render(Level::WARN, "hi"),
            "aviso - WARNING | hi 100%"
        );
        assert_eq!(
            format("[%(levelname)7s] %(unknown)s%(message)s").render(Level::INFO, "x"),
            "[   INFO] x"
        );
        let stamped = format("%(asctime)s %(message)s").render(Level::INFO, "x");
        assert!(
            regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} x$")
                .unwrap()
                .is_match(&stamped),
            "{stamped}"
        );
        let dated = Format {
            pattern: "%(asctime)s|%(message)s".into(),
            date_format: Some("%Y".into()),
            json: false,
        }
        .render(Level::INFO, "x");
        assert_eq!(dated, format!("{}|x", chrono::Local::now().format("%Y")));
    }

    #[test]
    fn levels_that_do_not_exist_are_refused() {
        assert_eq!(level_named("warning"), Ok(Level::WARN));
        assert_eq!(
            level_named("VERBOSE").unwrap_err(),
            "VERBOSE is not a level: use DEBUG, INFO, WARNING, ERROR or CRITICAL"
        );
    }
}
