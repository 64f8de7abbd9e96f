//! `aviso plugin`: what a plugin component is (`inspect`), one call of it in the sandbox exactly
//! as a listener makes it (`run`), and a new plugin project from a template (`new`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use tracing::Level;

use super::EXIT_ERROR;
use crate::client::Aviso;
use crate::config::{CliOverrides, ConfigSources, Program, Settings};
use crate::listener::TriggerSpec;
use crate::plugin::inspect::{ComponentInfo, ImportKind, MeasuredCall, World};
use crate::plugin::{Limits, PluginError, PluginNotification};
use crate::trigger::{PluginPolicy, TriggerRuntime};

#[derive(Debug, Subcommand)]
pub(super) enum PluginCommand {
    /// Show what a plugin component is: its world, imports and exports, the capabilities it can
    /// be granted, and whether the site policy allows it.
    #[command(override_usage = "aviso plugin inspect [OPTIONS] PATH")]
    Inspect {
        /// The component (.wasm).
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// Print JSON, for scripts.
        #[arg(long)]
        json: bool,
        /// Enable the debug log.
        #[arg(short = 'd', long)]
        debug: bool,
    },
    /// Call a trigger plugin once, for one notification, in the sandbox a listener gives it
    /// (same limits, grants checked against the site policy, `validate` then `run`).
    #[command(override_usage = "aviso plugin run [OPTIONS] PATH")]
    Run(RunOptions),
    /// Start a new plugin project from a template.
    #[command(override_usage = "aviso plugin new [OPTIONS] NAME")]
    New {
        /// The project's folder; its last part is the plugin's name (letters, digits, - and _).
        #[arg(value_name = "NAME")]
        name: PathBuf,
        /// The language of the plugin.
        #[arg(
            long,
            value_name = "LANG",
            default_value = "rust",
            value_parser = ["rust", "python", "js", "javascript"],
            ignore_case = true
        )]
        lang: String,
        /// Rust: the folder of the aviso-sdk crate (sdk/ in the Aviso sources); by default the
        /// one this aviso was built from.
        #[arg(long, value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub(super) struct RunOptions {
    /// The component (.wasm).
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// The trigger's configuration, as JSON (a listener's `config:`).
    #[arg(long, value_name = "JSON", default_value = "{}")]
    config: String,
    /// The notification's event.
    #[arg(long, value_name = "NAME")]
    event: Option<String>,
    /// The notification's request values (`event=` and `payload=` may be among them).
    #[arg(long, value_name = "KEY=VALUE,...", default_value = "")]
    notification: String,
    /// The notification's payload.
    #[arg(long, value_name = "TEXT")]
    payload: Option<String>,
    /// The name of the payload field (the schema's rename of `payload`, e.g. `location`).
    #[arg(long, value_name = "NAME", default_value = "payload")]
    payload_field: String,
    /// The notification's key in the store, as the plugin sees it.
    #[arg(long, value_name = "KEY", default_value = "")]
    key: String,
    /// The notification's store revision, as the plugin sees it.
    #[arg(long, value_name = "N", default_value_t = 0)]
    revision: u64,
    /// What the plugin may use, in the syntax of a listener's `allow:` (YAML or JSON), e.g.
    /// "{write: [/tmp/board], http: ['https://hooks.example.com']}".
    #[arg(long, value_name = "YAML")]
    grants: Option<String>,
    /// Memory limit in MiB (a listener's `limits.memory`).
    #[arg(long, value_name = "MIB")]
    memory: Option<u64>,
    /// Time limit in seconds (a listener's `timeout`).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Print JSON, for scripts.
    #[arg(long)]
    json: bool,
    /// Enable the debug log.
    #[arg(short = 'd', long)]
    debug: bool,
}

