//! The running service: every usable tenant's listeners, confined to what the site and the
//! tenant allow, delivered from one feed per base key (one etcd watch, whatever the number of
//! tenants and listeners on it), each listener with its own position and dead letters in its
//! tenant's state folder.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::Instrument;

use crate::client::Aviso;
use crate::config::{Layers, Origin, Settings};
use crate::delivery::{Group, Hub};
use crate::listener::ListenerSet;
use crate::quota::{QuotaSettings, TenantQuota};
use crate::trigger::{PluginPolicy, TriggerRuntime};
use crate::yaml::YamlValue;

use super::config::{ServiceFile, TenantFolder};
use super::tenant::{Confinement, OutOfReach, closed_site_policy, tenant_policy};

/// What became of one tenant folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantStatus {
    pub name: String,
    /// `running`, `ready` (checked, not started) or `refused`.
    pub state: TenantState,
    pub listeners: usize,
    /// The base keys its listeners watch.
    pub base_keys: Vec<String>,
    /// Why it does not run, when it does not.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantState {
    Ready,
    Running,
    Refused,
}

impl TenantState {
    pub fn name(self) -> &'static str {
        match self {
            TenantState::Ready => "ready",
            TenantState::Running => "running",
            TenantState::Refused => "refused",
        }
    }
}

/// One tenant, loaded: its client (its state folder), its listeners, its trigger runtime.
struct PreparedTenant {
    aviso: Aviso,
    sets: Vec<ListenerSet>,
    runtime: TriggerRuntime,
    quota: Arc<TenantQuota>,
}

/// The service, loaded from its file.
pub struct Service {
    pub file: ServiceFile,
    aviso: Aviso,
    site_policy: PluginPolicy,
    /// Every tenant folder's status, for the management API.
    statuses: Arc<Mutex<Vec<TenantStatus>>>,
    /// Each tenant's token hash, for the management API.
    tokens: super::api::TenantTokens,
    /// `Ok` once the tenants run and while the store answers.
    ready: Arc<Mutex<Result<(), String>>>,
    /// Each tenant's quotas and what it used, kept across reloads.
    quotas: super::api::TenantQuotas,
    /// Each running tenant's listeners' positions and its last trigger failures.
    activity: super::api::TenantActivity,
    /// Listener files and plugins put or deleted through the API, applied by the run loop.
    changes: (
        tokio::sync::mpsc::Sender<FileChange>,
        Mutex<Option<tokio::sync::mpsc::Receiver<FileChange>>>,
    ),
}

/// Which of a tenant's files: `listeners/*.yaml` or `plugins/*.wasm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Listeners,
    Plugins,
}

impl FileKind {
    pub fn folder(self) -> &'static str {
        match self {
            FileKind::Listeners => "listeners",
            FileKind::Plugins => "plugins",
        }
    }
}

/// A listener file or plugin put (`content`) or deleted (`None`) through the API.
pub struct FileChange {
    pub tenant: String,
    pub kind: FileKind,
    pub name: String,
    pub content: Option<Vec<u8>>,
    /// The tenant's status once applied, or why the change was refused (nothing written).
    pub reply: tokio::sync::oneshot::Sender<Result<TenantStatus, ChangeRefused>>,
}

/// Why a change through the API was refused: an HTTP status and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRefused {
    pub status: u16,
    pub message: String,
}

impl ChangeRefused {
    fn new(status: u16, message: impl Into<String>) -> ChangeRefused {
        ChangeRefused {
            status,
            message: message.into(),
        }
    }
}

impl Service {
    /// Reads the service's settings and schema. Nothing about the tenants is decided yet.
    pub async fn load(file: ServiceFile) -> Result<Service, String> {
        let mut document = Vec::new();
        if let Some(engine) = &file.notification_engine {
            document.push(("notification_engine".to_string(), engine.clone()));
        }
        let mut layers = Layers::default();
        layers
            .merge_document(&YamlValue::Map(document), &Origin::File(file.path.clone()))
            .map_err(|e| e.to_string())?;
        let mut settings = Settings::resolve(&layers, crate::config::home_dir().as_deref())
            .map_err(|e| e.to_string())?;
        settings.state_dir = Some(file.state_dir.clone());
        let site_policy =
            closed_site_policy(file.plugins.as_ref().map(YamlValue::to_json).as_ref())
                .map_err(|e| format!("{}: plugins: {e}", file.path.display()))?;
        let aviso = Aviso::load(settings).await.map_err(|e| e.to_string())?;
        Ok(Service {
            file,
            aviso,
            site_policy,
            statuses: Arc::default(),
            tokens: Arc::default(),
            ready: Arc::new(Mutex::new(Err("the tenants are being loaded".into()))),
            quotas: Arc::default(),
            activity: Arc::default(),
            changes: {
                let (sender, receiver) = tokio::sync::mpsc::channel(16);
                (sender, Mutex::new(Some(receiver)))
            },
        })
    }

