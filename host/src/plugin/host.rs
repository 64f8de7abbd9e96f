//! What the host gives a plugin instance: its WASI context (only granted directories and
//! variables, captured output), outbound HTTP restricted to granted origins, the log, and the
//! command capability.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::bindings::aviso::plugin::{command, log, types};
use super::grants::{Grants, HttpOrigin};
use super::limiter::CallMemory;
use super::{Limits, Output};

/// Host-side objects (streams, HTTP fields, ...) one call may hold at once; the guest creates
/// them, the host pays for them.
pub(super) const MAX_HOST_RESOURCES: usize = 4096;
/// Largest HTTP header field a plugin may build.
const MAX_HTTP_FIELD_BYTES: usize = 32 << 10;
/// Most random bytes one `get-random-bytes` call may ask for.
const MAX_RANDOM_BYTES: u64 = 1 << 20;
/// Longest log message; longer ones are cut and marked.
const MAX_LOG_MESSAGE_BYTES: usize = 16 << 10;
/// Most log messages one call may emit; later ones are dropped, once noted.
const MAX_LOG_MESSAGES: u32 = 1000;

/// The store data of one plugin call.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: AllowListHooks,
    pub(super) memory: CallMemory,
    plugin: Arc<str>,
    command_timeout: Duration,
    output_limit: usize,
    log: LogBudget,
    /// The tenant of `aviso serve` whose plugin this is: its log bytes quota.
    tenant: Option<Arc<crate::quota::TenantQuota>>,
}

/// What one call may still send to the log: bytes (the call's output limit) and messages.
struct LogBudget {
    bytes_left: usize,
    messages_left: u32,
    /// Messages dropped once the budget ran out.
    dropped: u64,
}

