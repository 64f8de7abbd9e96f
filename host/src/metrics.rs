//! What the listeners of this process did, counted by tenant for Prometheus (`aviso serve`'s
//! `GET /metrics`): notifications by outcome, trigger runs by type and outcome, delivery
//! durations, dead letters, tenants by state. Plain `aviso listen` counts too (tenant ""), at
//! the cost of an atomic add per notification.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    tenant: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TriggerLabels {
    tenant: String,
    trigger: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    tenant: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    tenant: String,
    listener: String,
}

type Histograms = Family<TenantLabels, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    notifications: Family<OutcomeLabels, Counter>,
    trigger_runs: Family<TriggerLabels, Counter>,
    delivery_seconds: Histograms,
    tenants: Family<StateLabels, Gauge>,
    cpu_seconds: Family<TenantLabels, Counter<f64, AtomicU64>>,
    throttled: Family<ReasonLabels, Counter>,
    suspensions: Family<TenantLabels, Counter>,
    log_bytes_dropped: Family<TenantLabels, Counter>,
    queue_seconds: Histograms,
    calls_waiting: Family<TenantLabels, Gauge>,
    cursor_lag: Family<ListenerLabels, Gauge>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("aviso");
    let notifications = Family::<OutcomeLabels, Counter>::default();
    registry.register(
        "notifications",
        "Notifications handed to listeners, by outcome: delivered, failed (a trigger failed), dead_letter (given up on)",
        notifications.clone(),
    );
    let trigger_runs = Family::<TriggerLabels, Counter>::default();
    registry.register(
        "trigger_runs",
        "Trigger runs, by trigger type and outcome (ok or failed)",
        trigger_runs.clone(),
    );
    let delivery_seconds: Histograms =
        Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_5, 2.0, 18)));
    registry.register(
        "delivery_seconds",
        "Time to run a notification's triggers",
        delivery_seconds.clone(),
    );
    let tenants = Family::<StateLabels, Gauge>::default();
    registry.register(
        "tenants",
        "Tenants of aviso serve, by state (running, refused)",
        tenants.clone(),
    );
    let cpu_seconds = Family::<TenantLabels, Counter<f64, AtomicU64>>::default();
    registry.register(
        "plugin_cpu_seconds",
        "CPU time used by plugin calls (guest code and the host calls it makes)",
        cpu_seconds.clone(),
    );
    let throttled = Family::<ReasonLabels, Counter>::default();
    registry.register(
        "throttled",
        "Times a tenant's calls or deliveries had to wait for its quota to refill, by quota (cpu, deliveries)",
        throttled.clone(),
    );
    let suspensions = Family::<TenantLabels, Counter>::default();
    registry.register(
        "suspensions",
        "Times a tenant was suspended for using a whole minute's CPU time beyond its quota",
        suspensions.clone(),
    );
    let log_bytes_dropped = Family::<TenantLabels, Counter>::default();
    registry.register(
        "plugin_log_dropped_bytes",
        "Plugin log message bytes dropped beyond quotas.log_bytes_per_minute",
        log_bytes_dropped.clone(),
    );
    let queue_seconds: Histograms =
        Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_1, 2.0, 20)));
    registry.register(
        "call_queue_seconds",
        "Time a plugin call waited for its quota and a free sandbox before it ran",
        queue_seconds.clone(),
    );
    let calls_waiting = Family::<TenantLabels, Gauge>::default();
    registry.register(
        "calls_waiting",
        "Plugin calls waiting now for their tenant's quota or a free sandbox",
        calls_waiting.clone(),
    );
    let cursor_lag = Family::<ListenerLabels, Gauge>::default();
    registry.register(
        "cursor_lag_revisions",
        "Revisions between the newest one its feed read and the last one the listener finished",
        cursor_lag.clone(),
    );
    Metrics {
        registry,
        notifications,
        trigger_runs,
        delivery_seconds,
        tenants,
        cpu_seconds,
        throttled,
        suspensions,
        log_bytes_dropped,
        queue_seconds,
        calls_waiting,
        cursor_lag,
    }
});

