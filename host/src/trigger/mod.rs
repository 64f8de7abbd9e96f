//! Triggers: a listener's trigger entries turned into sandboxed plugins (with their
//! configuration, grants and limits), and running them for a notification. Every trigger of a
//! notification runs, in file order; one failing does not skip the others.

mod aws;
mod policy;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::listener::{FunctionTrigger, TriggerKind, TriggerSpec};
use crate::notification::Notification;
use crate::plugin::{
    ComponentCache, DirGrant, Grants, HttpOrigin, Limits, Output, Plugin, PluginEngine,
    PluginError, PluginNotification, builtin,
};
pub use policy::PluginPolicy;

/// A trigger that cannot be set up; raised when listeners load, before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Trigger {trigger} could not be created: {reason}")]
pub struct TriggerError {
    /// The trigger as the user wrote it (type and main setting).
    pub trigger: String,
    /// Its place among the listener's triggers, from 1.
    pub position: usize,
    pub reason: String,
}

/// Where what plugins print on stdout goes.
#[derive(Debug, Clone, Default)]
pub enum OutputSink {
    /// Aviso's own stdout (the echo trigger's output is for the user to see).
    #[default]
    Stdout,
    /// A buffer, for programs that embed Aviso and for tests.
    Buffer(Arc<Mutex<Vec<u8>>>),
}

impl OutputSink {
    /// A new, empty buffer sink.
    pub fn buffer() -> OutputSink {
        OutputSink::Buffer(Arc::default())
    }

    /// What a buffer sink holds so far (empty for stdout).
    pub fn contents(&self) -> String {
        match self {
            OutputSink::Stdout => String::new(),
            OutputSink::Buffer(buffer) => {
                String::from_utf8_lossy(&buffer.lock().expect("not poisoned")).into_owned()
            }
        }
    }

    fn write(&self, text: &str) {
        match self {
            OutputSink::Stdout => {
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(text.as_bytes());
                let _ = stdout.flush();
            }
            OutputSink::Buffer(buffer) => buffer
                .lock()
                .expect("not poisoned")
                .extend_from_slice(text.as_bytes()),
        }
    }
}

/// Loads plugins and keeps what can be shared between triggers.
#[derive(Clone)]
pub struct TriggerRuntime {
    engine: PluginEngine,
    policy: Arc<PluginPolicy>,
    output: OutputSink,
    /// User plugin files already read, by path.
    files: Arc<Mutex<HashMap<PathBuf, Arc<Vec<u8>>>>>,
}

impl TriggerRuntime {
    /// A runtime with an engine of its own (tests, programs that want one per runtime).
    pub fn new(cache: ComponentCache, policy: PluginPolicy) -> Result<TriggerRuntime, PluginError> {
        let engine = PluginEngine::with_concurrency(cache, policy.concurrent_calls())?;
        Ok(TriggerRuntime::with_engine(engine, policy))
    }

    /// A runtime on an existing engine, such as the process's ([`crate::plugin::process_engine`]).
    pub fn with_engine(engine: PluginEngine, policy: PluginPolicy) -> TriggerRuntime {
        TriggerRuntime {
            engine,
            policy: Arc::new(policy),
            output: OutputSink::Stdout,
            files: Arc::default(),
        }
    }

    /// Sends what plugins print to `sink` instead of stdout.
    pub fn with_output(mut self, sink: OutputSink) -> TriggerRuntime {
        self.output = sink;
        self
    }

    pub fn engine(&self) -> &PluginEngine {
        &self.engine
    }

    /// Builds and validates the triggers of one listener.
    pub async fn load(&self, specs: &[TriggerSpec]) -> Result<TriggerSet, TriggerError> {
        let mut triggers = Vec::with_capacity(specs.len());
        for (index, spec) in specs.iter().enumerate() {
            let trigger = self.load_one(spec).await.map_err(|error| TriggerError {
                position: index + 1,
                ..error
            })?;
            triggers.push(trigger);
        }
        Ok(TriggerSet { triggers })
    }

    /// Loads one plugin trigger exactly as a listener does (its settings, its grants within the
    /// site policy, `validate`) and hands back the plugin with the configuration its calls get:
    /// what `aviso plugin run` calls.
    pub async fn load_plugin(&self, spec: &TriggerSpec) -> Result<(Plugin, String), TriggerError> {
        let trigger = self.load_one(spec).await?;
        match trigger.action {
            Action::Plugin { plugin, config, .. } => Ok((plugin, config)),
            Action::Function(_) => Err(TriggerError {
                trigger: trigger.label,
                position: 1,
                reason: "a function trigger is not a plugin".into(),
            }),
        }
    }