/// Runs one `aviso plugin` command; returns the exit status.
pub(super) fn run(command: PluginCommand) -> i32 {
    let result = match command {
        PluginCommand::Inspect { path, json, debug } => {
            install_logging(debug);
            inspect(&path, json)
        }
        PluginCommand::Run(options) => {
            let log = install_logging(options.debug);
            run_once(&options, &log)
        }
        PluginCommand::New { name, lang, sdk } => {
            install_logging(false);
            new_project(&name, &lang, sdk.as_deref())
        }
    };
    match result {
        Ok(status) => status,
        Err(error) => {
            tracing::error!("{error:#}");
            EXIT_ERROR
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Logging: the plugin's log lines are kept for the report, everything else goes to stderr.

/// The module whose events are a plugin's log lines (and the host's notes on its call).
const PLUGIN_LOG_TARGET: &str = "aviso::plugin::host";

/// One line a plugin logged.
#[derive(Debug, Clone)]
struct LogLine {
    level: Level,
    message: String,
}

type LogLines = Arc<Mutex<Vec<LogLine>>>;

/// Keeps the events of [`PLUGIN_LOG_TARGET`].
struct CaptureLayer(LogLines);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CaptureLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != PLUGIN_LOG_TARGET {
            return;
        }
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(LogLine {
                level: *event.metadata().level(),
                message: message.0,
            });
    }
}

/// Console logging on stderr as the other commands have it, except the plugin's own lines,
/// which are kept (at every level) and returned.
fn install_logging(debug: bool) -> LogLines {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = if debug { Level::DEBUG } else { Level::INFO };
    let lines = LogLines::default();
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .with_level(false)
        .with_ansi(false)
        .with_filter(tracing_subscriber::filter::filter_fn(move |metadata| {
            metadata.target() != PLUGIN_LOG_TARGET && *metadata.level() <= level
        }));
    let _ = tracing_subscriber::registry()
        .with(console)
        .with(CaptureLayer(lines.clone()))
        .try_init();
    lines
}

/// The lines logged since `from`, with the plugin's name taken off the front.
fn lines_since(log: &LogLines, from: usize, plugin: &str) -> Vec<LogLine> {
    let lines = log.lock().unwrap_or_else(|p| p.into_inner());
    lines
        .iter()
        .skip(from)
        .map(|line| {
            let message = line
                .message
                .strip_prefix(&format!("{plugin}: "))
                .or_else(|| line.message.strip_prefix(&format!("Plugin {plugin}: ")))
                .unwrap_or(&line.message)
                .to_string();
            LogLine {
                level: line.level,
                message,
            }
        })
        .collect()
}

fn log_count(log: &LogLines) -> usize {
    log.lock().unwrap_or_else(|p| p.into_inner()).len()
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

// ---------------------------------------------------------------------------------------------
// What the plugin commands share.

/// The configuration's settings (site policy included) as the other commands load them.
fn client() -> anyhow::Result<Aviso> {
    let sources = ConfigSources::from_process(Program::Aviso, None, CliOverrides::default());
    let (settings, layers) = Settings::load(&sources)?;
    for (setting, origin) in &layers.unknown {
        tracing::warn!("Unknown setting '{setting}' in {origin} is ignored");
    }
    // The plugin commands need no event schema: none is loaded (no configuration server is
    // asked).
    Ok(Aviso::with_schema(
        settings,
        crate::schema::Schema::default_schema(),
    ))
}

/// The plugin file's bytes, or an error naming the file and the problem.
fn read_plugin(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::IsADirectory => "it is a directory".to_string(),
            _ => e.to_string(),
        };
        anyhow::anyhow!("Cannot read plugin {}: {reason}", path.display())
    })
}

/// What the component is, or an error naming the file and why it is no Aviso plugin.
fn component_info(
    runtime: &TriggerRuntime,
    path: &Path,
    wasm: &[u8],
) -> anyhow::Result<ComponentInfo> {
    runtime
        .engine()
        .inspect(wasm)
        .map_err(|e| anyhow::anyhow!("{} is not an Aviso plugin: {e}", path.display()))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
}

fn duration_text(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", duration.as_secs_f64())
    }
}