    /// Every tenant folder's status as last decided.
    pub fn statuses(&self) -> Arc<Mutex<Vec<TenantStatus>>> {
        self.statuses.clone()
    }

    /// A tenant's state folder: positions, dead letters, log files.
    pub fn tenant_state_dir(&self, tenant: &str) -> PathBuf {
        self.file.state_dir.join("tenants").join(tenant)
    }

    /// Loads one tenant as it would run: its policy within the site's, its listener files, each
    /// trigger confined and then loaded (settings, plugin imports, grants, the plugin's own
    /// check), and its quotas.
    async fn prepare(&self, tenant: &TenantFolder) -> Result<PreparedTenant, String> {
        let origin = tenant.dir.join("tenant.yaml").display().to_string();
        let mut policy = tenant_policy(
            &self.site_policy,
            tenant.plugins.as_ref().map(YamlValue::to_json).as_ref(),
            &origin,
        )?;
        self.out_of_reach().check(&policy)?;
        if let Some(mib) = tenant.quotas.memory_per_call_mib {
            if let Some(total) = tenant.quotas.memory_total_mib
                && mib > total
            {
                return Err(format!(
                    "quotas.memory_per_call ({mib} MiB) is above quotas.memory_total ({total} MiB)"
                ));
            }
            let bytes = usize::try_from(mib)
                .unwrap_or(usize::MAX)
                .saturating_mul(1 << 20);
            policy.max_memory_bytes = policy.max_memory_bytes.min(bytes);
            policy.default_memory_bytes = policy.default_memory_bytes.min(bytes);
        }
        let mut settings = self.aviso.settings().clone();
        let state = self.tenant_state_dir(&tenant.name);
        settings.state_dir = Some(state.clone());
        let aviso = Aviso::with_schema(settings, self.aviso.schema().clone());
        let mut sets = aviso
            .load_listeners(&tenant.listener_files)
            .map_err(|e| e.to_string())?;
        let listeners: usize = sets.iter().map(|set| set.listeners.len()).sum();
        if let Some(most) = tenant.quotas.listeners
            && listeners as u64 > most
        {
            return Err(format!(
                "{listeners} listeners, above its quota of {most} (quotas.listeners)"
            ));
        }
        Confinement {
            tenant: &tenant.name,
            plugin_files: &tenant.plugin_files,
            log_dir: &state.join("logs"),
            policy: &policy,
        }
        .apply(&mut sets)?;
        let engine =
            crate::plugin::process_engine(policy.concurrent_calls()).map_err(|e| e.to_string())?;
        let quota = self.quota_for(tenant);
        let engine = engine.for_tenant(quota.clone());
        let runtime = TriggerRuntime::with_engine(engine, policy);
        for set in &sets {
            for (index, listener) in set.listeners.iter().enumerate() {
                runtime.load(&listener.triggers).await.map_err(|error| {
                    format!(
                        "{}, listener {}: trigger {}: {error}",
                        set.source,
                        index + 1,
                        error.position
                    )
                })?;
            }
        }
        Ok(PreparedTenant {
            aviso,
            sets,
            runtime,
            quota,
        })
    }

    /// The service's own files, which no tenant's plugin may reach.
    fn out_of_reach(&self) -> OutOfReach {
        let settings = self.aviso.settings();
        let mut paths = vec![
            (
                self.file.state_dir.clone(),
                "the service's state (every tenant's positions, dead letters and logs)",
            ),
            (
                self.file.tenants_dir.clone(),
                "the tenants folder (every tenant's files and token hashes)",
            ),
            (self.file.path.clone(), "the service file"),
            (settings.key_file.clone(), "the service's key file"),
        ];
        if let Some(file) = &settings.username_file {
            paths.push((file.clone(), "the service's username file"));
        }
        if let Some(tls) = &self.file.api.tls {
            paths.push((tls.key.clone(), "the management API's private key"));
        }
        OutOfReach { paths }
    }