    async fn load_one(&self, spec: &TriggerSpec) -> Result<Trigger, TriggerError> {
        let label = label(spec);
        let error = |reason: String| TriggerError {
            trigger: label.clone(),
            position: 1,
            reason,
        };
        let settings = match &spec.settings {
            Value::Object(map) => map.clone(),
            other => return Err(error(format!("expected a mapping, found {other}"))),
        };
        let common = CommonSettings::read(&settings, spec.kind).map_err(error)?;
        if spec.kind == TriggerKind::Function {
            let function = spec.function.clone().ok_or_else(|| {
                error("'function' is a mandatory field for the 'Function' trigger".into())
            })?;
            return Ok(Trigger {
                label,
                action: Action::Function(function),
                common,
                output: self.output.clone(),
            });
        }
        let setup = match spec.kind {
            TriggerKind::Echo => {
                PluginSetup::builtin("echo", builtin::ECHO, Grants::default(), &common, settings)
            }
            TriggerKind::Log => {
                let (grants, config) = log_grants(settings).map_err(error)?;
                PluginSetup {
                    local_time: true,
                    ..PluginSetup::builtin("log", builtin::LOG, grants, &common, config)
                }
            }
            TriggerKind::Command => {
                let settings = command_settings(settings).map_err(error)?;
                let grants = Grants {
                    command: true,
                    ..Grants::default()
                };
                PluginSetup::builtin("command", builtin::COMMAND, grants, &common, settings)
            }
            TriggerKind::Post => {
                let (grants, config) = post_grants(settings);
                PluginSetup::builtin("post", builtin::POST, grants, &common, config)
            }
            TriggerKind::Plugin => {
                let user =
                    policy::UserPlugin::read(&settings, &self.policy, &common).map_err(error)?;
                PluginSetup {
                    name: user.path.display().to_string(),
                    wasm: self.read_plugin_file(&user.path).map_err(error)?,
                    grants: user.grants,
                    limits: user.limits,
                    config: user.config,
                    local_time: false,
                }
            }
            TriggerKind::Function => unreachable!("function triggers are built above"),
        };
        let PluginSetup {
            name,
            wasm,
            grants,
            limits,
            config,
            local_time,
        } = setup;
        let plugin = self
            .engine
            .load(&name, &wasm, grants, limits)
            .map_err(|e| error(e.to_string()))?;
        let config = Value::Object(config).to_string();
        // The plugin checks its own settings now, so a listener with a broken trigger never starts.
        plugin
            .validate(&config)
            .await
            .map_err(|(e, _)| error(e.to_string()))?;
        Ok(Trigger {
            label,
            action: Action::Plugin {
                plugin,
                config,
                local_time,
            },
            common,
            output: self.output.clone(),
        })
    }

    fn read_plugin_file(&self, path: &Path) -> Result<Arc<Vec<u8>>, String> {
        let mut files = self.files.lock().expect("not poisoned");
        if let Some(bytes) = files.get(path) {
            return Ok(bytes.clone());
        }
        let bytes = Arc::new(std::fs::read(path).map_err(|e| {
            format!(
                "cannot read plugin {}: {}",
                path.display(),
                crate::cause::io_error(&e)
            )
        })?);
        files.insert(path.to_path_buf(), bytes.clone());
        Ok(bytes)
    }
}

/// Everything needed to load one trigger's plugin.
struct PluginSetup {
    name: String,
    wasm: Arc<Vec<u8>>,
    grants: Grants,
    limits: Limits,
    config: Map<String, Value>,
    /// Give the plugin the local time zone's offset on each call.
    local_time: bool,
}

impl PluginSetup {
    fn builtin(
        name: &str,
        wasm: &'static [u8],
        grants: Grants,
        common: &CommonSettings,
        config: Map<String, Value>,
    ) -> PluginSetup {
        PluginSetup {
            name: name.to_string(),
            wasm: Arc::new(wasm.to_vec()),
            grants,
            limits: common.limits(),
            config,
            local_time: false,
        }
    }
}

/// How the user will recognise a trigger in messages: its type and main setting.
fn label(spec: &TriggerSpec) -> String {
    let main = ["path", "command"]
        .iter()
        .find_map(|key| spec.settings.get(key).and_then(Value::as_str))
        .or_else(|| {
            spec.settings
                .get("protocol")
                .and_then(|p| p.get("url"))
                .and_then(Value::as_str)
        });
    match main {
        Some(main) => format!("{} ({main})", spec.kind),
        None => spec.kind.to_string(),
    }
}