/// The site policy's list as words: `None` is anything.
fn allowed_list<T: std::fmt::Display>(list: &Option<Vec<T>>, anything: &str) -> String {
    match list {
        None => anything.to_string(),
        Some(items) if items.is_empty() => "nothing".to_string(),
        Some(items) => items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn allowed_json<T: std::fmt::Display>(list: &Option<Vec<T>>) -> Value {
    match list {
        None => json!("*"),
        Some(items) => Value::Array(items.iter().map(|i| json!(i.to_string())).collect()),
    }
}

// ---------------------------------------------------------------------------------------------
// aviso plugin inspect

/// Whether the site policy lets a listener load the plugin, and why not.
fn policy_verdict(info: &ComponentInfo, policy: &PluginPolicy) -> Vec<String> {
    let mut refusals = Vec::new();
    if info.world == World::SchemaParser {
        // A schema parser is granted nothing: what it imports beyond the log and WASI's basics
        // keeps it from loading, whatever the policy.
        if info.imports(ImportKind::Http) {
            refusals.push(
                "it imports outbound HTTP (wasi:http), which a schema parser is never granted"
                    .to_string(),
            );
        }
        if info.imports(ImportKind::Command) {
            refusals.push(
                "it imports the command capability, which a schema parser is never granted"
                    .to_string(),
            );
        }
        return refusals;
    }
    if info.imports(ImportKind::Command) && !policy.command {
        refusals.push(
            "it imports the command capability (aviso:plugin/command), which the site policy does not allow (plugins.allow.command)"
                .to_string(),
        );
    }
    refusals
}

/// What an import gives a plugin of this world, for people.
fn import_meaning(kind: ImportKind, world: World) -> &'static str {
    let parser = world == World::SchemaParser;
    match kind {
        ImportKind::Log => "the log, always granted",
        ImportKind::Types => "type definitions",
        ImportKind::Command if parser => "the command capability, never granted to a schema parser",
        ImportKind::Command => "the command capability, needs allow.command",
        ImportKind::Http if parser => "outbound HTTP, never granted to a schema parser",
        ImportKind::Http => "outbound HTTP, needs allow.http",
        ImportKind::Files if parser => "files, none granted to a schema parser",
        ImportKind::Files => "files, only in the directories of allow.read and allow.write",
        ImportKind::Environment if parser => {
            "environment variables, none granted to a schema parser"
        }
        ImportKind::Environment => "environment variables, only those of allow.env",
        ImportKind::Sockets => "sockets, never granted",
        ImportKind::Basics => "WASI basics, always given",
        ImportKind::Unknown => "not provided by Aviso",
    }
}

/// The order in which import kinds are shown.
const IMPORT_ORDER: [ImportKind; 9] = [
    ImportKind::Log,
    ImportKind::Types,
    ImportKind::Command,
    ImportKind::Http,
    ImportKind::Files,
    ImportKind::Environment,
    ImportKind::Sockets,
    ImportKind::Unknown,
    ImportKind::Basics,
];

fn inspect(path: &Path, as_json: bool) -> anyhow::Result<i32> {
    let wasm = read_plugin(path)?;
    let aviso = client()?;
    // The runtime `Aviso::trigger_runtime` builds, on a policy read once (its warnings once).
    let policy = aviso.plugin_policy()?;
    let engine = crate::plugin::process_engine(policy.concurrent_calls())?;
    let runtime = TriggerRuntime::with_engine(engine, policy.clone());
    let info = component_info(&runtime, path, &wasm)?;
    let refusals = policy_verdict(&info, &policy);
    let path = absolute(path);
    let report = if as_json {
        let report = inspection_json(&path, &info, &policy, &refusals);
        format!("{}\n", serde_json::to_string_pretty(&report)?)
    } else {
        inspection_text(&path, &info, &policy, &refusals)
    };
    std::io::stdout().write_all(report.as_bytes())?;
    Ok(0)
}

/// The inspection for scripts.
fn inspection_json(
    path: &Path,
    info: &ComponentInfo,
    policy: &PluginPolicy,
    refusals: &[String],
) -> Value {
    let trigger = info.world.is_trigger();
    let can = |kind| info.imports(kind);
    let sdk_version = &info.sdk_version;
    json!({
        "path": path.display().to_string(),
        "world": info.world.name(),
        "sdk_version": sdk_version,
        "exports": info.exports.iter().map(|e| json!({"name": e.name, "functions": e.functions})).collect::<Vec<_>>(),
        "imports": info.imports.iter().map(|i| json!({"name": i.name, "kind": i.kind.word()})).collect::<Vec<_>>(),
        "capabilities": {
            "http": trigger && can(ImportKind::Http),
            "command": trigger && can(ImportKind::Command),
            "files": trigger && can(ImportKind::Files),
            "environment": trigger && can(ImportKind::Environment),
        },
        "policy": {
            "allowed": refusals.is_empty(),
            "refusals": refusals,
            "allow": {
                "http": allowed_json(&policy.http),
                "read": allowed_json(&policy.read.as_ref().map(|l| l.iter().map(|p| p.display()).collect::<Vec<_>>())),
                "write": allowed_json(&policy.write.as_ref().map(|l| l.iter().map(|p| p.display()).collect::<Vec<_>>())),
                "env": allowed_json(&policy.env),
                "command": policy.command,
            },
            "memory_mib": {
                "default": policy.default_memory_bytes >> 20,
                "max": policy.max_memory_bytes >> 20,
            },
            "timeout_seconds": {
                "default": policy.default_timeout.map(|t| t.as_secs_f64()),
                "max": policy.max_timeout.as_secs_f64(),
            },
        },
    })
}

/// The inspection for people.
fn inspection_text(
    path: &Path,
    info: &ComponentInfo,
    policy: &PluginPolicy,
    refusals: &[String],
) -> String {
    let trigger = info.world.is_trigger();
    let can = |kind| info.imports(kind);
    let sdk_version = &info.sdk_version;
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!("plugin: {}", path.display()));
    line(format!(
        "world: {} (exports {})",
        info.world.name(),
        info.world.export()
    ));
    line(format!(
        "SDK version: {}",
        sdk_version
            .as_deref()
            .unwrap_or("none recorded (not built with aviso-sdk, or with an older one)")
    ));
    line("exports:".into());
    for export in &info.exports {
        match export.functions.as_slice() {
            [] => line(format!("  {}", export.name)),
            functions => line(format!("  {}: {}", export.name, functions.join(", "))),
        }
    }
    line("imports:".into());
    for kind in IMPORT_ORDER {
        let names: Vec<&str> = info
            .imports
            .iter()
            .filter(|i| i.kind == kind)
            .map(|i| i.name.as_str())
            .collect();
        if names.is_empty() {
            continue;
        }
        let meaning = import_meaning(kind, info.world);
        if kind == ImportKind::Basics {
            // Many small interfaces: their packages say enough here (--json lists them all).
            let mut packages: Vec<&str> = names
                .iter()
                .map(|n| n.split('/').next().unwrap_or(n))
                .collect();
            packages.dedup();
            packages.sort_unstable();
            packages.dedup();
            line(format!(
                "  {meaning}: {} interfaces of {}",
                names.len(),
                packages.join(", ")
            ));
        } else {
            line(format!("  {meaning}: {}", names.join(", ")));
        }
    }
    if trigger {
        line(
            "capabilities (what a listener's allow: may grant it, within the site policy):".into(),
        );
        let dirs = |list: &Option<Vec<PathBuf>>| {
            allowed_list(
                &list
                    .as_ref()
                    .map(|l| l.iter().map(|p| p.display()).collect::<Vec<_>>()),
                "any directory",
            )
        };
        let capabilities = [
            (
                "http",
                ImportKind::Http,
                "required to load",
                format!("allows {}", allowed_list(&policy.http, "any origin")),
            ),
            (
                "read, write",
                ImportKind::Files,
                "files in the granted directories",
                format!(
                    "allows reading {} and writing {}",
                    dirs(&policy.read),
                    dirs(&policy.write)
                ),
            ),
            (
                "env",
                ImportKind::Environment,
                "the granted variables",
                format!("allows {}", allowed_list(&policy.env, "any variable")),
            ),
            (
                "command",
                ImportKind::Command,
                "required to load",
                if policy.command {
                    "allows it".to_string()
                } else {
                    "does not allow it".to_string()
                },
            ),
        ];
        for (grant, kind, use_, site) in capabilities {
            if can(kind) {
                line(format!("  {grant}: {use_}; the site policy {site}"));
            } else {
                line(format!("  {grant}: not imported"));
            }
        }
        line(format!(
            "limits: memory {} MiB unless the listener says (at most {} MiB), timeout at most {} s",
            policy.default_memory_bytes >> 20,
            policy.max_memory_bytes >> 20,
            policy.max_timeout.as_secs()
        ));
    } else {
        line("capabilities: none (a schema parser gets the log and WASI's basics only)".into());
    }
    let subject = if trigger {
        "site policy"
    } else {
        "as a schema parser"
    };
    if refusals.is_empty() {
        line(format!("{subject}: allowed"));
    } else {
        line(format!("{subject}: not allowed: {}", refusals.join("; ")));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// aviso plugin run

/// The error kind as a word, and its message without the kind repeated.
fn error_parts(error: &PluginError) -> (&'static str, String) {
    match error {
        PluginError::Load { .. } => ("load", error.to_string()),
        PluginError::InvalidConfig(m) => ("invalid-config", m.clone()),
        PluginError::Denied(m) => ("denied", m.clone()),
        PluginError::Failed(m) => ("failed", m.clone()),
        PluginError::Transient(m) => ("transient", m.clone()),
        PluginError::Timeout(_) => ("timeout", error.to_string()),
        PluginError::MemoryLimit(_) => ("memory-limit", error.to_string()),
        PluginError::OutputLimit(_) => ("output-limit", error.to_string()),
        PluginError::Busy { .. } => ("busy", error.to_string()),
        PluginError::OverQuota { .. } => ("over-quota", error.to_string()),
        PluginError::Suspended(_) => ("suspended", error.to_string()),
        PluginError::Trap(m) => ("crashed", m.clone()),
    }
}

/// `KEY=VALUE,...` into the event, the payload and the request values.
fn notification(options: &RunOptions) -> anyhow::Result<PluginNotification> {
    let mut event = options.event.clone();
    let mut payload = options.payload.clone();
    let mut request = Vec::new();
    for pair in options.notification.split(',').filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            anyhow::bail!(
                "--notification: '{pair}' is not KEY=VALUE (give KEY=VALUE,KEY=VALUE,...)"
            );
        };
        if key == "event" {
            event.get_or_insert_with(|| value.to_string());
        } else if key == options.payload_field {
            payload.get_or_insert_with(|| value.to_string());
        } else {
            request.push((key.to_string(), value.to_string()));
        }
    }
    let event = event.ok_or_else(|| {
        anyhow::anyhow!(
            "The notification needs an event: give --event NAME (or event=NAME in --notification)"
        )
    })?;
    Ok(PluginNotification {
        event,
        request,
        payload_field: options.payload_field.clone(),
        payload,
        key: options.key.clone(),
        revision: options.revision,
    })
}

