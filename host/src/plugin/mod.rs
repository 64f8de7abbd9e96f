//! The WebAssembly plugin host (wasmtime 48): loads trigger components once, and runs each call
//! in a fresh sandbox with a memory cap, a time cap, bounded output and only the capabilities
//! granted to that plugin.

mod admission;
mod cache;
mod executor;
mod grants;
mod host;
pub(crate) mod inspect;
mod limiter;
pub mod metadata;
mod outbound;
mod parser;

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use crate::quota::{Refusal, TenantQuota};
pub(crate) use admission::{Admission, NoFreeInstance, Permit};
pub use admission::{AdmissionStats, Lane, MAX_CONCURRENT_CALLS, default_concurrent_calls};
pub use cache::ComponentCache;
pub use grants::{DirGrant, Grants, HttpOrigin};
use host::HostState;
pub use host::{kill_running_commands, sanitize};

/// The bindings of our WIT package (`wit/plugin.wit`).
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        world: "command-trigger-plugin",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// The bindings of the schema parser world; the shared interfaces are those above.
pub(crate) mod parser_bindings {
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

/// How often the epoch advances: the time slice of guest code, after which it gives its thread
/// to the next call waiting for one.
const EPOCH_TICK: Duration = Duration::from_millis(2);
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
    /// Every sandbox stayed busy for as long as the call may take.
    #[error(
        "no free sandbox within {waited:?}: all {capacity} were busy (plugins.concurrent_calls)"
    )]
    Busy { waited: Duration, capacity: usize },
    #[error("plugin crashed: {0}")]
    Trap(String),
    /// The tenant's calls or memory stayed at its quota for as long as the call may take.
    #[error(
        "the tenant's {quota} stayed in use for {}",
        crate::cause::duration(*.waited)
    )]
    OverQuota { waited: Duration, quota: String },
    /// The tenant is suspended (its CPU time quota): the call was not run, or was stopped.
    #[error("the tenant is {0}")]
    Suspended(String),
}

impl PluginError {
    /// The plugin's own words as the user should read them ([`Grants::explain`]).
    pub(crate) fn explained(self, grants: &Grants) -> PluginError {
        match self {
            PluginError::Failed(m) => PluginError::Failed(grants.explain(&m)),
            PluginError::Denied(m) => PluginError::Denied(grants.explain(&m)),
            PluginError::Transient(m) => PluginError::Transient(grants.explain(&m)),
            PluginError::InvalidConfig(m) => PluginError::InvalidConfig(grants.explain(&m)),
            other => other,
        }
    }

    /// Whether trying again could help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PluginError::Transient(_)
                | PluginError::Timeout(_)
                | PluginError::Busy { .. }
                | PluginError::OverQuota { .. }
                | PluginError::Suspended(_)
        )
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

/// One wasmtime engine for the process: configuration, epoch ticker, compiled-code cache, and
/// the admission queue in front of its instance pool.
#[derive(Clone)]
pub struct PluginEngine {
    engine: Engine,
    cache: ComponentCache,
    /// Components already compiled in this process, by SHA-256: a hundred listeners with an
    /// echo trigger share one copy of its machine code.
    loaded: Arc<std::sync::Mutex<std::collections::HashMap<Vec<u8>, Component>>>,
    calls: Arc<CallsInFlight>,
    admission: Arc<Admission>,
    /// The tenant of `aviso serve` whose plugins these are: its quotas, its lane in the
    /// admission queue, its CPU time.
    tenant: Option<Arc<TenantQuota>>,
    threads: Arc<executor::SandboxThreads>,
    /// Linkers by the host interfaces they offer: every plugin with the same kind of grants
    /// shares one.
    linkers: Arc<std::sync::Mutex<std::collections::HashMap<LinkerShape, Linker<HostState>>>>,
}

/// What a linker offers besides WASI and the log: the command capability, outbound HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct LinkerShape {
    command: bool,
    http: bool,
}

