//! aviso-admin: keeps etcd at a constant size. The compactor compacts the history older than
//! its retention; the cleaner deletes the notifications older than its retention. Each runs
//! daily at its `scheduled_time` (local time, as pyaviso), or once with `--once`; a failed run
//! is tried again every minute until it succeeds or its next day comes. `/metrics` and
//! `/health` are served on `metrics.host:metrics.port`.

pub mod cleaner;
pub mod compactor;

use std::time::Duration;

use chrono::{Local, NaiveTime, TimeZone, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde::Deserialize;
use serde_json::json;

use crate::gateway::Gateway;
use crate::http::Metrics;
use crate::settings::{SettingsError, Sources, typed};
use cleaner::Cleaner;
use compactor::Compactor;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    pub debug: bool,
    pub compactor: CompactorSettings,
    pub cleaner: CleanerSettings,
    pub metrics: MetricsSettings,
    /// pyaviso's monitoring section (UDP receiver, Opsview reporters): read, not used; its
    /// work is done by Prometheus scraping the servers' `/metrics`.
    #[serde(default)]
    pub monitoring: serde_json::Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompactorSettings {
    pub url: String,
    pub req_timeout: u64,
    pub history_path: String,
    pub retention_period: u32,
    pub scheduled_time: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanerSettings {
    pub url: String,
    pub req_timeout: u64,
    pub dest_path: String,
    pub diss_path: String,
    pub mars_path: String,
    pub retention_period: u32,
    pub scheduled_time: String,
    pub enabled: bool,
    /// Where the last day cleaned is recorded.
    pub progress_key: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
}

/// pyaviso's defaults, and ours for what it did not have.
fn defaults() -> serde_json::Value {
    json!({
        "debug": false,
        "compactor": {
            "url": "http://localhost:2379", "req_timeout": 120, "history_path": "/ec/admin/history",
            "retention_period": 16, "scheduled_time": "00:00", "enabled": true,
        },
        "cleaner": {
            "url": "http://localhost:2379", "req_timeout": 60, "dest_path": "/ec/admin/",
            "diss_path": "/ec/diss/", "mars_path": "/ec/mars/", "retention_period": 15,
            "scheduled_time": "00:00", "enabled": true, "progress_key": "/ec/admin/cleaner/progress",
        },
        "metrics": {"enabled": true, "host": "127.0.0.1", "port": 8091},
    })
}

const ENVIRONMENT: &[(&str, &str)] = &[
    ("DEBUG", "debug"),
    ("CLEANER_URL", "cleaner.url"),
    ("CLEANER_ENABLED", "cleaner.enabled"),
    ("CLEANER_RETENTION_PERIOD", "cleaner.retention_period"),
    ("CLEANER_SCHEDULED_TIME", "cleaner.scheduled_time"),
    ("COMPACTOR_URL", "compactor.url"),
    ("COMPACTOR_ENABLED", "compactor.enabled"),
    ("COMPACTOR_RETENTION_PERIOD", "compactor.retention_period"),
    ("COMPACTOR_SCHEDULED_TIME", "compactor.scheduled_time"),
    ("METRICS_HOST", "metrics.host"),
    ("METRICS_PORT", "metrics.port"),
];

impl AdminSettings {
    pub fn load(sources: &Sources) -> Result<AdminSettings, SettingsError> {
        let (document, _) = sources.load(defaults(), ENVIRONMENT)?;
        let settings: AdminSettings = typed(document, "aviso-admin")?;
        for (job, time) in [
            ("compactor", &settings.compactor.scheduled_time),
            ("cleaner", &settings.cleaner.scheduled_time),
        ] {
            parse_time(time).map_err(|e| SettingsError(format!("{job}.scheduled_time: {e}")))?;
        }
        for (name, prefix) in [
            ("cleaner.dest_path", &settings.cleaner.dest_path),
            ("cleaner.diss_path", &settings.cleaner.diss_path),
            ("cleaner.mars_path", &settings.cleaner.mars_path),
        ] {
            if !prefix.starts_with('/') || !prefix.ends_with('/') {
                return Err(SettingsError(format!(
                    "{name} must start and end with '/' (it is {prefix:?})"
                )));
            }
        }
        Ok(settings)
    }
}

/// `HH:MM` (or `HH:MM:SS`), as the `schedule` library takes it.
fn parse_time(text: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(text, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
        .map_err(|_| format!("{text:?} is not a time of day such as \"00:00\""))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// The admin's own metrics.
#[derive(Clone)]
pub struct AdminMetrics {
    runs: Family<JobLabels, Counter>,
    keys_deleted: Family<KindLabels, Counter>,
    compacted_revision: Gauge,
    recorded_revision: Gauge,
    cleaned_through: Gauge,
    db_size: Gauge<f64, std::sync::atomic::AtomicU64>,
    db_size_in_use: Gauge<f64, std::sync::atomic::AtomicU64>,
    db_quota: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl AdminMetrics {
    fn new(metrics: &Metrics) -> AdminMetrics {
        let admin = AdminMetrics {
            runs: Default::default(),
            keys_deleted: Default::default(),
            compacted_revision: Default::default(),
            recorded_revision: Default::default(),
            cleaned_through: Default::default(),
            db_size: Default::default(),
            db_size_in_use: Default::default(),
            db_quota: Default::default(),
        };
        metrics.register(
            "runs",
            "Compactor and cleaner runs, by job and outcome",
            admin.runs.clone(),
        );
        metrics.register(
            "keys_deleted",
            "Keys deleted by the cleaner, by kind (diss, admin, mars)",
            admin.keys_deleted.clone(),
        );
        metrics.register(
            "compacted_revision",
            "The revision etcd was last compacted to",
            admin.compacted_revision.clone(),
        );
        metrics.register(
            "recorded_revision",
            "The revision the compactor last recorded in its history",
            admin.recorded_revision.clone(),
        );
        metrics.register(
            "cleaned_through_day",
            "The last day cleaned, as the number YYYYMMDD",
            admin.cleaned_through.clone(),
        );
        metrics.register(
            "etcd_db_size_bytes",
            "etcd's database size (etcd_mvcc_db_total_size_in_bytes)",
            admin.db_size.clone(),
        );
        metrics.register(
            "etcd_db_size_in_use_bytes",
            "etcd's database size in use (etcd_mvcc_db_total_size_in_use_in_bytes)",
            admin.db_size_in_use.clone(),
        );
        metrics.register(
            "etcd_quota_bytes",
            "etcd's backend quota (etcd_server_quota_backend_bytes)",
            admin.db_quota.clone(),
        );
        admin
    }

    fn run(&self, job: &str, ok: bool) {
        self.runs
            .get_or_create(&JobLabels {
                job: job.into(),
                outcome: if ok { "success" } else { "failure" }.into(),
            })
            .inc();
    }
}

/// What to do: both jobs on their schedules, or once now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Scheduled,
    Once { dry_run: bool },
}

pub struct Admin {
    settings: AdminSettings,
    compactor: Compactor,
    cleaner: Cleaner,
    metrics: Metrics,
    admin_metrics: AdminMetrics,
}

impl Admin {
    pub fn new(settings: AdminSettings) -> Result<Admin, String> {
        let compactor = Compactor {
            gateway: Gateway::new(
                &settings.compactor.url,
                Duration::from_secs(settings.compactor.req_timeout),
            )?,
            history_path: settings.compactor.history_path.clone(),
            retention_days: settings.compactor.retention_period,
        };
        let cleaner = Cleaner {
            gateway: Gateway::new(
                &settings.cleaner.url,
                Duration::from_secs(settings.cleaner.req_timeout),
            )?,
            dest_path: settings.cleaner.dest_path.clone(),
            diss_path: settings.cleaner.diss_path.clone(),
            mars_path: settings.cleaner.mars_path.clone(),
            retention_days: settings.cleaner.retention_period,
            progress_key: settings.cleaner.progress_key.clone(),
        };
        let metrics = Metrics::new("aviso_admin");
        let admin_metrics = AdminMetrics::new(&metrics);
        Ok(Admin {
            settings,
            compactor,
            cleaner,
            metrics,
            admin_metrics,
        })
    }

    /// Runs the compactor; says what it did. `Err` with the message when it failed.
    pub async fn compact(&self, dry_run: bool) -> Result<(), String> {
        let result = self.compactor.run(Utc::now(), dry_run).await;
        self.admin_metrics.run("compactor", result.is_ok());
        let report = result.map_err(|e| format!("Compactor: {e}"))?;
        let verb = if dry_run {
            "would compact"
        } else {
            "compacted"
        };
        self.admin_metrics
            .recorded_revision
            .set(i64::try_from(report.recorded).unwrap_or(i64::MAX));
        match report.compacted_to {
            Some(revision) => {
                if !dry_run {
                    self.admin_metrics
                        .compacted_revision
                        .set(i64::try_from(revision).unwrap_or(i64::MAX));
                }
                tracing::info!(
                    "Compactor: recorded revision {}; {verb} the history up to revision {revision} ({} entries older than {} days)",
                    report.recorded,
                    report.dropped.len(),
                    self.compactor.retention_days
                );
            }
            None => tracing::info!(
                "Compactor: recorded revision {}; nothing older than {} days to compact",
                report.recorded,
                self.compactor.retention_days
            ),
        }
        Ok(())
    }

    /// Runs the cleaner; says what it deleted (or would delete) per day.
    pub async fn clean(&self, dry_run: bool) -> Result<(), String> {
        let result = self.cleaner.run(Utc::now(), dry_run).await;
        self.admin_metrics.run("cleaner", result.is_ok());
        let reports = result.map_err(|e| format!("Cleaner: {e}"))?;
        let verb = if dry_run { "would delete" } else { "deleted" };
        if reports.is_empty() {
            tracing::info!("Cleaner: no day left to clean");
        }
        for report in &reports {
            let destinations: Vec<String> = report
                .destinations
                .iter()
                .map(|(d, n)| format!("{d} {n}"))
                .collect();
            tracing::info!(
                "Cleaner: day {}: {verb} {} keys (destinations: {}; admin keys {}; mars {})",
                report.day,
                report.total(),
                if destinations.is_empty() {
                    "none".to_string()
                } else {
                    destinations.join(", ")
                },
                report.admin_keys,
                report.mars_keys
            );
            if !dry_run {
                let deleted = |kind: &str, n: u64| {
                    self.admin_metrics
                        .keys_deleted
                        .get_or_create(&KindLabels { kind: kind.into() })
                        .inc_by(n)
                };
                deleted("diss", report.destinations.iter().map(|(_, n)| n).sum());
                deleted("admin", report.admin_keys);
                deleted("mars", report.mars_keys);
                self.admin_metrics
                    .cleaned_through
                    .set(report.day.parse().unwrap_or(0));
            }
        }
        Ok(())
    }

    /// Both enabled jobs once, now; `Err` if either failed.
    pub async fn once(&self, dry_run: bool) -> Result<(), String> {
        let mut failures = Vec::new();
        if self.settings.compactor.enabled {
            if let Err(e) = self.compact(dry_run).await {
                failures.push(e);
            }
        }
        if self.settings.cleaner.enabled {
            if let Err(e) = self.clean(dry_run).await {
                failures.push(e);
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("\n"))
        }
    }

    /// Serves `/metrics` and runs each enabled job at its time every day until a signal.
    pub async fn scheduled(self) -> Result<(), String> {
        let admin = std::sync::Arc::new(self);
        let mut jobs = tokio::task::JoinSet::new();
        for job in [Job::Compactor, Job::Cleaner] {
            let (enabled, time) = match job {
                Job::Compactor => (
                    admin.settings.compactor.enabled,
                    &admin.settings.compactor.scheduled_time,
                ),
                Job::Cleaner => (
                    admin.settings.cleaner.enabled,
                    &admin.settings.cleaner.scheduled_time,
                ),
            };
            if !enabled {
                tracing::info!("{} disabled", job.name());
                continue;
            }
            let time = parse_time(time)?;
            tracing::info!("{} runs every day at {time} (local time)", job.name());
            let admin = admin.clone();
            jobs.spawn(async move { admin.daily(job, time).await });
        }
        let store_size = admin.clone();
        jobs.spawn(async move { store_size.watch_store_size().await });
        let router = crate::http::with_common_routes(
            axum::Router::new().fallback(crate::http::not_found),
            admin.metrics.clone(),
        );
        if admin.settings.metrics.enabled {
            crate::http::serve(
                "aviso-admin",
                &admin.settings.metrics.host,
                admin.settings.metrics.port,
                router,
            )
            .await
            .map_err(|e| e.to_string())?;
        } else {
            crate::http::shutdown_signal().await;
        }
        jobs.abort_all();
        Ok(())
    }

    async fn daily(&self, job: Job, time: NaiveTime) {
        loop {
            let next = next_occurrence(time);
            tokio::time::sleep(next).await;
            // A failed run is tried again each minute until it succeeds or the next day's run.
            let deadline = tokio::time::Instant::now() + next_occurrence(time);
            loop {
                let result = match job {
                    Job::Compactor => self.compact(false).await,
                    Job::Cleaner => self.clean(false).await,
                };
                match result {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::error!("{e}; trying again in a minute");
                        let retry = tokio::time::Instant::now() + Duration::from_secs(60);
                        if retry >= deadline {
                            break;
                        }
                        tokio::time::sleep_until(retry).await;
                    }
                }
            }
        }
    }

    /// Keeps the store-size gauges current from etcd's own metrics.
    async fn watch_store_size(&self) {
        loop {
            let gateway = &self.compactor.gateway;
            for (name, gauge) in [
                (
                    "etcd_mvcc_db_total_size_in_bytes",
                    &self.admin_metrics.db_size,
                ),
                (
                    "etcd_mvcc_db_total_size_in_use_in_bytes",
                    &self.admin_metrics.db_size_in_use,
                ),
                (
                    "etcd_server_quota_backend_bytes",
                    &self.admin_metrics.db_quota,
                ),
            ] {
                match gateway.member_metric(name).await {
                    Ok(Some(value)) => {
                        gauge.set(value);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!("store size not read: {e}");
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Job {
    Compactor,
    Cleaner,
}

impl Job {
    fn name(self) -> &'static str {
        match self {
            Job::Compactor => "Compactor",
            Job::Cleaner => "Cleaner",
        }
    }
}

/// How long until the next `time` of day, local time.
fn next_occurrence(time: NaiveTime) -> Duration {
    next_occurrence_after(Local::now(), time)
}

/// How long from `now` until the next `time` of day in `now`'s time zone (tomorrow's when
/// today's has passed; the earlier of a time that comes twice when clocks go back).
fn next_occurrence_after<Z: TimeZone>(now: chrono::DateTime<Z>, time: NaiveTime) -> Duration {
    let zone = now.timezone();
    let today = now.date_naive().and_time(time);
    let candidates = [today, today + chrono::Duration::days(1)];
    candidates
        .iter()
        .filter_map(|naive| zone.from_local_datetime(naive).earliest())
        .find(|at| *at > now)
        .map_or(Duration::from_secs(60), |at| {
            (at - now.clone())
                .to_std()
                .unwrap_or(Duration::from_secs(60))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_runs_at_its_next_time_of_day() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap();
        let at = |text: &str| next_occurrence_after(now, parse_time(text).unwrap());
        assert_eq!(at("10:30"), Duration::from_secs(30 * 60));
        assert_eq!(at("00:00"), Duration::from_secs(14 * 3600));
        // Now exactly: the next is tomorrow's.
        assert_eq!(at("10:00"), Duration::from_secs(24 * 3600));
        assert_eq!(at("10:00:05"), Duration::from_secs(5));
        assert!(parse_time("24:00").is_err());
    }
}