fn tenant_name(tenant: Option<&str>) -> String {
    tenant.unwrap_or_default().to_string()
}

/// A notification's triggers ran: `delivered` when all succeeded, else `failed`; the time they
/// took; and each trigger's outcome (`triggers`: its label, e.g. `post (https://...)`, and
/// whether it succeeded; counted by the label's first word, the trigger type).
pub fn delivery(tenant: Option<&str>, took: Duration, triggers: &[(&str, bool)]) {
    let metrics = &*METRICS;
    let tenant = tenant_name(tenant);
    let all_ok = triggers.iter().all(|(_, ok)| *ok);
    metrics
        .notifications
        .get_or_create(&OutcomeLabels {
            tenant: tenant.clone(),
            outcome: if all_ok { "delivered" } else { "failed" }.into(),
        })
        .inc();
    for (label, ok) in triggers {
        let kind = label.split_whitespace().next().unwrap_or_default();
        metrics
            .trigger_runs
            .get_or_create(&TriggerLabels {
                tenant: tenant.clone(),
                trigger: kind.into(),
                outcome: if *ok { "ok" } else { "failed" }.into(),
            })
            .inc();
    }
    metrics
        .delivery_seconds
        .get_or_create(&TenantLabels { tenant })
        .observe(took.as_secs_f64());
}

/// A notification was given up on and recorded as a dead letter.
pub fn dead_letter(tenant: Option<&str>) {
    METRICS
        .notifications
        .get_or_create(&OutcomeLabels {
            tenant: tenant_name(tenant),
            outcome: "dead_letter".into(),
        })
        .inc();
}

/// How many tenants are in each state now.
pub fn tenants(running: usize, refused: usize) {
    for (state, count) in [("running", running), ("refused", refused)] {
        METRICS
            .tenants
            .get_or_create(&StateLabels {
                state: state.into(),
            })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}

fn labels(tenant: &str) -> TenantLabels {
    TenantLabels {
        tenant: tenant.to_string(),
    }
}

/// CPU time a tenant's plugin call used.
pub fn cpu(tenant: &str, used: Duration) {
    METRICS
        .cpu_seconds
        .get_or_create(&labels(tenant))
        .inc_by(used.as_secs_f64());
}

/// A tenant had to wait for its `reason` quota (`cpu`, `deliveries`).
pub fn throttled(tenant: &str, reason: &str) {
    METRICS
        .throttled
        .get_or_create(&ReasonLabels {
            tenant: tenant.to_string(),
            reason: reason.to_string(),
        })
        .inc();
}

/// A tenant was suspended.
pub fn suspended(tenant: &str) {
    METRICS.suspensions.get_or_create(&labels(tenant)).inc();
}

/// A tenant's plugin log message of `bytes` was dropped.
pub fn log_dropped(tenant: &str, bytes: usize) {
    METRICS
        .log_bytes_dropped
        .get_or_create(&labels(tenant))
        .inc_by(bytes as u64);
}

/// A plugin call starts waiting for its quota and a sandbox (`waiting`: true), or stops.
pub fn call_waiting(tenant: &str, waiting: bool) {
    let gauge = METRICS.calls_waiting.get_or_create(&labels(tenant));
    if waiting {
        gauge.inc();
    } else {
        gauge.dec();
    }
}

/// A plugin call waited this long before it ran.
pub fn call_queued(tenant: &str, waited: Duration) {
    METRICS
        .queue_seconds
        .get_or_create(&labels(tenant))
        .observe(waited.as_secs_f64());
}

/// How far a listener is behind its feed.
pub fn cursor_lag(tenant: Option<&str>, listener: &str, revisions: u64) {
    METRICS
        .cursor_lag
        .get_or_create(&ListenerLabels {
            tenant: tenant_name(tenant),
            listener: listener.to_string(),
        })
        .set(i64::try_from(revisions).unwrap_or(i64::MAX));
}

/// Everything counted, in the OpenMetrics text format.
pub fn encoded() -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &METRICS.registry);
    text
}
