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
use crate::listener::ListenerSet;
use crate::quota::{QuotaSettings, TenantQuota};
use crate::trigger::{PluginPolicy, TriggerRuntime};
use crate::yaml::YamlValue;

use super::config::{ServiceFile, TenantFolder};
use super::tenant::{Confinement, closed_site_policy, tenant_policy};

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
#[derive(Clone)]
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
    /// and left out, the others run. On `reload` (SIGHUP), the tenants folder is read again:
    /// new tenants start, removed ones stop, changed ones run their new files; a tenant whose
    /// new files are refused keeps running its previous version, with the reason in its status.
    /// Positions are saved across a reload, so nothing is missed or delivered twice.
    pub async fn run(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
        reload: Arc<tokio::sync::Notify>,
    ) -> Result<(), String> {
        self.start_api(stop.clone()).await?;
        let store = Arc::new(self.aviso.open_store().map_err(|e| e.to_string())?);
        let mut kept: HashMap<String, PreparedTenant> = HashMap::new();
        let mut first = true;
        loop {
            let Some(current) = self
                .aviso
                .current_revision(&store, &stop)
                .await
                .map_err(|e| e.to_string())?
            else {
                return Ok(());
            };
            let everyone = self.start_all(&store, current, &mut kept).await?;
            if first {
                self.watch_readiness(stop.clone());
                first = false;
            }
            let (halt, halted) = tokio::sync::watch::channel(false);
            let delivering = crate::delivery::run(
                store.clone(),
                everyone,
                self.aviso.feed_settings(),
                self.aviso.retry_policy(),
                halted,
            );
            tokio::pin!(delivering);
            let mut stopping = stop.clone();
            tokio::select! {
                outcome = &mut delivering => return outcome.map_err(|e| e.to_string()),
                _ = stopping.wait_for(|stopped| *stopped) => {
                    let _ = halt.send(true);
                    return delivering.await.map_err(|e| e.to_string());
                }
                () = reload.notified() => {
                    tracing::info!("Reloading the tenants: the running triggers finish first");
                    let _ = halt.send(true);
                    delivering.await.map_err(|e| e.to_string())?;
                }
            }
        }
    }

    /// Every tenant's listeners, ready to be delivered to; `kept` holds each tenant's last
    /// version that could run, for when its files change into something that cannot.
    async fn start_all(
        &self,
        store: &crate::store::Store,
        current: u64,
        kept: &mut HashMap<String, PreparedTenant>,
    ) -> Result<Vec<crate::delivery::ActiveListener>, String> {
        let scan = self.file.tenants()?;
        *self.tokens.lock().unwrap_or_else(|p| p.into_inner()) = scan
            .usable
            .iter()
            .map(|tenant| (tenant.name.clone(), tenant.token_sha256))
            .collect();
        let mut statuses = Vec::new();
        let mut present = Vec::new();
        let mut everyone = Vec::new();
        let mut candidates: Vec<(String, Result<PreparedTenant, String>)> = Vec::new();
        for refusal in &scan.refused {
            candidates.push((refusal.name(), Err(refusal.reason.clone())));
        }
        for tenant in &scan.usable {
            let span = tracing::info_span!("tenant", tenant = tenant.name.as_str());
            let prepared = self.prepare(tenant).instrument(span).await;
            candidates.push((tenant.name.clone(), prepared));
        }
        for (name, prepared) in candidates {
            present.push(name.clone());
            let (prepared, reason) = match prepared {
                Ok(prepared) => {
                    kept.insert(name.clone(), prepared.clone());
                    (prepared, None)
                }
                Err(reason) => match kept.get(&name) {
                    Some(previous) => {
                        tracing::error!(
                            "Tenant {name}: its files are refused, its previous version keeps running: {reason}"
                        );
                        (
                            previous.clone(),
                            Some(format!(
                                "its files are refused, its previous version keeps running: {reason}"
                            )),
                        )
                    }
                    None => {
                        tracing::error!("Tenant {name} is refused: {reason}");
                        statuses.push(refused(&name, reason));
                        continue;
                    }
                },
            };
            let span = tracing::info_span!("tenant", tenant = name.as_str());
            match self
                .start(&name, prepared, store, current)
                .instrument(span)
                .await
            {
                Ok((mut status, active)) => {
                    status.reason = reason;
                    everyone.extend(active);
                    statuses.push(status);
                }
                Err(error) => {
                    tracing::error!("Tenant {name} is refused: {error}");
                    statuses.push(refused(&name, error));
                }
            }
        }
        // A tenant whose folder is gone stops, and is forgotten.
        kept.retain(|name, _| present.contains(name));
        self.quotas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|name, _| present.contains(name));
        statuses.sort_by(|a, b| a.name.cmp(&b.name));
        let running = statuses
            .iter()
            .filter(|s| s.state == TenantState::Running)
            .count();
        crate::metrics::tenants(running, statuses.len() - running);
        *self.statuses.lock().unwrap_or_else(|p| p.into_inner()) = statuses;
        *self.ready.lock().unwrap_or_else(|p| p.into_inner()) = Ok(());
        let mut bases: Vec<&str> = everyone.iter().map(|a| a.base.as_str()).collect();
        bases.sort_unstable();
        bases.dedup();
        tracing::info!(
            "Serving {running} tenant(s) on {} base key(s) at {}...",
            bases.len(),
            store.describe()
        );
        Ok(everyone)
    }
}

impl Service {
    /// Serves the management API on `api.listen` until `stop`.
    async fn start_api(&self, mut stop: tokio::sync::watch::Receiver<bool>) -> Result<(), String> {
        let address = self.file.api.listen;
        let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
            format!(
                "cannot listen on {address} (api.listen): {}",
                crate::cause::io_error(&e)
            )
        })?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!("Management API on http://{bound}");
        let router = super::api::router(super::api::ApiState {
            admin_token: self.file.api.admin_token_sha256,
            tokens: self.tokens.clone(),
            statuses: self.statuses.clone(),
            ready: self.ready.clone(),
            quotas: self.quotas.clone(),
            state_dir: self.file.state_dir.clone(),
        });
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            };
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::error!("The management API stopped: {error}");
            }
        });
        Ok(())
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
        for listener in &mut active {
            listener.tenant = Some(name.to_string());
            listener.quota = Some(quota.clone());
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