/// The log plugin may write only in the directory of its file, which must exist.
fn log_grants(mut settings: Map<String, Value>) -> Result<(Grants, Map<String, Value>), String> {
    let path = match settings.get("path") {
        Some(Value::String(p)) => crate::config::expand_user_path(p)?,
        Some(other) => return Err(format!("path must be a string, found {other}")),
        None => return Err("path is a mandatory field".into()),
    };
    let absolute = std::path::absolute(&path)
        .map_err(|e| format!("path {} cannot be used: {e}", path.display()))?;
    let dir = absolute
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .ok_or_else(|| format!("path {} has no directory", absolute.display()))?
        .to_path_buf();
    if !dir.is_dir() {
        return Err(format!(
            "the directory {} of the log file does not exist",
            dir.display()
        ));
    }
    // Checked now, not at the first notification: every one would fail.
    let (target, what) = if absolute.exists() {
        (absolute.as_path(), "the log file")
    } else {
        (dir.as_path(), "the directory of the log file")
    };
    if !may_write(target) {
        return Err(format!(
            "{what} {} is not writable by this user",
            target.display()
        ));
    }
    let grant = DirGrant::open(&dir, true)
        .map_err(|e| format!("the directory {} of the log file: {e}", dir.display()))?;
    settings.insert("path".into(), Value::String(absolute.display().to_string()));
    let grants = Grants {
        dirs: vec![grant],
        ..Grants::default()
    };
    Ok((grants, settings))
}

/// Whether this process may write `path` (a file, or a folder to create files in).
fn may_write(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mode = if path.is_dir() {
        libc::W_OK | libc::X_OK
    } else {
        libc::W_OK
    };
    // SAFETY: c_path is a valid NUL-terminated string that outlives the call.
    unsafe { libc::access(c_path.as_ptr(), mode) == 0 }
}

/// A command's `working_dir` as the user wrote it (`~`, `$VAR`), which must be a folder.
fn command_settings(mut settings: Map<String, Value>) -> Result<Map<String, Value>, String> {
    if let Some(Value::String(dir)) = settings.get("working_dir") {
        let expanded = crate::config::expand_user_path(dir)?;
        if !expanded.is_dir() {
            return Err(format!(
                "working_dir {} is not an existing folder",
                expanded.display()
            ));
        }
        settings.insert(
            "working_dir".into(),
            Value::String(expanded.display().to_string()),
        );
    }
    Ok(settings)
}

/// The post plugin may reach only the origin of its URL (or of the SNS endpoint); for SNS it
/// also gets the credentials the sandbox cannot look up.
fn post_grants(mut settings: Map<String, Value>) -> (Grants, Map<String, Value>) {
    let mut origin = None;
    let mut insecure_tls = false;
    if let Some(Value::Object(protocol)) = settings.get_mut("protocol") {
        insecure_tls = protocol.get("verify") == Some(&Value::Bool(false));
        let kind = protocol
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        if kind.as_deref() == Some("cloudevents_aws") {
            origin = aws::sns_origin(protocol);
            aws::add_credentials(protocol);
        } else {
            origin = protocol
                .get("url")
                .and_then(Value::as_str)
                .and_then(HttpOrigin::of_url);
        }
    }
    let grants = Grants {
        http: Some(origin.into_iter().collect()),
        insecure_tls,
        ..Grants::default()
    };
    (grants, settings)
}

/// Settings every trigger takes besides its own.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CommonSettings {
    timeout: Duration,
    retries: u32,
    required: bool,
}

/// Delay before the first retry; it doubles each time, up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The longest time limit a trigger or a user plugin may have (`timeout`, `limits.timeout`,
/// `plugins.limits.timeout`, `plugins.defaults.timeout`). No workflow step waits a week for a
/// trigger, and the bound keeps every deadline computed from a limit (`Instant::now() + timeout`,
/// epoch ticks) far from the ends of `Duration` and `Instant`.
pub const MAX_TRIGGER_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// A time limit given in seconds. Checked before it becomes a `Duration`:
/// `Duration::from_secs_f64` panics above 2^64 s, so `timeout: 1e20` used to abort `listen`.
fn timeout_setting(value: &Value, setting: &str) -> Result<Duration, String> {
    value
        .as_f64()
        .filter(|seconds| *seconds > 0.0)
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .filter(|timeout| !timeout.is_zero() && *timeout <= MAX_TRIGGER_TIMEOUT)
        .ok_or_else(|| {
            format!(
                "{setting} must be a positive number of seconds up to {} (7 days), found {value}",
                MAX_TRIGGER_TIMEOUT.as_secs()
            )
        })
}