/// The trigger entry a listener file would hold for this call, read by the listener-file
/// reader: its settings are typed as a listener's are.
fn trigger_spec(options: &RunOptions) -> anyhow::Result<TriggerSpec> {
    use crate::yaml::YamlValue;
    let config = crate::yaml::parse(&options.config)
        .map_err(|e| anyhow::anyhow!("--config is not valid JSON: {}", e.0))?;
    if !matches!(config, YamlValue::Map(_)) {
        anyhow::bail!(
            "--config must be a JSON object (a listener's config: mapping), e.g. '{{\"prefix\": \"Arrived\"}}'"
        );
    }
    let mut trigger = vec![
        ("type".to_string(), YamlValue::string("plugin")),
        (
            "path".to_string(),
            YamlValue::string(options.path.display().to_string()),
        ),
        ("config".to_string(), config),
    ];
    if let Some(grants) = &options.grants {
        let allow = crate::yaml::parse(grants)
            .map_err(|e| anyhow::anyhow!("--grants is not valid YAML: {}", e.0))?;
        trigger.push(("allow".to_string(), allow));
    }
    if let Some(memory) = options.memory {
        let limits = vec![("memory".to_string(), YamlValue::plain(memory.to_string()))];
        trigger.push(("limits".to_string(), YamlValue::Map(limits)));
    }
    if let Some(timeout) = options.timeout {
        trigger.push(("timeout".to_string(), YamlValue::plain(timeout.to_string())));
    }
    // A listener around the trigger: an event of the built-in schema, any request. The
    // notification of the call is given separately.
    let listener = vec![
        ("event".to_string(), YamlValue::plain("flight")),
        ("request".to_string(), YamlValue::Map(Vec::new())),
        (
            "triggers".to_string(),
            YamlValue::Seq(vec![YamlValue::Map(trigger)]),
        ),
    ];
    let document = YamlValue::Map(vec![(
        "listeners".to_string(),
        YamlValue::Seq(vec![YamlValue::Map(listener)]),
    )]);
    let set = crate::listener::parse_listeners(
        &document,
        "the trigger of aviso plugin run",
        &crate::schema::Schema::default_schema(),
        "etcd_rest",
    )?;
    set.listeners
        .into_iter()
        .next()
        .and_then(|listener| listener.triggers.into_iter().next())
        .ok_or_else(|| anyhow::anyhow!("the trigger could not be read"))
}

