//! The WebAssembly plugin host (wasmtime 48): loads trigger components once, and runs each call
//! in a fresh sandbox with a memory cap, a time cap, bounded output and only the capabilities
//! granted to that plugin.

mod cache;
mod grants;
mod host;
mod outbound;
mod parser;

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

pub use cache::ComponentCache;
pub use grants::{DirGrant, Grants, HttpOrigin};
use host::HostState;
pub use host::sanitize;

/// The bindings of our WIT package (`wit/plugin.wit`).
pub mod bindings {
    wasmtime::component::bindgen!({
        world: "command-trigger-plugin",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// The bindings of the schema parser world; the shared interfaces are those above.
pub mod parser_bindings {
    wasmtime::component::bindgen!({
        world: "schema-parser-plugin",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "aviso:plugin/types": super::bindings::aviso::plugin::types,
            "aviso:plugin/log": super::bindings::aviso::plugin::log,
        },
    });
}

use bindings::aviso::plugin::types::Error as WitError;
pub use bindings::aviso::plugin::types::Notification as PluginNotification;
pub use parser::SchemaParserPlugin;

/// The built-in plugins, compiled by `host/build.rs` and embedded in the binary.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));
}

/// How often the epoch advances; a plugin's time cap is counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Most concurrent plugin instances in one process.
const POOL_INSTANCES: u32 = 64;
/// Instances whose memory is given back to the kernel together (each giving back costs every
/// core an interrupt to flush its address translations).
const DECOMMIT_BATCH: usize = 16;
/// The largest memory any plugin may be granted.
pub const MAX_MEMORY_BYTES: usize = 1 << 30;
/// Most data one guest-to-host call may copy (a log message, a command request).
const HOSTCALL_LIMIT_BYTES: usize = 8 << 20;

/// Resource limits of one plugin call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory per instance.
    pub memory_bytes: usize,
    /// Wall-clock time of one call (the guest's run and what it asks of the host).
    pub timeout: Duration,
    /// Captured stdout and stderr, each.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(60),
            output_bytes: 1 << 20,
        }
    }
}

/// Why a plugin could not be loaded or a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    #[error("cannot load plugin {plugin}: {reason}")]
    Load { plugin: String, reason: String },
    #[error("{0}")]
    InvalidConfig(String),
    #[error("denied: {0}")]
    Denied(String),
    #[error("{0}")]
    Failed(String),
    /// Worth trying again (network errors and the like).
    #[error("{0}")]
    Transient(String),
    #[error("stopped after the time limit of {0:?}")]
    Timeout(Duration),
    #[error("memory limit of {} MiB exceeded", .0 >> 20)]
    MemoryLimit(usize),
    #[error("output limit of {} bytes exceeded", .0)]
    OutputLimit(usize),
    #[error("plugin crashed: {0}")]
    Trap(String),
}

impl PluginError {
    /// Whether trying again could help.
    pub fn is_transient(&self) -> bool {
        matches!(self, PluginError::Transient(_) | PluginError::Timeout(_))
    }
}

impl From<WitError> for PluginError {
    fn from(e: WitError) -> Self {
        match e {
            WitError::InvalidConfig(m) => PluginError::InvalidConfig(m),
            WitError::Denied(m) => PluginError::Denied(m),
            WitError::Failed(m) => PluginError::Failed(m),
            WitError::Transient(m) => PluginError::Transient(m),
        }
    }
}

/// What a call printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// One wasmtime engine for the process: configuration, epoch ticker, compiled-code cache.
#[derive(Clone)]
pub struct PluginEngine {
    engine: Engine,
    cache: ComponentCache,
    /// Components already compiled in this process, by SHA-256: a hundred listeners with an
    /// echo trigger share one copy of its machine code.
    loaded: Arc<std::sync::Mutex<std::collections::HashMap<Vec<u8>, Component>>>,
    calls: Arc<CallsInFlight>,
}