    /// The tenant's quotas: the same as before while they are unchanged, so that a reload
    /// (or new files) does not wipe out a debt of CPU time or end a suspension.
    fn quota_for(&self, tenant: &TenantFolder) -> Arc<TenantQuota> {
        let quotas = &tenant.quotas;
        let settings = QuotaSettings {
            concurrent_calls: quotas
                .concurrent_calls
                .map(|calls| usize::try_from(calls).unwrap_or(usize::MAX)),
            cpu_per_minute: quotas.cpu_millis_per_minute.map(Duration::from_millis),
            memory_total_bytes: quotas.memory_total_mib.map(|mib| {
                usize::try_from(mib)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(1 << 20)
            }),
            deliveries_per_minute: quotas.deliveries_per_minute,
            log_bytes_per_minute: quotas.log_bytes_per_minute,
            weight: quotas
                .weight
                .map_or(1, |weight| u32::try_from(weight).unwrap_or(u32::MAX)),
        };
        let mut known = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
        match known.get(&tenant.name) {
            Some(quota) if *quota.settings() == settings => quota.clone(),
            _ => {
                let quota = TenantQuota::new(&tenant.name, settings);
                known.insert(tenant.name.clone(), quota.clone());
                quota
            }
        }
    }

    /// Checks every tenant folder without running anything: `aviso serve --check`.
    pub async fn check(&self) -> Result<Vec<TenantStatus>, String> {
        if let Some(tls) = &self.file.api.tls {
            super::https::server_config(&tls.certificate, &tls.key)?;
        }
        let scan = self.file.tenants()?;
        let mut statuses: Vec<TenantStatus> = scan
            .refused
            .iter()
            .map(|refusal| refused(&refusal.name(), refusal.reason.clone()))
            .collect();
        for tenant in &scan.usable {
            statuses.push(match self.prepare(tenant).await {
                Ok(prepared) => status_of(&tenant.name, &prepared, TenantState::Ready),
                Err(reason) => refused(&tenant.name, reason),
            });
        }
        statuses.sort_by(|a, b| a.name.cmp(&b.name));
        *self.statuses.lock().unwrap_or_else(|p| p.into_inner()) = statuses.clone();
        Ok(statuses)
    }