/// The captured stdout and stderr of a call.
pub struct Pipes {
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl Pipes {
    pub fn output(&self) -> Output {
        Output {
            stdout: self.stdout.contents().to_vec(),
            stderr: self.stderr.contents().to_vec(),
        }
    }
}

impl HostState {
    pub fn new(
        plugin: &str,
        grants: &Arc<Grants>,
        http_client: Option<reqwest::Client>,
        limits: Limits,
        tenant: Option<Arc<crate::quota::TenantQuota>>,
    ) -> (HostState, Pipes) {
        let stdout = MemoryOutputPipe::new(limits.output_bytes);
        let stderr = MemoryOutputPipe::new(limits.output_bytes);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(MAX_RANDOM_BYTES);
        for (name, value) in &grants.env {
            wasi.env(name, value);
        }
        for dir in &grants.dirs {
            let perms = if dir.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            let guest_path = dir.path.display().to_string();
            // The directory opened when the grant was checked, through its descriptor: what
            // the plugin gets is what was checked, even if a path on the way changed since.
            if let Err(error) = wasi.preopened_dir(dir.opened_path(), &guest_path, perms) {
                tracing::warn!("Plugin {plugin}: cannot mount {guest_path}: {error}");
            }
        }
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_HOST_RESOURCES);
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(MAX_HTTP_FIELD_BYTES);
        let state = HostState {
            wasi: wasi.build(),
            table,
            http,
            hooks: AllowListHooks {
                allowed: Arc::new(grants.http.clone().unwrap_or_default()),
                plugin: Arc::from(plugin),
                http_client,
            },
            memory: CallMemory::new(limits.memory_bytes),
            plugin: Arc::from(plugin),
            command_timeout: limits.timeout,
            output_limit: limits.output_bytes,
            log: LogBudget {
                bytes_left: limits.output_bytes,
                messages_left: MAX_LOG_MESSAGES,
                dropped: 0,
            },
            tenant,
        };
        (state, Pipes { stdout, stderr })
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Sends a plugin's HTTP request only when its scheme, host and port were granted.
struct AllowListHooks {
    allowed: Arc<Vec<HttpOrigin>>,
    plugin: Arc<str>,
    /// Present when the plugin was granted HTTP.
    http_client: Option<reqwest::Client>,
}

impl WasiHttpHooks for AllowListHooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                )>,
            > + Send,
    > {
        let _ = fut;
        let uri = request.uri();
        let origin = uri.authority().and_then(|a| {
            HttpOrigin::of_authority(uri.scheme() == Some(&http::uri::Scheme::HTTPS), a.as_str())
        });
        let allowed = origin.as_ref().is_some_and(|o| self.allowed.contains(o));
        let client = self.http_client.clone().filter(|_| allowed);
        let Some(client) = client else {
            let shown = origin
                .map(|o| o.to_string())
                .unwrap_or_else(|| uri.to_string());
            tracing::warn!(
                "Plugin {}: outbound HTTP to {shown} denied (not granted)",
                self.plugin
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        };
        Box::new(super::outbound::send(
            client,
            self.plugin.clone(),
            request,
            options,
        ))
    }
}

impl types::Host for HostState {}

impl log::Host for HostState {
    async fn emit(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let plugin = &self.plugin;
        let Some(message) = self.log.admit(message) else {
            if self.log.dropped == 1 {
                tracing::warn!(
                    "{plugin}: log limit of this call reached ({} messages or {} bytes); further messages are dropped",
                    MAX_LOG_MESSAGES,
                    self.output_limit
                );
            }
            return Ok(());
        };
        if let Some(tenant) = &self.tenant
            && !tenant.admit_log(message.len())
        {
            return Ok(());
        }
        let message = sanitize(&message);
        match level {
            log::Level::Debug => tracing::debug!("{plugin}: {message}"),
            log::Level::Info => tracing::info!("{plugin}: {message}"),
            log::Level::Warn => tracing::warn!("{plugin}: {message}"),
            log::Level::Error => tracing::error!("{plugin}: {message}"),
        }
        Ok(())
    }
}

impl LogBudget {
    /// The message as it may be logged (cut to the longest allowed), or `None` once the call's
    /// budget is spent.
    fn admit(&mut self, mut message: String) -> Option<String> {
        if self.messages_left == 0 || self.bytes_left == 0 {
            self.dropped += 1;
            return None;
        }
        self.messages_left -= 1;
        let allowed = self.bytes_left.min(MAX_LOG_MESSAGE_BYTES);
        if message.len() > allowed {
            let cut = floor_char_boundary(&message, allowed);
            let removed = message.len() - cut;
            message.truncate(cut);
            message.push_str(&format!(" [... {removed} bytes cut]"));
            self.bytes_left -= cut;
        } else {
            self.bytes_left -= message.len();
        }
        Some(message)
    }
}

/// The largest index at or below `index` that starts a character.
fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

impl command::Host for HostState {
    async fn run(
        &mut self,
        request: command::CommandRequest,
    ) -> wasmtime::Result<Result<command::CommandOutput, types::Error>> {
        Ok(run_command(request, self.command_timeout, self.output_limit).await)
    }
}

/// The environment variable that holds the `${jsonpath}` file's path.
const JSONPATH_VARIABLE: &str = "AVISO_JSONPATH";
/// The text in `environment` values that stands for that path.
const JSONPATH_TOKEN: &str = "${jsonpath}";

/// Runs the request's script with `/bin/sh`; notification values only ever reach it as
/// environment variables.
async fn run_command(
    request: command::CommandRequest,
    trigger_timeout: Duration,
    output_limit: usize,
) -> Result<command::CommandOutput, types::Error> {
    let failed = |what: String| types::Error::Failed(what);
    // A private directory (mode 0700) for the JSON file, removed when this call ends.
    let json_dir = match &request.json_file {
        None => None,
        Some(content) => {
            let dir = tempfile::Builder::new()
                .prefix("aviso-")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .tempdir()
                .map_err(|e| failed(format!("cannot create the ${{jsonpath}} file: {e}")))?;
            let path = dir.path().join("notification.json");
            std::fs::write(&path, content)
                .map_err(|e| failed(format!("cannot write the ${{jsonpath}} file: {e}")))?;
            Some((dir, path.display().to_string()))
        }
    };
    let mut command = tokio::process::Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(&request.script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    for (name, value) in &request.variables {
        command.env(name, value);
    }
    for (name, value) in &request.environment {
        match &json_dir {
            Some((_, path)) => command.env(name, value.replace(JSONPATH_TOKEN, path)),
            None => command.env(name, value),
        };
    }
    if let Some((_, path)) = &json_dir {
        command.env(JSONPATH_VARIABLE, path);
    }
    if let Some(dir) = &request.working_dir {
        command.current_dir(dir);
    }
    let timeout = match request.timeout_seconds {
        0 => trigger_timeout,
        seconds => Duration::from_secs(u64::from(seconds)).min(trigger_timeout),
    };
    let mut child = command.spawn().map_err(|e| {
        let place = request
            .working_dir
            .as_deref()
            .map(|d| format!(" in {d}"))
            .unwrap_or_default();
        // E2BIG: a value put into the command line is larger than the system allows.
        let hint = if e.raw_os_error() == Some(libc::E2BIG) {
            " (a value substituted into the command, such as ${payload}, is larger than a command's arguments and environment may be: have the command read the notification from the file that ${jsonpath} names instead)"
        } else {
            ""
        };
        failed(format!(
            "cannot start the command{place}: {}{hint}",
            crate::cause::io_error(&e)
        ))
    })?;
    let pid = child.id();
    // Killed with everything it started if this call is abandoned (its listener stops, the
    // process is told to stop at once) before the command ends.
    let group = pid
        .and_then(|pid| i32::try_from(pid).ok())
        .map(RunningGroup::new);
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let collect = async {
        let (out, err, status) = tokio::join!(
            read_capped(&mut stdout, output_limit),
            read_capped(&mut stderr, output_limit),
            child.wait()
        );
        (out, err, status)
    };
    let outcome = tokio::time::timeout(timeout, collect).await;
    if outcome.is_ok()
        && let Some(group) = group
    {
        group.finished();
    }
    match outcome {
        Ok((out, err, status)) => {
            let status =
                status.map_err(|e| failed(format!("waiting for the command failed: {e}")))?;
            Ok(command::CommandOutput {
                status: status.code().unwrap_or(-1),
                stdout: out.into_text(),
                stderr: err.into_text(),
            })
        }
        Err(_) => {
            // The group guard kills the command and what it started.
            Err(types::Error::Failed(format!(
                "the command did not finish within {} and was killed",
                crate::cause::duration(timeout)
            )))
        }
    }
}

/// What a command printed on one stream, up to the output limit.
struct CappedOutput {
    kept: Vec<u8>,
    /// Bytes read past the limit and dropped.
    dropped: u64,
}

impl CappedOutput {
    fn into_text(self) -> String {
        let mut text = String::from_utf8_lossy(&self.kept).into_owned();
        if self.dropped > 0 {
            text.push_str(&format!(
                "\n[output truncated: {} more bytes dropped]",
                self.dropped
            ));
        }
        text
    }
}

/// Reads a stream to its end, keeping the first `limit` bytes; the rest is read and dropped,
/// so a command that prints a lot never blocks on a full pipe.
async fn read_capped(stream: &mut (impl AsyncRead + Unpin), limit: usize) -> CappedOutput {
    let mut kept = Vec::new();
    let mut dropped = 0u64;
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&buffer[..room]);
                dropped += (n - room) as u64;
            }
        }
    }
    CappedOutput { kept, dropped }
}