/// The process's engine, made on first use with room for `concurrent_calls` calls at once and
/// the compiled-code cache in `~/.cache/aviso/plugins`: schema parsers and every listener's
/// triggers share it (one instance pool, one epoch ticker, one set of sandbox threads). Later
/// callers get the same engine whatever they ask for.
pub fn process_engine(concurrent_calls: usize) -> Result<PluginEngine, PluginError> {
    static ENGINE: std::sync::Mutex<Option<PluginEngine>> = std::sync::Mutex::new(None);
    let mut slot = ENGINE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(engine) = &*slot {
        return Ok(engine.clone());
    }
    let engine = PluginEngine::with_concurrency(ComponentCache::standard(), concurrent_calls)?;
    *slot = Some(engine.clone());
    Ok(engine)
}

/// How instances get their memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allocation {
    /// A pool reserved when the engine starts: the fastest instantiation.
    Pooling,
    /// Memory mapped for each call, used where the address space is too small for the pool
    /// (`ulimit -v`).
    OnDemand,
}

impl PluginEngine {
    /// An engine whose compiled code is cached in `cache` (see [`ComponentCache`]), running at
    /// most a default number of calls at once that fits the machine.
    pub fn new(cache: ComponentCache) -> Result<PluginEngine, PluginError> {
        PluginEngine::with_concurrency(
            cache,
            default_concurrent_calls(Limits::default().memory_bytes),
        )
    }

    /// An engine that runs at most `concurrent_calls` plugin calls at once; more wait their
    /// turn. The instance pool is reserved for that many; where the address space cannot hold
    /// it, instances are allocated on demand instead (said once in the log).
    pub fn with_concurrency(
        cache: ComponentCache,
        concurrent_calls: usize,
    ) -> Result<PluginEngine, PluginError> {
        let concurrent_calls = concurrent_calls.clamp(1, MAX_CONCURRENT_CALLS);
        let engine = match engine_with(Allocation::Pooling, concurrent_calls) {
            Ok(engine) => engine,
            Err(pool_error) => {
                let engine = engine_with(Allocation::OnDemand, concurrent_calls).map_err(|e| {
                    PluginError::Load {
                        plugin: "(engine)".into(),
                        reason: format!("{e:#} (and the instance pool: {pool_error:#})"),
                    }
                })?;
                tracing::warn!(
                    "Plugin instance pool for {concurrent_calls} calls could not be reserved ({pool_error:#}); allocating plugin memory on demand instead (slower start of each call). Raise the address-space limit (ulimit -v) or lower plugins.concurrent_calls to use the pool."
                );
                engine
            }
        };
        let threads = executor::SandboxThreads::start().map_err(|e| PluginError::Load {
            plugin: "(engine)".into(),
            reason: format!("cannot start the sandbox threads: {e}"),
        })?;
        let calls = Arc::new(CallsInFlight::default());
        start_epoch_ticker(&engine, calls.clone());
        Ok(PluginEngine {
            engine,
            cache,
            loaded: Arc::default(),
            calls,
            admission: Arc::new(Admission::new(concurrent_calls)),
            tenant: None,
            threads: Arc::new(threads),
            linkers: Arc::default(),
        })
    }

    /// This engine for the plugins of one tenant: their calls keep within its quotas (waiting
    /// in its own queue, not in everyone's), wait for a free sandbox in its lane, and their
    /// CPU time is charged to it.
    pub fn for_tenant(&self, quota: Arc<TenantQuota>) -> PluginEngine {
        PluginEngine {
            tenant: Some(quota),
            ..self.clone()
        }
    }

    /// The tenant whose plugins these are, if any.
    pub fn tenant(&self) -> Option<&Arc<TenantQuota>> {
        self.tenant.as_ref()
    }