    /// Runs every tenant that can run until `stop`; a tenant that cannot is logged with why
    /// and left out, the others run. On `reload` (SIGHUP, a change in the tenants folder), the
    /// folder is read again and each tenant whose files changed is applied alone: new tenants
    /// start, removed ones stop, changed ones stop (their running triggers finish, positions
    /// are saved) and start again on their new files, while every other tenant goes on
    /// undisturbed. A tenant whose new files are refused keeps running its previous version,
    /// with the reason in its status.
    pub async fn run(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
        reload: Arc<tokio::sync::Notify>,
    ) -> Result<(), String> {
        self.start_api(stop.clone()).await?;
        let store = Arc::new(self.aviso.open_store().map_err(|e| e.to_string())?);
        let (hub, mut failures) = Hub::new(
            store.clone(),
            self.aviso.feed_settings(),
            self.aviso.retry_policy(),
        );
        let mut running: HashMap<String, RunningTenant> = HashMap::new();
        let mut changes = self
            .changes
            .1
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or("the service runs once")?;
        let mut first = true;
        'reading: loop {
            let Some(current) = self
                .aviso
                .current_revision(&store, None, &stop)
                .await
                .map_err(|e| e.to_string())?
            else {
                stop_all(running).await;
                return Ok(());
            };
            self.apply(&hub, &store, current, &mut running).await?;
            if first {
                self.watch_readiness(stop.clone());
                self.watch_tenant_files(reload.clone(), stop.clone());
                first = false;
            }
            loop {
                let mut stopping = stop.clone();
                tokio::select! {
                    failure = failures.recv() => {
                        stop_all(running).await;
                        return Err(failure.map(|e| e.to_string()).unwrap_or_default());
                    }
                    _ = stopping.wait_for(|stopped| *stopped) => {
                        stop_all(running).await;
                        return Ok(());
                    }
                    () = reload.notified() => {
                        tracing::info!("Reloading the tenants whose files changed");
                        continue 'reading;
                    }
                    Some(change) = changes.recv() => {
                        let outcome = self.change(&hub, &store, &stop, &mut running, &change).await;
                        let _ = change.reply.send(outcome);
                    }
                }
            }
        }
    }

    /// A listener file or plugin put or deleted through the API: the tenant's folder as it
    /// would be is loaded first, and only if it can run is the file written (atomically) and
    /// the tenant restarted on it; otherwise nothing changes and the refusal says why.
    async fn change(
        &self,
        hub: &Arc<Hub>,
        store: &crate::store::Store,
        stop: &tokio::sync::watch::Receiver<bool>,
        running: &mut HashMap<String, RunningTenant>,
        change: &FileChange,
    ) -> Result<TenantStatus, ChangeRefused> {
        let tenant = &change.tenant;
        let dir = self.file.tenants_dir.join(tenant);
        if super::config::check_tenant_name(tenant).is_err() || !dir.is_dir() {
            return Err(ChangeRefused::new(
                404,
                format!("there is no tenant {tenant}"),
            ));
        }
        check_file_name(change.kind, &change.name).map_err(|e| ChangeRefused::new(400, e))?;
        let target = dir.join(change.kind.folder()).join(&change.name);
        if change.content.is_none() && !target.exists() {
            return Err(ChangeRefused::new(
                404,
                format!(
                    "tenant {tenant} has no {} {}",
                    change.kind.folder(),
                    change.name
                ),
            ));
        }
        if change.kind == FileKind::Plugins
            && let Some(content) = &change.content
            && !content.starts_with(b"\0asm")
        {
            return Err(ChangeRefused::new(
                422,
                format!(
                    "{} is not a WebAssembly file (it does not start with \\0asm)",
                    change.name
                ),
            ));
        }
        // The tenant as it would be, in a folder of its own, loaded as it would run.
        let trial = tempfile::Builder::new()
            .prefix(".trial-")
            .tempdir_in(&self.file.state_dir)
            .map_err(|e| ChangeRefused::new(500, format!("cannot try the change: {e}")))?;
        let trial_dir = trial.path().join(tenant);
        let copied = copy_tenant(&dir, &trial_dir).and_then(|()| {
            let trial_target = trial_dir.join(change.kind.folder()).join(&change.name);
            match &change.content {
                Some(content) => std::fs::write(&trial_target, content),
                None => std::fs::remove_file(&trial_target),
            }
        });
        copied.map_err(|e| ChangeRefused::new(500, format!("cannot try the change: {e}")))?;
        let shown = |reason: String| {
            reason.replace(&trial_dir.display().to_string(), &dir.display().to_string())
        };
        let folder =
            TenantFolder::read(&trial_dir).map_err(|e| ChangeRefused::new(422, shown(e)))?;
        let span = tracing::info_span!("tenant", tenant = tenant.as_str());
        if let Err(reason) = self.prepare(&folder).instrument(span).await {
            return Err(ChangeRefused::new(422, shown(reason)));
        }
        write_or_remove(&target, change.content.as_deref()).map_err(|e| {
            ChangeRefused::new(500, format!("cannot write {}: {e}", target.display()))
        })?;
        tracing::info!(
            "Tenant {tenant}: {} {} {} through the API",
            change.kind.folder(),
            change.name,
            if change.content.is_some() {
                "put"
            } else {
                "deleted"
            }
        );
        let current = match self.aviso.current_revision(store, None, stop).await {
            Ok(Some(current)) => current,
            Ok(None) => return Err(ChangeRefused::new(503, "the service is stopping")),
            Err(error) => return Err(ChangeRefused::new(503, error.to_string())),
        };
        self.apply(hub, store, current, running)
            .await
            .map_err(|e| ChangeRefused::new(500, e))?;
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|status| status.name == *tenant)
            .cloned()
            .ok_or_else(|| ChangeRefused::new(500, format!("tenant {tenant} is gone")))
    }

    /// Brings the running tenants in line with the tenants folder, one tenant at a time.
    async fn apply(
        &self,
        hub: &Arc<Hub>,
        store: &crate::store::Store,
        current: u64,
        running: &mut HashMap<String, RunningTenant>,
    ) -> Result<(), String> {
        let scan = self.file.tenants()?;
        *self.tokens.lock().unwrap_or_else(|p| p.into_inner()) = scan
            .usable
            .iter()
            .map(|tenant| (tenant.name.clone(), tenant.token_sha256))
            .collect();
        let mut statuses = Vec::new();
        let mut present = Vec::new();
        for refusal in &scan.refused {
            let name = refusal.name();
            present.push(name.clone());
            statuses.push(kept_or_refused(
                running.get(&name),
                &name,
                refusal.reason.clone(),
            ));
        }
        for tenant in &scan.usable {
            let name = tenant.name.clone();
            present.push(name.clone());
            let fingerprint = match fingerprint(tenant) {
                Ok(fingerprint) => fingerprint,
                Err(reason) => {
                    statuses.push(kept_or_refused(running.get(&name), &name, reason));
                    continue;
                }
            };
            if let Some(unchanged) = running.get(&name).filter(|r| r.fingerprint == fingerprint) {
                statuses.push(unchanged.status.clone());
                continue;
            }
            let span = tracing::info_span!("tenant", tenant = name.as_str());
            let prepared = match self.prepare(tenant).instrument(span.clone()).await {
                Ok(prepared) => prepared,
                Err(reason) => {
                    statuses.push(kept_or_refused(running.get(&name), &name, reason));
                    continue;
                }
            };
            if let Some(previous) = running.remove(&name) {
                span.in_scope(|| tracing::info!("Tenant {name}: its files changed, restarting it"));
                previous.group.stop().await;
            }
            match self
                .start(&name, prepared, store, current)
                .instrument(span.clone())
                .await
            {
                Ok((status, active)) => {
                    let group = hub.start(active).await;
                    self.activity
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(name.clone())
                        .or_default()
                        .positions = group.positions();
                    statuses.push(status.clone());
                    running.insert(
                        name,
                        RunningTenant {
                            group,
                            fingerprint,
                            status,
                        },
                    );
                }
                Err(error) => {
                    tracing::error!("Tenant {name} is refused: {error}");
                    statuses.push(refused(&name, error));
                }
            }
        }
        // A tenant whose folder is gone stops, and is forgotten.
        let gone: Vec<String> = running
            .keys()
            .filter(|name| !present.contains(name))
            .cloned()
            .collect();
        for name in gone {
            if let Some(tenant) = running.remove(&name) {
                tracing::info!("Tenant {name}: its folder is gone, stopping it");
                tenant.group.stop().await;
            }
        }
        self.quotas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|name, _| present.contains(name));
        self.activity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|name, _| running.contains_key(name));
        statuses.sort_by(|a, b| a.name.cmp(&b.name));
        let serving = statuses
            .iter()
            .filter(|s| s.state == TenantState::Running)
            .count();
        crate::metrics::tenants(serving, statuses.len() - serving);
        let mut bases: Vec<&str> = statuses
            .iter()
            .filter(|s| s.state == TenantState::Running)
            .flat_map(|s| s.base_keys.iter().map(String::as_str))
            .collect();
        bases.sort_unstable();
        bases.dedup();
        tracing::info!(
            "Serving {serving} tenant(s) on {} base key(s) at {}...",
            bases.len(),
            store.describe()
        );
        *self.statuses.lock().unwrap_or_else(|p| p.into_inner()) = statuses;
        *self.ready.lock().unwrap_or_else(|p| p.into_inner()) = Ok(());
        Ok(())
    }
}