/// What happened to the call.
enum RunOutcome {
    /// Refused when loading, as a listener would be (policy, limits, `validate`).
    Refused(String),
    Called(MeasuredCall),
}

/// One `aviso plugin run`, as reported.
struct RunReport {
    name: String,
    world: World,
    outcome: RunOutcome,
    /// The limits of the call (when it was loaded).
    limits: Option<Limits>,
    validate_log: Vec<LogLine>,
    run_log: Vec<LogLine>,
}

fn run_once(options: &RunOptions, log: &LogLines) -> anyhow::Result<i32> {
    let wasm = read_plugin(&options.path)?;
    let notification = notification(options)?;
    let spec = trigger_spec(options)?;
    let aviso = client()?;
    let runtime = aviso.trigger_runtime()?;
    let info = component_info(&runtime, &options.path, &wasm)?;
    if !info.world.is_trigger() {
        anyhow::bail!(
            "{} is a schema parser ({}): aviso plugin run calls triggers",
            options.path.display(),
            info.world.export()
        );
    }
    let path = absolute(&options.path);
    let name = path.display().to_string();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (outcome, limits, validate_log, run_log) = tokio.block_on(async {
        match runtime.load_plugin(&spec).await {
            Err(refused) => {
                let validate_log = lines_since(log, 0, &name);
                (
                    RunOutcome::Refused(refused.to_string()),
                    None,
                    validate_log,
                    Vec::new(),
                )
            }
            Ok((plugin, config)) => {
                let validated = log_count(log);
                let validate_log = lines_since(log, 0, &name);
                let call = plugin.run_measured(&config, &notification).await;
                let run_log = lines_since(log, validated, &name);
                (
                    RunOutcome::Called(call),
                    Some(plugin.limits()),
                    validate_log,
                    run_log,
                )
            }
        }
    });
    let report = RunReport {
        name,
        world: info.world,
        outcome,
        limits,
        validate_log,
        run_log,
    };
    let text = if options.json {
        format!("{}\n", serde_json::to_string_pretty(&report.to_json())?)
    } else {
        report.to_text()
    };
    std::io::stdout().write_all(text.as_bytes())?;
    let succeeded = matches!(&report.outcome, RunOutcome::Called(call) if call.result.is_ok());
    Ok(if succeeded { 0 } else { EXIT_ERROR })
}