    /// What the admission queue has seen so far.
    pub fn admission_stats(&self) -> AdmissionStats {
        self.admission.stats()
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
        let component = self.component(name, wasm).map_err(load_error)?;
        grants::check_imports(&self.engine, &component, &grants).map_err(load_error)?;
        let linker = self
            .linker(&grants)
            .map_err(|e| load_error(e.to_string()))?;
        let http_client = match grants.http {
            Some(_) => Some(outbound::client(!grants.insecure_tls).map_err(load_error)?),
            None => None,
        };
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| load_error(format!("{e:#}")))?;
        let sandbox = Sandbox {
            engine: self.engine.clone(),
            name: name.to_string(),
            grants: Arc::new(grants),
            http_client,
            limits,
            calls: self.calls.clone(),
            admission: self.admission.clone(),
            tenant: self.tenant.clone(),
            threads: self.threads.clone(),
        };
        Ok((pre, sandbox))
    }
}

impl PluginEngine {
    /// The linker for plugins with these grants, built once per shape.
    fn linker(&self, grants: &Grants) -> wasmtime::Result<Linker<HostState>> {
        let shape = LinkerShape {
            command: grants.command,
            http: grants.http.is_some(),
        };
        let mut linkers = self.linkers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(linker) = linkers.get(&shape) {
            return Ok(linker.clone());
        }
        // The linker depends on the shape only, so any grants of that shape build it.
        let linker = build_linker(&self.engine, grants)?;
        linkers.insert(shape, linker.clone());
        Ok(linker)
    }

    /// The compiled component for these bytes, compiled (or read from the disk cache) once.
    fn component(&self, name: &str, wasm: &[u8]) -> Result<Component, String> {
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
        let component = self.cache.load(&self.engine, name, wasm)?;
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest, component.clone());
        Ok(component)
    }
}

/// Per component: memories, core instances and tables of the pool one call may take, so that a
/// component made of many modules cannot drain the pool for everyone else.
const POOL_MEMORIES_PER_COMPONENT: u32 = 4;
const POOL_CORE_INSTANCES_PER_COMPONENT: u32 = 32;
const POOL_TABLES_PER_COMPONENT: u32 = 32;

