//! What the listeners of this process did, counted by tenant for Prometheus (`aviso serve`'s
//! `GET /metrics`): notifications by outcome, trigger runs by type and outcome, delivery
//! durations, dead letters, tenants by state. Plain `aviso listen` counts too (tenant ""), at
//! the cost of an atomic add per notification.

use std::sync::LazyLock;
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

type Histograms = Family<TenantLabels, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    notifications: Family<OutcomeLabels, Counter>,
    trigger_runs: Family<TriggerLabels, Counter>,
    delivery_seconds: Histograms,
    tenants: Family<StateLabels, Gauge>,
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
    Metrics {
        registry,
        notifications,
        trigger_runs,
        delivery_seconds,
        tenants,
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

/// Everything counted, in the OpenMetrics text format.
pub fn encoded() -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &METRICS.registry);
    text
}