impl RunReport {
    /// The report for scripts.
    fn to_json(&self) -> Value {
        let log_json = |call: &str, lines: &[LogLine]| -> Vec<Value> {
            lines
                .iter()
                .map(|l| json!({"call": call, "level": level_word(l.level), "message": l.message}))
                .collect()
        };
        let mut log_lines = log_json("validate", &self.validate_log);
        log_lines.extend(log_json("run", &self.run_log));
        let mut report = json!({
            "plugin": self.name,
            "world": self.world.name(),
            "log": log_lines,
        });
        match &self.outcome {
            RunOutcome::Refused(message) => {
                report["outcome"] = json!({"status": "refused", "message": message});
            }
            RunOutcome::Called(call) => {
                report["outcome"] = match &call.result {
                    Ok(()) => json!({"status": "ok"}),
                    Err(error) => {
                        let (kind, message) = error_parts(error);
                        json!({"status": "error", "kind": kind, "message": message})
                    }
                };
                report["stdout"] = json!(String::from_utf8_lossy(&call.output.stdout));
                report["stderr"] = json!(String::from_utf8_lossy(&call.output.stderr));
                report["time_ms"] = json!(call.elapsed.as_secs_f64() * 1000.0);
                report["peak_memory_bytes"] = json!(call.peak_memory_bytes);
                if let Some(limits) = self.limits {
                    report["memory_limit_bytes"] = json!(limits.memory_bytes);
                    report["timeout_seconds"] = json!(limits.timeout.as_secs_f64());
                }
            }
        }
        report
    }