/// A wasmtime engine with epochs (time limits and time slicing) and the given allocation.
fn engine_with(allocation: Allocation, calls: usize) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    match allocation {
        Allocation::Pooling => {
            let calls = u32::try_from(calls).unwrap_or(u32::MAX);
            let mut pool = PoolingAllocationConfig::new();
            pool.total_component_instances(calls)
                .total_core_instances(calls.saturating_mul(4))
                .total_memories(calls.saturating_mul(2))
                .total_tables(calls.saturating_mul(4))
                .total_stacks(calls)
                .max_memory_size(MAX_MEMORY_BYTES)
                .max_memories_per_component(POOL_MEMORIES_PER_COMPONENT)
                .max_core_instances_per_component(POOL_CORE_INSTANCES_PER_COMPONENT)
                .max_tables_per_component(POOL_TABLES_PER_COMPONENT)
                // Returning memory to the kernel a batch at a time, not once per call.
                .decommit_batch_size(DECOMMIT_BATCH);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        Allocation::OnDemand => {
            // Small reservations: each call maps only what its memories use.
            config
                .allocation_strategy(InstanceAllocationStrategy::OnDemand)
                .memory_reservation(0)
                .memory_guard_size(0)
                .memory_reservation_for_growth(1 << 20);
        }
    }
    Engine::new(&config)
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
    /// The pooled client for outbound HTTP, when HTTP is granted.
    http_client: Option<reqwest::Client>,
    limits: Limits,
    calls: Arc<CallsInFlight>,
    admission: Arc<Admission>,
    tenant: Option<Arc<TenantQuota>>,
    threads: Arc<executor::SandboxThreads>,
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
        Call: Future<Output = wasmtime::Result<Result<T, WitError>>> + Send + 'static,
        T: Send + 'static,
    {
        let limits = self.limits;
        // Queue metrics are for the tenants of `aviso serve`, off the path of `aviso listen`.
        let tenant = self.tenant.as_ref().map(|quota| quota.tenant());
        let queued = Instant::now();
        if let Some(tenant) = tenant {
            crate::metrics::call_waiting(tenant, true);
        }
        let admitted = self.admit(limits).await;
        if let Some(tenant) = tenant {
            crate::metrics::call_waiting(tenant, false);
        }
        let (_within_quota, _admitted) = admitted.map_err(|error| (error, Output::default()))?;
        if let Some(tenant) = tenant {
            crate::metrics::call_queued(tenant, queued.elapsed());
        }
        let _in_flight = CallGuard::new(&self.calls);
        let (state, pipes) = HostState::new(
            &self.name,
            &self.grants,
            self.http_client.clone(),
            limits,
            self.tenant.clone(),
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.memory);
        store.set_hostcall_fuel(HOSTCALL_LIMIT_BYTES);
        store.set_max_component_handles(host::MAX_HOST_RESOURCES);
        // Guest code gives its thread back to the executor every tick (time slicing), so a
        // busy plugin holds a worker for one slice at a time; at its deadline it is stopped.
        let deadline = Instant::now() + limits.timeout;
        store.set_epoch_deadline(1);
        let suspendable = self.tenant.clone();
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Ok(wasmtime::UpdateDeadline::Interrupt)
            } else if suspendable.as_ref().is_some_and(|t| t.is_suspended()) {
                Err(wasmtime::Error::new(TenantSuspended))
            } else {
                Ok(wasmtime::UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
        // Epochs stop guest code; the outer timeout also stops a host call the guest waits on.
        let guarded = tokio::time::timeout(limits.timeout + EPOCH_TICK * 10, call(store));
        let outcome = match &self.tenant {
            Some(quota) => {
                let metered = crate::quota::Metered::new(guarded, quota.clone());
                self.threads.run(metered).await
            }
            None => self.threads.run(guarded).await,
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(stopped) => {
                let error = PluginError::Trap(format!("the sandbox stopped: {stopped}"));
                return Err((error, pipes.output()));
            }
        };
        let output = pipes.output();
        let error = match outcome {
            Err(_elapsed) => PluginError::Timeout(limits.timeout),
            Ok(Ok(Ok(value))) => return Ok((value, output)),
            Ok(Ok(Err(plugin_error))) => plugin_error.into(),
            Ok(Err(trap)) => match (&self.tenant, trap.downcast_ref::<TenantSuspended>()) {
                (Some(quota), Some(_)) => PluginError::Suspended(
                    quota
                        .usage()
                        .reason
                        .unwrap_or_else(|| "suspended (its CPU time quota)".into()),
                ),
                _ => classify_trap(&trap, limits, &output, self.admission.stats()),
            },
        };
        Err((error, output))
    }

    /// The call's place: within its tenant's quotas first (a tenant at its quota waits in its
    /// own queue and takes no place in everyone's), then a free instance, in its tenant's lane.
    async fn admit(
        &self,
        limits: Limits,
    ) -> Result<(Option<crate::quota::CallHold>, Permit), PluginError> {
        let within_quota = match &self.tenant {
            None => None,
            Some(quota) => Some(
                quota
                    .enter(&self.name, limits.memory_bytes, limits.timeout)
                    .await
                    .map_err(|refusal| match refusal {
                        Refusal::Busy { waited, quota } => PluginError::OverQuota { waited, quota },
                        Refusal::Suspended(reason) => PluginError::Suspended(reason),
                    })?,
            ),
        };
        let lane = self.tenant.as_ref().map_or(Lane::SHARED, |t| t.lane());
        // Wait for a free instance rather than fail: at most as long as the call may run.
        let admitted = self
            .admission
            .enter(&self.name, lane, limits.timeout)
            .await
            .map_err(|refused| PluginError::Busy {
                waited: refused.waited,
                capacity: self.admission.stats().capacity,
            })?;
        Ok((within_quota, admitted))
    }
}

/// Stops a running call of a tenant that was just suspended.
#[derive(Debug)]
struct TenantSuspended;

impl std::fmt::Display for TenantSuspended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped: the tenant was suspended")
    }
}