impl PluginEngine {
    /// An engine whose compiled code is cached in `cache` (see [`ComponentCache`]).
    pub fn new(cache: ComponentCache) -> Result<PluginEngine, PluginError> {
        let error = |e: wasmtime::Error| PluginError::Load {
            plugin: "(engine)".into(),
            reason: e.to_string(),
        };
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * 4)
            .total_memories(POOL_INSTANCES * 2)
            .total_tables(POOL_INSTANCES * 4)
            .total_stacks(POOL_INSTANCES)
            .max_memory_size(MAX_MEMORY_BYTES)
            // Returning memory to the kernel a batch at a time, not once per call.
            .decommit_batch_size(DECOMMIT_BATCH);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(error)?;
        let calls = Arc::new(CallsInFlight::default());
        start_epoch_ticker(&engine, calls.clone());
        Ok(PluginEngine {
            engine,
            cache,
            loaded: Arc::default(),
            calls,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles (or loads from the cache) a component, checks that it exports our `trigger`
    /// interface and imports nothing it was not granted, and prepares it for fast
    /// instantiation.
    pub fn load(
        &self,
        name: &str,
        wasm: &[u8],
        grants: Grants,
        limits: Limits,
    ) -> Result<Plugin, PluginError> {
        let load_error = |reason: String| PluginError::Load {
            plugin: name.to_string(),
            reason,
        };
        let (pre, sandbox) = self.prepare(name, wasm, grants, limits)?;
        let pre = bindings::CommandTriggerPluginPre::new(pre).map_err(|e| {
            load_error(format!(
                "it is not an Aviso trigger plugin (aviso:plugin/trigger@0.1.0): {e:#}"
            ))
        })?;
        Ok(Plugin {
            inner: Arc::new(PluginInner { pre, sandbox }),
        })
    }

    /// Compiles a component, checks its imports against the grants and links it: what every
    /// kind of plugin needs before its exports are looked at.
    fn prepare(
        &self,
        name: &str,
        wasm: &[u8],
        grants: Grants,
        limits: Limits,
    ) -> Result<(wasmtime::component::InstancePre<HostState>, Sandbox), PluginError> {
        let load_error = |reason: String| PluginError::Load {
            plugin: name.to_string(),
            reason,
        };
        if limits.memory_bytes > MAX_MEMORY_BYTES {
            return Err(load_error(format!(
                "memory limit above the maximum of {} MiB",
                MAX_MEMORY_BYTES >> 20
            )));
        }
        let component = self.component(wasm).map_err(load_error)?;
        grants::check_imports(&self.engine, &component, &grants).map_err(load_error)?;
        let linker = build_linker(&self.engine, &grants).map_err(|e| load_error(e.to_string()))?;
        let tls = match grants.http {
            Some(_) => Some(crate::tls::client_config(!grants.insecure_tls).map_err(load_error)?),
            None => None,
        };
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| load_error(format!("{e:#}")))?;
        let sandbox = Sandbox {
            engine: self.engine.clone(),
            name: name.to_string(),
            grants: Arc::new(grants),
            tls,
            limits,
            calls: self.calls.clone(),
        };
        Ok((pre, sandbox))
    }
}

impl PluginEngine {
    /// The compiled component for these bytes, compiled (or read from the disk cache) once.
    fn component(&self, wasm: &[u8]) -> Result<Component, String> {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(wasm).to_vec();
        if let Some(component) = self
            .loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
        {
            return Ok(component.clone());
        }
        let component = self.cache.load(&self.engine, wasm)?;
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest, component.clone());
        Ok(component)
    }
}

fn build_linker(engine: &Engine, grants: &Grants) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    bindings::aviso::plugin::types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
    bindings::aviso::plugin::log::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
    if grants.command {
        bindings::aviso::plugin::command::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
    }
    if grants.http.is_some() {
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    }
    Ok(linker)
}

/// Counts plugin calls in flight. The epoch ticker runs only while there are some, so an idle
/// listener costs no CPU.
#[derive(Default)]
struct CallsInFlight {
    count: std::sync::Mutex<usize>,
    changed: std::sync::Condvar,
}

/// Marks one call in flight for as long as it lives.
struct CallGuard(Arc<CallsInFlight>);

impl CallGuard {
    fn new(calls: &Arc<CallsInFlight>) -> CallGuard {
        let mut count = calls.count.lock().unwrap_or_else(|p| p.into_inner());
        *count += 1;
        if *count == 1 {
            // Only an idle ticker waits to be told.
            calls.changed.notify_all();
        }
        drop(count);
        CallGuard(calls.clone())
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        *self.0.count.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
    }
}