    /// The report for people.
    fn to_text(&self) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!("plugin: {} ({})", self.name, self.world.name()));
        let indented = |text: &[u8]| -> String {
            crate::plugin::sanitize(&String::from_utf8_lossy(text))
                .lines()
                .map(|l| format!("  {l}\n"))
                .collect()
        };
        let stream = |label: &str, bytes: &[u8]| -> String {
            if bytes.is_empty() {
                format!("{label}: (none)")
            } else {
                format!("{label}:\n{}", indented(bytes).trim_end_matches('\n'))
            }
        };
        let mut log_lines: Vec<String> = self
            .validate_log
            .iter()
            .map(|l| format!("  {} (validate): {}", level_word(l.level), l.message))
            .collect();
        log_lines.extend(
            self.run_log
                .iter()
                .map(|l| format!("  {}: {}", level_word(l.level), l.message)),
        );
        match &self.outcome {
            RunOutcome::Refused(message) => {
                if !log_lines.is_empty() {
                    line(format!("log:\n{}", log_lines.join("\n")));
                }
                line(format!("outcome: refused when loading: {message}"));
            }
            RunOutcome::Called(call) => {
                line(stream("stdout", &call.output.stdout));
                line(stream("stderr", &call.output.stderr));
                if log_lines.is_empty() {
                    line("log: (none)".into());
                } else {
                    line(format!("log:\n{}", log_lines.join("\n")));
                }
                match &call.result {
                    Ok(()) => line("outcome: ok".into()),
                    Err(error) => {
                        let (kind, message) = error_parts(error);
                        line(format!("outcome: {kind}: {message}"));
                    }
                }
                line(format!("time: {}", duration_text(call.elapsed)));
                let limit = self
                    .limits
                    .map(|l| format!(" (limit {} MiB)", l.memory_bytes >> 20))
                    .unwrap_or_default();
                match call.peak_memory_bytes {
                    Some(peak) => line(format!("peak memory: {}{limit}", mib(peak))),
                    None => line(format!("peak memory: unknown, the call was stopped{limit}")),
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// aviso plugin new

/// The SDK this aviso was built with, when its sources are still there.
const BUILT_WITH_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");

const RUST_FILES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../../templates/rust/Cargo.toml.in"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../templates/rust/src/lib.rs"),
    ),
    (
        "README.md",
        include_str!("../../../templates/rust/README.md"),
    ),
    (
        ".cargo/config.toml",
        include_str!("../../../templates/rust/.cargo/config.toml"),
    ),
    (
        ".gitignore",
        include_str!("../../../templates/rust/gitignore"),
    ),
];

const PYTHON_FILES: &[(&str, &str)] = &[
    ("app.py", include_str!("../../../templates/python/app.py")),
    (
        "build.sh",
        include_str!("../../../templates/python/build.sh"),
    ),
    (
        "README.md",
        include_str!("../../../templates/python/README.md"),
    ),
    ("wit/plugin.wit", include_str!("../../../wit/plugin.wit")),
    (
        ".gitignore",
        include_str!("../../../templates/python/gitignore"),
    ),
];

const JS_FILES: &[(&str, &str)] = &[
    ("app.js", include_str!("../../../templates/js/app.js")),
    ("build.sh", include_str!("../../../templates/js/build.sh")),
    ("README.md", include_str!("../../../templates/js/README.md")),
    (
        "package.json",
        include_str!("../../../templates/js/package.json"),
    ),
    (
        "package-lock.json",
        include_str!("../../../templates/js/package-lock.json"),
    ),
    ("wit/plugin.wit", include_str!("../../../wit/plugin.wit")),
    (
        ".gitignore",
        include_str!("../../../templates/js/gitignore"),
    ),
];