/// Process groups of the commands running now, so that a forced stop can kill them.
static RUNNING_GROUPS: std::sync::Mutex<std::collections::BTreeSet<i32>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A running command's process group (it leads one of its own): killed when dropped unless the
/// command finished.
struct RunningGroup(i32);

impl RunningGroup {
    fn new(group: i32) -> RunningGroup {
        lock_groups().insert(group);
        RunningGroup(group)
    }

    /// The command ended by itself: what it left running in the background is its business.
    fn finished(self) {
        lock_groups().remove(&self.0);
        std::mem::forget(self);
    }
}

impl Drop for RunningGroup {
    fn drop(&mut self) {
        lock_groups().remove(&self.0);
        kill_process_group(self.0);
    }
}

fn lock_groups() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<i32>> {
    RUNNING_GROUPS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Kills every command running now, with everything it started: for a stop that cannot wait.
pub fn kill_running_commands() -> usize {
    let groups: Vec<i32> = lock_groups().iter().copied().collect();
    for group in &groups {
        kill_process_group(*group);
    }
    groups.len()
}

/// Kills a process group.
fn kill_process_group(group: i32) {
    // SAFETY: kill(2) takes plain integers; a negative pid addresses the process group the
    // command leads (it was started with process_group(0)).
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

/// Replaces terminal control characters (escape sequences could rewrite the operator's screen)
/// with U+FFFD; newlines and tabs stay.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_messages_are_cut_and_counted() {
        let mut budget = LogBudget {
            bytes_left: 40_000,
            messages_left: 3,
            dropped: 0,
        };
        let long = budget.admit("é".repeat(20_000)).unwrap();
        assert!(long.len() < MAX_LOG_MESSAGE_BYTES + 40);
        assert!(long.ends_with("bytes cut]"), "{long}");
        assert_eq!(budget.admit("short".into()).as_deref(), Some("short"));
        assert!(budget.admit("x".into()).is_some());
        assert_eq!(budget.admit("over".into()), None);
        assert_eq!(budget.dropped, 1);
    }

    #[tokio::test]
    async fn output_past_the_limit_is_read_and_dropped() {
        let data = vec![b'x'; 300_000];
        let mut stream: &[u8] = &data;
        let output = read_capped(&mut stream, 1000).await;
        assert_eq!(output.kept.len(), 1000);
        assert_eq!(output.dropped, 299_000);
        assert!(
            output
                .into_text()
                .ends_with("[output truncated: 299000 more bytes dropped]")
        );
    }

    #[test]
    fn control_characters_are_neutralised() {
        assert_eq!(
            sanitize("a\u{1b}[31mb\u{7}\n\tc\u{9b}"),
            "a\u{FFFD}[31mb\u{FFFD}\n\tc\u{FFFD}"
        );
    }
}