/// Advances the engine's epoch every tick while calls are in flight, for as long as the engine
/// lives.
fn start_epoch_ticker(engine: &Engine, calls: Arc<CallsInFlight>) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("aviso-epoch".into())
        .spawn(move || {
            loop {
                {
                    let mut count = calls.count.lock().unwrap_or_else(|p| p.into_inner());
                    while *count == 0 {
                        // Wake up now and then to notice that the engine is gone.
                        let (next, _) = calls
                            .changed
                            .wait_timeout(count, std::time::Duration::from_secs(5))
                            .unwrap_or_else(|p| p.into_inner());
                        count = next;
                        if weak.upgrade().is_none() {
                            return;
                        }
                    }
                }
                let Some(engine) = weak.upgrade() else { return };
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("a thread can be started");
}

/// A loaded plugin: cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

struct PluginInner {
    pre: bindings::CommandTriggerPluginPre<HostState>,
    sandbox: Sandbox,
}

/// What each call of one plugin runs with.
struct Sandbox {
    engine: Engine,
    name: String,
    grants: Arc<Grants>,
    /// TLS settings for outbound HTTPS, when HTTP is granted.
    tls: Option<Arc<rustls::ClientConfig>>,
    limits: Limits,
    calls: Arc<CallsInFlight>,
}

/// One guest call, given a fresh store to instantiate the component in.
type SandboxedCall<'a, T> =
    std::pin::Pin<Box<dyn Future<Output = wasmtime::Result<Result<T, WitError>>> + Send + 'a>>;

impl Sandbox {
    /// One call in a fresh store with the plugin's limits: instantiate, call, drop.
    async fn run<T, Call>(
        &self,
        call: impl FnOnce(Store<HostState>) -> Call,
    ) -> Result<(T, Output), (PluginError, Output)>
    where
        Call: Future<Output = wasmtime::Result<Result<T, WitError>>>,
    {
        let _in_flight = CallGuard::new(&self.calls);
        let limits = self.limits;
        let (state, pipes) = HostState::new(&self.name, &self.grants, self.tls.clone(), limits);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        store.set_hostcall_fuel(HOSTCALL_LIMIT_BYTES);
        let ticks = (limits.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        // Epochs stop guest code; the outer timeout also stops a host call the guest waits on.
        let outcome = tokio::time::timeout(limits.timeout + EPOCH_TICK * 10, call(store)).await;
        let output = pipes.output();
        let error = match outcome {
            Err(_elapsed) => PluginError::Timeout(limits.timeout),
            Ok(Ok(Ok(value))) => return Ok((value, output)),
            Ok(Ok(Err(plugin_error))) => plugin_error.into(),
            Ok(Err(trap)) => classify_trap(&trap, limits, &output),
        };
        Err((error, output))
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.inner.sandbox.name)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    pub fn name(&self) -> &str {
        &self.inner.sandbox.name
    }

    pub fn limits(&self) -> Limits {
        self.inner.sandbox.limits
    }

    /// Asks the plugin whether `config` (JSON text) is usable.
    pub async fn validate(&self, config: &str) -> Result<Output, (PluginError, Output)> {
        self.call(|plugin, store| {
            let config = config.to_string();
            Box::pin(async move {
                plugin
                    .aviso_plugin_trigger()
                    .call_validate(store, &config)
                    .await
            })
        })
        .await
    }

    /// Runs the plugin for one notification.
    pub async fn run(
        &self,
        config: &str,
        notification: &PluginNotification,
    ) -> Result<Output, (PluginError, Output)> {
        self.call(|plugin, store| {
            let config = config.to_string();
            let notification = notification.clone();
            Box::pin(async move {
                plugin
                    .aviso_plugin_trigger()
                    .call_run(store, &config, &notification)
                    .await
            })
        })
        .await
    }

    /// One call in a fresh sandbox.
    async fn call<F>(&self, body: F) -> Result<Output, (PluginError, Output)>
    where
        F: for<'a> FnOnce(
            &'a bindings::CommandTriggerPlugin,
            &'a mut Store<HostState>,
        ) -> SandboxedCall<'a, ()>,
    {
        let pre = &self.inner.pre;
        self.inner
            .sandbox
            .run(|mut store| async move {
                let plugin = pre.instantiate_async(&mut store).await?;
                body(&plugin, &mut store).await
            })
            .await
            .map(|((), output)| output)
    }
}

/// Turns a wasmtime error into what the user needs to know.
fn classify_trap(error: &wasmtime::Error, limits: Limits, output: &Output) -> PluginError {
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        if *trap == wasmtime::Trap::Interrupt {
            return PluginError::Timeout(limits.timeout);
        }
    }
    let text = format!("{error:#}");
    if text.contains("forcing trap when growing memory") {
        return PluginError::MemoryLimit(limits.memory_bytes);
    }
    if output.stdout.len() >= limits.output_bytes || output.stderr.len() >= limits.output_bytes {
        return PluginError::OutputLimit(limits.output_bytes);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let detail = stderr.trim();
    if detail.is_empty() {
        PluginError::Trap(text)
    } else {
        PluginError::Trap(format!("{text}; it printed: {detail}"))
    }
}