fn new_project(folder: &Path, lang: &str, sdk: Option<&Path>) -> anyhow::Result<i32> {
    let name = folder
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        anyhow::bail!(
            "'{}' cannot be a plugin's name: it must start with a letter and hold only letters, digits, - and _",
            folder.display()
        );
    }
    let (files, sdk) = match lang.to_ascii_lowercase().as_str() {
        "rust" => (RUST_FILES, Some(sdk_folder(sdk)?)),
        "python" => (PYTHON_FILES, None),
        "js" | "javascript" => (JS_FILES, None),
        other => anyhow::bail!("Unknown language '{other}': use --lang rust, python or js"),
    };
    if folder.exists() || folder.is_symlink() {
        anyhow::bail!(
            "{} already exists: aviso plugin new writes only into a new folder",
            folder.display()
        );
    }
    if let Some(parent) = folder.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| anyhow::anyhow!("Cannot create {}: {e}", parent.display()))?;
    }
    // create_dir, not create_dir_all: a folder that appeared meanwhile is not written into.
    std::fs::create_dir(folder)
        .map_err(|e| anyhow::anyhow!("Cannot create {}: {e}", folder.display()))?;
    let crate_name = name.replace('-', "_");
    let sdk_text = sdk
        .map(|p| {
            p.display()
                .to_string()
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
        })
        .unwrap_or_default();
    for (file, template) in files {
        let text = template
            .replace("{{name}}", &name)
            .replace("{{crate}}", &crate_name)
            .replace("{{sdk}}", &sdk_text);
        let target = folder.join(file);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, text)
            .map_err(|e| anyhow::anyhow!("Cannot write {}: {e}", target.display()))?;
        if file.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    let shown = folder.display();
    let mut out = std::io::stdout().lock();
    if lang.eq_ignore_ascii_case("rust") {
        writeln!(
            out,
            "Created {shown}: a Rust trigger plugin that logs each notification."
        )?;
        writeln!(out, "Build it:  cd {shown} && cargo build --release")?;
        writeln!(
            out,
            "Try it:    aviso plugin run {shown}/target/wasm32-wasip2/release/{crate_name}.wasm --event flight --notification number=AZ203 --payload Landed"
        )?;
    } else if matches!(lang.to_ascii_lowercase().as_str(), "js" | "javascript") {
        writeln!(
            out,
            "Created {shown}: a JavaScript trigger plugin that logs each notification."
        )?;
        writeln!(
            out,
            "Build it:  {shown}/build.sh   (installs jco and ComponentizeJS with npm, once)"
        )?;
        writeln!(
            out,
            "Try it:    aviso plugin run {shown}/{crate_name}.wasm --event flight --notification number=AZ203 --payload Landed"
        )?;
    } else {
        writeln!(
            out,
            "Created {shown}: a Python trigger plugin that logs each notification."
        )?;
        writeln!(out, "Build it:  {shown}/build.sh")?;
        writeln!(
            out,
            "Try it:    aviso plugin run {shown}/{crate_name}.wasm --memory 128 --event flight --notification number=AZ203 --payload Landed"
        )?;
    }
    Ok(0)
}

/// The aviso-sdk folder a Rust project depends on: `--sdk`, else the one this aviso was built
/// from. The crate is not on crates.io yet.
fn sdk_folder(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let candidate = given.unwrap_or(Path::new(BUILT_WITH_SDK));
    let is_sdk = std::fs::read_to_string(candidate.join("Cargo.toml"))
        .is_ok_and(|manifest| manifest.contains("name = \"aviso-sdk\""));
    match (is_sdk, given) {
        (true, _) => Ok(std::fs::canonicalize(candidate)?),
        (false, Some(given)) => anyhow::bail!(
            "{} is not the aviso-sdk crate's folder (no Cargo.toml of aviso-sdk there)",
            given.display()
        ),
        (false, None) => anyhow::bail!(
            "The Rust SDK (aviso-sdk) is not published yet and the one this aviso was built from ({BUILT_WITH_SDK}) is gone: give its folder (sdk/ in the Aviso sources) with --sdk PATH"
        ),
    }
}