/// A listener file's or plugin's name as the API takes it: one file name of its folder's kind.
fn check_file_name(kind: FileKind, name: &str) -> Result<(), String> {
    let extensions: &[&str] = match kind {
        FileKind::Listeners => &[".yaml", ".yml"],
        FileKind::Plugins => &[".wasm"],
    };
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if plain
        && extensions
            .iter()
            .any(|e| name.ends_with(e) && name.len() > e.len())
    {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a name for a file of {}/: letters, digits, '.', '_' and '-', ending in {}",
            kind.folder(),
            extensions.join(" or ")
        ))
    }
}

/// Copies a tenant's folder (tenant.yaml, listeners/, plugins/) to `to`.
fn copy_tenant(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to.join("listeners"))?;
    std::fs::create_dir_all(to.join("plugins"))?;
    if from.join("tenant.yaml").exists() {
        std::fs::copy(from.join("tenant.yaml"), to.join("tenant.yaml"))?;
    }
    for folder in ["listeners", "plugins"] {
        let Ok(entries) = std::fs::read_dir(from.join(folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().is_file() {
                std::fs::copy(entry.path(), to.join(folder).join(entry.file_name()))?;
            }
        }
    }
    Ok(())
}

/// Writes `content` to `path` through a file next to it and a rename, so that the folder
/// never holds half a file; or removes `path`.
fn write_or_remove(path: &std::path::Path, content: Option<&[u8]>) -> std::io::Result<()> {
    let Some(content) = content else {
        return std::fs::remove_file(path);
    };
    let folder = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(folder)?;
    let mut file = tempfile::NamedTempFile::new_in(folder)?;
    std::io::Write::write_all(&mut file, content)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// How often the tenants folder is looked at for changes.
const FILE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Every file of the tenants folder that a tenant is made of (two levels down: tenant.yaml,
/// listeners/, plugins/), with its size and time of change.
fn folder_snapshot(dir: &std::path::Path) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    fn entries(
        dir: &std::path::Path,
        depth: usize,
        into: &mut Vec<(PathBuf, u64, Option<std::time::SystemTime>)>,
    ) {
        let Ok(read) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in read.flatten() {
            let path = entry.path();
            let Ok(metadata) = std::fs::metadata(&path) else {
                continue;
            };
            into.push((path.clone(), metadata.len(), metadata.modified().ok()));
            if metadata.is_dir() && depth > 0 {
                entries(&path, depth - 1, into);
            }
        }
    }
    let mut found = Vec::new();
    entries(dir, 2, &mut found);
    found.sort();
    found
}

/// A tenant that runs: its listeners, what its files were, its status.
struct RunningTenant {
    group: Group,
    fingerprint: Vec<u8>,
    status: TenantStatus,
}

/// Stops every tenant at once: their running triggers finish, their positions are saved.
async fn stop_all(running: HashMap<String, RunningTenant>) {
    let mut stopping = tokio::task::JoinSet::new();
    for (_, tenant) in running {
        stopping.spawn(tenant.group.stop());
    }
    while stopping.join_next().await.is_some() {}
}

/// The status of a tenant whose files are refused: its previous version when it runs one.
fn kept_or_refused(running: Option<&RunningTenant>, name: &str, reason: String) -> TenantStatus {
    match running {
        Some(previous) => {
            tracing::error!(
                "Tenant {name}: its files are refused, its previous version keeps running: {reason}"
            );
            TenantStatus {
                reason: Some(format!(
                    "its files are refused, its previous version keeps running: {reason}"
                )),
                ..previous.status.clone()
            }
        }
        None => {
            tracing::error!("Tenant {name} is refused: {reason}");
            refused(name, reason)
        }
    }
}

/// What a tenant's files hold: its tenant.yaml, listener files and plugins, names and bytes.
fn fingerprint(tenant: &TenantFolder) -> Result<Vec<u8>, String> {
    use sha2::Digest;
    let mut digest = sha2::Sha256::new();
    let settings = tenant.dir.join("tenant.yaml");
    let files = std::iter::once(&settings)
        .chain(&tenant.listener_files)
        .chain(&tenant.plugin_files);
    for file in files {
        digest.update(file.as_os_str().as_encoded_bytes());
        digest.update([0]);
        match std::fs::read(file) {
            Ok(bytes) => digest.update(&bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => digest.update(b"\0none"),
            Err(e) => {
                return Err(format!(
                    "cannot read {}: {}",
                    file.display(),
                    crate::cause::io_error(&e)
                ));
            }
        }
        digest.update([0]);
    }
    Ok(digest.finalize().to_vec())
}

impl Service {
    /// Serves the management API on `api.listen` until `stop`, over HTTPS with `api.tls`.
    async fn start_api(&self, mut stop: tokio::sync::watch::Receiver<bool>) -> Result<(), String> {
        let address = self.file.api.listen;
        let tls = match &self.file.api.tls {
            Some(tls) => Some(super::https::server_config(&tls.certificate, &tls.key)?),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
            format!(
                "cannot listen on {address} (api.listen): {}",
                crate::cause::io_error(&e)
            )
        })?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!("Management API on {scheme}://{bound}");
        let router = super::api::router(super::api::ApiState {
            admin_token: self.file.api.admin_token_sha256,
            tokens: self.tokens.clone(),
            statuses: self.statuses.clone(),
            ready: self.ready.clone(),
            quotas: self.quotas.clone(),
            activity: self.activity.clone(),
            changes: self.changes.0.clone(),
            state_dir: self.file.state_dir.clone(),
        });
        let stopped = async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        let serving = match tls {
            None => tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(stopped)
                    .await
            }),
            Some(config) => {
                let listener = super::https::HttpsListener::new(listener, config)
                    .map_err(|e| e.to_string())?;
                tokio::spawn(async move {
                    axum::serve(listener, router)
                        .with_graceful_shutdown(stopped)
                        .await
                })
            }
        };
        tokio::spawn(async move {
            if let Ok(Err(error)) = serving.await {
                tracing::error!("The management API stopped: {error}");
            }
        });
        Ok(())
    }

    /// Notices changes in the tenants folder (a tenant added or removed, a file written) by
    /// looking at its files' sizes and times every two seconds, and asks for a reload; the
    /// reload applies only the tenants whose files' contents changed. Looking, not kernel
    /// notifications: it works alike on local disks and network file systems.
    fn watch_tenant_files(
        &self,
        reload: Arc<tokio::sync::Notify>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let dir = self.file.tenants_dir.clone();
        tokio::spawn(async move {
            let mut seen = folder_snapshot(&dir);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(FILE_CHECK_INTERVAL) => {}
                    _ = stop.changed() => return,
                }
                let now = {
                    let dir = dir.clone();
                    tokio::task::spawn_blocking(move || folder_snapshot(&dir))
                        .await
                        .unwrap_or_default()
                };
                if now != seen {
                    seen = now;
                    tracing::debug!("The tenants folder changed");
                    reload.notify_one();
                }
            }
        });
    }

    /// Keeps `/ready` true: asks the store now and then whether it answers.
    fn watch_readiness(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let (ready, aviso) = (self.ready.clone(), self.aviso.clone());
        tokio::spawn(async move {
            let Ok(store) = aviso.open_store() else {
                return;
            };
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                    _ = stop.changed() => return,
                }
                let answer = match store.revision().await {
                    Ok(_) => Ok(()),
                    Err(error) => Err(format!("the store does not answer: {error}")),
                };
                *ready.lock().unwrap_or_else(|p| p.into_inner()) = answer;
            }
        });
    }

    /// One tenant's listeners, ready to be delivered to.
    async fn start(
        &self,
        name: &str,
        prepared: PreparedTenant,
        store: &crate::store::Store,
        current: u64,
    ) -> Result<(TenantStatus, Vec<crate::delivery::ActiveListener>), String> {
        let status = status_of(name, &prepared, TenantState::Running);
        let PreparedTenant {
            aviso,
            sets,
            runtime,
            quota,
        } = prepared;
        let mut active = aviso
            .active_listeners(store, &runtime, sets, true, None, current)
            .await
            .map_err(|e| e.to_string())?;
        let recent_errors = self
            .activity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_string())
            .or_default()
            .errors
            .clone();
        for listener in &mut active {
            listener.tenant = Some(name.to_string());
            listener.quota = Some(quota.clone());
            listener.recent_errors = Some(recent_errors.clone());
        }
        tracing::info!(
            "{} listener(s) on {}",
            status.listeners,
            status.base_keys.join(", ")
        );
        Ok((status, active))
    }
}

fn status_of(name: &str, prepared: &PreparedTenant, state: TenantState) -> TenantStatus {
    let mut base_keys: Vec<String> = prepared
        .sets
        .iter()
        .flat_map(|set| &set.listeners)
        .flat_map(|listener| listener.watch_keys.iter().cloned())
        .collect();
    base_keys.sort();
    base_keys.dedup();
    TenantStatus {
        name: name.to_string(),
        state,
        listeners: prepared.sets.iter().map(|set| set.listeners.len()).sum(),
        base_keys,
        reason: None,
    }
}

fn refused(name: &str, reason: String) -> TenantStatus {
    TenantStatus {
        name: name.to_string(),
        state: TenantState::Refused,
        listeners: 0,
        base_keys: Vec::new(),
        reason: Some(reason),
    }
}
