//! What the host gives a plugin instance: its WASI context (only granted directories and
//! variables, captured output), outbound HTTP restricted to granted origins, the log, and the
//! command capability.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::bindings::aviso::plugin::{command, log, types};
use super::grants::{Grants, HttpOrigin};
use super::{Limits, Output};

/// The store data of one plugin call.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: AllowListHooks,
    pub(super) limits: StoreLimits,
    plugin: Arc<str>,
    command_timeout: Duration,
    output_limit: usize,
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
        tls: Option<Arc<rustls::ClientConfig>>,
        limits: Limits,
    ) -> (HostState, Pipes) {
        let stdout = MemoryOutputPipe::new(limits.output_bytes);
        let stderr = MemoryOutputPipe::new(limits.output_bytes);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
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
            // A directory that disappeared since the plugin was loaded is simply not mounted;
            // the plugin then reports that it cannot open its file.
            if let Err(error) = wasi.preopened_dir(&dir.path, &guest_path, perms) {
                tracing::warn!("Plugin {plugin}: cannot mount {guest_path}: {error}");
            }
        }
        let limits_builder = StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .instances(32)
            .tables(64)
            .memories(16)
            .trap_on_grow_failure(true)
            .build();
        let state = HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks: AllowListHooks {
                allowed: Arc::new(grants.http.clone().unwrap_or_default()),
                plugin: Arc::from(plugin),
                tls,
            },
            limits: limits_builder,
            plugin: Arc::from(plugin),
            command_timeout: limits.timeout,
            output_limit: limits.output_bytes,
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
    tls: Option<Arc<rustls::ClientConfig>>,
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
        let tls = self.tls.clone().filter(|_| allowed);
        let Some(tls) = tls else {
            let shown = origin
                .map(|o| o.to_string())
                .unwrap_or_else(|| uri.to_string());
            tracing::warn!(
                "Plugin {}: outbound HTTP to {shown} denied (not granted)",
                self.plugin
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        };
        Box::new(super::outbound::send(request, options, tls))
    }
}

impl types::Host for HostState {}

impl log::Host for HostState {
    async fn emit(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let plugin = &self.plugin;
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
        failed(format!("cannot start the command{place}: {e}"))
    })?;
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let limit = output_limit as u64;
    let collect = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut stdout = (&mut stdout).take(limit);
        let mut stderr = (&mut stderr).take(limit);
        let (_, _, status) = tokio::join!(
            stdout.read_to_end(&mut out),
            stderr.read_to_end(&mut err),
            child.wait()
        );
        (out, err, status)
    };
    match tokio::time::timeout(timeout, collect).await {
        Ok((out, err, status)) => {
            let status =
                status.map_err(|e| failed(format!("waiting for the command failed: {e}")))?;
            Ok(command::CommandOutput {
                status: status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out).into_owned(),
                stderr: String::from_utf8_lossy(&err).into_owned(),
            })
        }
        Err(_) => {
            if let Some(pid) = pid {
                kill_process_group(pid);
            }
            Err(types::Error::Failed(format!(
                "the command did not finish within {timeout:?} and was killed"
            )))
        }
    }
}

/// Kills the command and everything it started (it runs in its own process group).
fn kill_process_group(pid: u32) {
    if let Ok(group) = i32::try_from(pid) {
        // SAFETY: kill(2) takes plain integers; a negative pid addresses the process group
        // the child leads (it was started with process_group(0)).
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
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
    #[test]
    fn control_characters_are_neutralised() {
        assert_eq!(
            super::sanitize("a\u{1b}[31mb\u{7}\n\tc\u{9b}"),
            "a\u{FFFD}[31mb\u{FFFD}\n\tc\u{FFFD}"
        );
    }
}