impl CommonSettings {
    fn read(settings: &Map<String, Value>, kind: TriggerKind) -> Result<CommonSettings, String> {
        let default_timeout = match kind {
            TriggerKind::Command => Duration::from_secs(6 * 3600),
            TriggerKind::Post | TriggerKind::Plugin => Duration::from_secs(120),
            TriggerKind::Echo | TriggerKind::Log | TriggerKind::Function => Duration::from_secs(30),
        };
        // Every wrong setting is named at once, not the first only.
        let timeout = match settings.get("timeout") {
            None | Some(Value::Null) => Ok(default_timeout),
            Some(value) => timeout_setting(value, "timeout"),
        };
        let retries = match settings.get("retries") {
            None | Some(Value::Null) => Ok(0),
            Some(v) => v
                .as_u64()
                .and_then(|r| u32::try_from(r).ok())
                .filter(|r| *r <= 100)
                .ok_or_else(|| format!("retries must be a whole number from 0 to 100, found {v}")),
        };
        let required = match settings.get("required") {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(format!("required must be true or false, found {other}")),
        };
        match (timeout, retries, required) {
            (Ok(timeout), Ok(retries), Ok(required)) => Ok(CommonSettings {
                timeout,
                retries,
                required,
            }),
            (timeout, retries, required) => Err([timeout.err(), retries.err(), required.err()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ")),
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            timeout: self.timeout,
            ..Limits::default()
        }
    }
}

/// The triggers of one listener, ready to run.
#[derive(Debug, Clone)]
pub struct TriggerSet {
    triggers: Vec<Trigger>,
}

#[derive(Debug, Clone)]
struct Trigger {
    label: String,
    action: Action,
    common: CommonSettings,
    output: OutputSink,
}

#[derive(Debug, Clone)]
enum Action {
    Plugin {
        plugin: Plugin,
        config: String,
        /// Give the plugin the local time zone's offset (the log line uses local time).
        local_time: bool,
    },
    Function(FunctionTrigger),
}

/// What happened to one trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerOutcome {
    /// Its position in the listener's `triggers`, from 0.
    pub index: usize,
    pub trigger: String,
    pub required: bool,
    /// `Err` holds the last failure, after every retry.
    pub result: Result<(), String>,
    pub attempts: u32,
}

/// What happened to the triggers of one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub triggers: Vec<TriggerOutcome>,
}

impl Outcome {
    pub fn all_succeeded(&self) -> bool {
        self.triggers.iter().all(|t| t.result.is_ok())
    }

    /// Whether a failed trigger is marked `required`, so the notification must not count as
    /// delivered.
    pub fn required_failed(&self) -> bool {
        self.triggers
            .iter()
            .any(|t| t.required && t.result.is_err())
    }
}

impl TriggerSet {
    pub fn len(&self) -> usize {
        self.triggers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.triggers.is_empty()
    }

    /// How the user recognises each trigger in messages, in order.
    pub fn labels(&self) -> Vec<String> {
        self.triggers.iter().map(|t| t.label.clone()).collect()
    }

    /// Runs every trigger for the notification stored at `key` (revision `revision`).
    pub async fn run(&self, notification: &Notification, key: &str, revision: u64) -> Outcome {
        let every: Vec<usize> = (0..self.triggers.len()).collect();
        self.run_only(&every, notification, key, revision).await
    }

    /// Runs the triggers at these positions (in `triggers`), in order; others are left out
    /// (those that already succeeded for this notification, when it is tried again).
    pub async fn run_only(
        &self,
        which: &[usize],
        notification: &Notification,
        key: &str,
        revision: u64,
    ) -> Outcome {
        let wit_notification = PluginNotification {
            event: notification.event.clone(),
            request: notification
                .request
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            payload_field: notification.payload_field.clone(),
            payload: notification.payload.clone(),
            key: key.to_string(),
            revision,
        };
        let mut outcomes = Vec::with_capacity(which.len());
        for &index in which {
            let Some(trigger) = self.triggers.get(index) else {
                continue;
            };
            let mut outcome = trigger.run(notification, &wit_notification).await;
            outcome.index = index;
            outcomes.push(outcome);
        }
        Outcome { triggers: outcomes }
    }
}