impl std::error::Error for TenantSuspended {}

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
        let config = config.to_string();
        self.call(move |plugin, store| {
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
        let config = config.to_string();
        let notification = notification.clone();
        self.call(move |plugin, store| {
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
            ) -> SandboxedCall<'a, ()>
            + Send
            + 'static,
    {
        let inner = self.inner.clone();
        let grants = self.inner.sandbox.grants.clone();
        self.inner
            .sandbox
            .run(move |mut store| async move {
                let plugin = inner.pre.instantiate_async(&mut store).await?;
                body(&plugin, &mut store).await
            })
            .await
            .map(|((), output)| output)
            .map_err(|(error, output)| (error.explained(&grants), output))
    }
}

/// Turns a wasmtime error into what the user needs to know, by its type: a wasmtime upgrade
/// that rewords a message cannot change what is retried.
fn classify_trap(
    error: &wasmtime::Error,
    limits: Limits,
    output: &Output,
    admission: AdmissionStats,
) -> PluginError {
    if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
        return PluginError::Timeout(limits.timeout);
    }
    if error
        .downcast_ref::<limiter::MemoryLimitExceeded>()
        .is_some()
    {
        return PluginError::MemoryLimit(limits.memory_bytes);
    }
    if error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        // The admission queue keeps calls within the pool; this is a component that needs more
        // of it than its share, or a bug. Either way the call can be tried again.
        return PluginError::Busy {
            waited: Duration::ZERO,
            capacity: admission.capacity,
        };
    }
    if output.stdout.len() >= limits.output_bytes || output.stderr.len() >= limits.output_bytes {
        return PluginError::OutputLimit(limits.output_bytes);
    }
    let text = format!("{error:#}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let detail = stderr.trim();
    if detail.is_empty() {
        PluginError::Trap(text)
    } else {
        PluginError::Trap(format!("{text}; it printed: {detail}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component of `modules` core instances, each growing its own memory by `mib` at start.
    fn many_memories(modules: usize, mib: u32) -> Vec<u8> {
        let pages = mib * 16;
        let instances: String = (0..modules)
            .map(|i| format!("(core instance $i{i} (instantiate $m))"))
            .collect();
        wat::parse_str(format!(
            "(component
               (core module $m
                 (memory 1)
                 (func $grow (drop (memory.grow (i32.const {pages}))))
                 (start $grow))
               {instances})"
        ))
        .unwrap()
    }

    async fn instantiate(wasm: &[u8], memory_mib: usize) -> Result<(), PluginError> {
        let engine = PluginEngine::with_concurrency(ComponentCache::in_memory(), 4).unwrap();
        let limits = Limits {
            memory_bytes: memory_mib << 20,
            ..Limits::default()
        };
        let (pre, sandbox) = engine.prepare("many-memories", wasm, Grants::default(), limits)?;
        sandbox
            .run(|mut store| async move {
                pre.instantiate_async(&mut store).await?;
                Ok(Ok(()))
            })
            .await
            .map(|((), _)| ())
            .map_err(|(error, _)| error)
    }

    #[tokio::test]
    async fn the_memory_limit_holds_for_all_memories_of_a_call_together() {
        // One memory of 20 MiB fits in 32 MiB...
        assert_eq!(instantiate(&many_memories(1, 20), 32).await, Ok(()));
        // ...four of them do not, although each alone would.
        assert_eq!(
            instantiate(&many_memories(4, 20), 32).await,
            Err(PluginError::MemoryLimit(32 << 20))
        );
    }

    #[tokio::test]
    async fn a_component_cannot_take_more_of_the_pool_than_its_share() {
        // Refused when it loads, before it could hold pool slots that others need.
        let error = instantiate(&many_memories(8, 0), 64).await.unwrap_err();
        assert!(
            error.to_string().contains(
                "contains 8 Wasm linear memories, which exceeds the configured maximum of 4"
            ),
            "{error}"
        );
    }
}