/// The triggers running now, with when each started: what a stop request waits for.
static RUNNING: std::sync::Mutex<Vec<(u64, String, std::time::Instant)>> =
    std::sync::Mutex::new(Vec::new());

/// Marks a trigger as running for as long as it lives.
struct RunningTrigger(u64);

impl RunningTrigger {
    fn start(label: &str) -> RunningTrigger {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        running.push((id, label.to_string(), std::time::Instant::now()));
        RunningTrigger(id)
    }
}

impl Drop for RunningTrigger {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        running.retain(|(id, _, _)| *id != self.0);
    }
}

/// The triggers of this process running now, and for how long each has run, oldest first.
pub fn running_triggers() -> Vec<(String, Duration)> {
    let running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
    running
        .iter()
        .map(|(_, label, started)| (label.clone(), started.elapsed()))
        .collect()
}

impl Trigger {
    async fn run(
        &self,
        notification: &Notification,
        wit_notification: &PluginNotification,
    ) -> TriggerOutcome {
        let _running = RunningTrigger::start(&self.label);
        let mut attempts = 0;
        let mut backoff = FIRST_BACKOFF;
        loop {
            attempts += 1;
            let (result, retryable) = self.attempt(notification, wit_notification).await;
            match result {
                Ok(()) => {
                    tracing::debug!("Trigger {} completed", self.label);
                    return self.outcome(Ok(()), attempts);
                }
                Err(reason) if retryable && attempts <= self.common.retries => {
                    tracing::warn!(
                        "Trigger {} failed (attempt {attempts} of {}): {reason}; trying again in {}",
                        self.label,
                        self.common.retries + 1,
                        crate::cause::duration(backoff)
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(reason) => {
                    tracing::error!("Trigger {} could not be executed: {reason}", self.label);
                    return self.outcome(Err(reason), attempts);
                }
            }
        }
    }

    fn outcome(&self, result: Result<(), String>, attempts: u32) -> TriggerOutcome {
        TriggerOutcome {
            index: 0,
            trigger: self.label.clone(),
            required: self.common.required,
            result,
            attempts,
        }
    }

    /// One attempt; the flag says whether a failure is worth retrying.
    async fn attempt(
        &self,
        notification: &Notification,
        wit_notification: &PluginNotification,
    ) -> (Result<(), String>, bool) {
        match &self.action {
            Action::Plugin {
                plugin,
                config,
                local_time,
            } => {
                let config = if *local_time {
                    with_local_offset(config)
                } else {
                    config.clone()
                };
                match plugin.run(&config, wit_notification).await {
                    Ok(output) => {
                        show_output(&self.label, &output, &self.output);
                        (Ok(()), false)
                    }
                    Err((error, output)) => {
                        show_output(&self.label, &output, &self.output);
                        let retryable = !matches!(
                            error,
                            PluginError::InvalidConfig(_) | PluginError::Denied(_)
                        );
                        (Err(error.to_string()), retryable)
                    }
                }
            }
            Action::Function(function) => {
                let function = function.clone();
                let notification = notification.clone();
                let call = tokio::task::spawn_blocking(move || function.call(&notification));
                match tokio::time::timeout(self.common.timeout, call).await {
                    Ok(Ok(result)) => (result, true),
                    Ok(Err(join_error)) => {
                        (Err(format!("the function panicked: {join_error}")), true)
                    }
                    Err(_) => (
                        Err(format!(
                            "stopped after the time limit of {:?}",
                            self.common.timeout
                        )),
                        true,
                    ),
                }
            }
        }
    }
}

/// Adds `utc_offset_seconds` (the local time zone's current offset) to a JSON config.
fn with_local_offset(config: &str) -> String {
    let offset = chrono::Local::now().offset().local_minus_utc();
    match serde_json::from_str::<Value>(config) {
        Ok(Value::Object(mut map)) => {
            map.insert("utc_offset_seconds".into(), Value::from(offset));
            Value::Object(map).to_string()
        }
        _ => config.to_string(),
    }
}

/// A plugin's stdout goes to aviso's stdout, its stderr to the log; terminal control characters
/// are neutralised in both.
fn show_output(label: &str, output: &Output, sink: &OutputSink) {
    if !output.stdout.is_empty() {
        sink.write(&crate::plugin::sanitize(&String::from_utf8_lossy(
            &output.stdout,
        )));
    }
    if !output.stderr.is_empty() {
        let text = crate::plugin::sanitize(&String::from_utf8_lossy(&output.stderr));
        for line in text.lines() {
            tracing::info!("Trigger {label}: {line}");
        }
    }
}

#[cfg(test)]
mod tests;
