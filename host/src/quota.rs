//! A tenant's quotas (`aviso serve`): what its plugins and listeners may use of the machine,
//! measured as they use it.
//!
//! - Calls beyond `concurrent_calls`, or beyond `memory_total` (each call counts the memory it
//!   may grow to), wait in the tenant's own queue; when every sandbox is busy, the tenants'
//!   calls are admitted by `weight` (see [`crate::plugin`]'s admission lanes).
//! - CPU time, deliveries and plugin log bytes are counted against a per-minute allowance that
//!   refills continuously. A tenant whose plugins used more CPU time than its allowance is
//!   *throttled*: its next calls wait until the allowance has refilled. One whose plugins ran a
//!   whole minute's allowance into debt (twice its quota within a minute, say a loop in many
//!   calls at once) is *suspended*: its running calls are stopped, and its calls fail at once
//!   (to be retried and then recorded as dead letters, never dropped) until the debt is repaid.
//! - Deliveries beyond `deliveries_per_minute` wait for the allowance (throttled); plugin log
//!   messages beyond `log_bytes_per_minute` are dropped, and said so once a minute.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::plugin::{Admission, Lane, NoFreeInstance, Permit};

/// A tenant's quotas as configured (`quotas:` of its tenant.yaml); `None`: no bound of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaSettings {
    pub concurrent_calls: Option<usize>,
    pub cpu_per_minute: Option<Duration>,
    pub memory_total_bytes: Option<usize>,
    pub deliveries_per_minute: Option<u64>,
    pub log_bytes_per_minute: Option<u64>,
    /// Its share of the sandboxes when they are all busy (1 unless said).
    pub weight: u32,
}

/// Why a tenant's call was not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Its `concurrent_calls` or `memory_total` stayed in use for as long as the call may take.
    Busy { waited: Duration, quota: String },
    /// It is suspended, with why and for how much longer.
    Suspended(String),
}

/// What a tenant uses now, for its status in the management API.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QuotaUse {
    /// `normal`, `throttled` or `suspended`.
    pub state: &'static str,
    /// Why, when not normal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub calls_running: usize,
    pub calls_waiting: usize,
    pub cpu_seconds_total: f64,
    /// CPU time left in its allowance (negative: in debt), when it has a CPU quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_seconds_left: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries_left: Option<f64>,
    pub throttled: u64,
    pub suspensions: u64,
    pub log_bytes_dropped: u64,
}

/// An allowance per minute that refills continuously, up to one minute's worth.
#[derive(Debug)]
struct Allowance {
    per_minute: f64,
    left: f64,
    updated: Instant,
}

impl Allowance {
    fn new(per_minute: f64) -> Allowance {
        Allowance {
            per_minute,
            left: per_minute,
            updated: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.left = (self.left + elapsed * self.per_minute / 60.0).min(self.per_minute);
        self.updated = now;
        self.left
    }

    /// How long until at least `need` is left.
    fn wait_for(&mut self, need: f64, now: Instant) -> Duration {
        let left = self.refill(now);
        if left >= need {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((need - left) * 60.0 / self.per_minute)
        }
    }
}

/// One tenant's quotas and what it used.
pub struct TenantQuota {
    tenant: String,
    settings: QuotaSettings,
    lane: Lane,
    calls: Option<Arc<Admission>>,
    memory: Option<(Arc<Semaphore>, u32)>,
    cpu: Option<Mutex<Allowance>>,
    deliveries: Option<Mutex<Allowance>>,
    log_bytes: Option<Mutex<Allowance>>,
    suspended_until: Mutex<Option<Instant>>,
    /// Set while suspended: read by every running call at each time slice.
    suspended: AtomicBool,
    cpu_nanos: AtomicU64,
    running: AtomicUsize,
    waiting: AtomicUsize,
    throttled: AtomicU64,
    suspensions: AtomicU64,
    log_dropped: AtomicU64,
    /// When the last "log messages dropped" line was written.
    log_warned: Mutex<Option<Instant>>,
    throttle_warned: Mutex<Option<Instant>>,
}

/// Held while a call runs: its place in the tenant's call and memory quotas.
pub struct CallHold {
    _calls: Option<Permit>,
    _memory: Option<OwnedSemaphorePermit>,
    quota: Arc<TenantQuota>,
}

impl Drop for CallHold {
    fn drop(&mut self) {
        self.quota.running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The most a tenant's memory quota is counted in: MiB.
const MIB: usize = 1 << 20;

/// How often a throttled or log-limited tenant is said so in the log, at most.
const REMINDER: Duration = Duration::from_secs(60);

impl TenantQuota {
    pub fn new(tenant: &str, settings: QuotaSettings) -> Arc<TenantQuota> {
        let per_minute = |value: Option<u64>| value.map(|v| Mutex::new(Allowance::new(v as f64)));
        Arc::new(TenantQuota {
            tenant: tenant.to_string(),
            lane: Lane::new(settings.weight),
            calls: settings.concurrent_calls.map(|calls| {
                Arc::new(Admission::new(
                    calls.clamp(1, crate::plugin::MAX_CONCURRENT_CALLS),
                ))
            }),
            memory: settings.memory_total_bytes.map(|bytes| {
                let mib = u32::try_from(bytes.div_ceil(MIB))
                    .unwrap_or(u32::MAX)
                    .max(1);
                (Arc::new(Semaphore::new(mib as usize)), mib)
            }),
            cpu: settings
                .cpu_per_minute
                .map(|cpu| Mutex::new(Allowance::new(cpu.as_secs_f64()))),
            deliveries: per_minute(settings.deliveries_per_minute),
            log_bytes: per_minute(settings.log_bytes_per_minute),
            settings,
            suspended_until: Mutex::new(None),
            suspended: AtomicBool::new(false),
            cpu_nanos: AtomicU64::new(0),
            running: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            throttled: AtomicU64::new(0),
            suspensions: AtomicU64::new(0),
            log_dropped: AtomicU64::new(0),
            log_warned: Mutex::new(None),
            throttle_warned: Mutex::new(None),
        })
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn settings(&self) -> &QuotaSettings {
        &self.settings
    }

    /// The lane its calls wait in for a free sandbox.
    pub fn lane(&self) -> Lane {
        self.lane
    }

    /// Whether it is suspended now; ends a suspension whose time is up.
    pub fn is_suspended(&self) -> bool {
        if !self.suspended.load(Ordering::Relaxed) {
            return false;
        }
        let mut until = lock(&self.suspended_until);
        match *until {
            Some(time) if Instant::now() < time => true,
            _ => {
                *until = None;
                self.suspended.store(false, Ordering::Relaxed);
                let _tenant = self.span();
                tracing::info!(
                    "Tenant {}: its suspension is over, its calls run again",
                    self.tenant
                );
                false
            }
        }
    }

    fn suspension_reason(&self) -> Option<String> {
        if !self.is_suspended() {
            return None;
        }
        let left = lock(&self.suspended_until)
            .map(|until| until.saturating_duration_since(Instant::now()))
            .unwrap_or_default();
        let quota = self.settings.cpu_per_minute.unwrap_or_default();
        Some(format!(
            "suspended for {} more: its plugins used a whole minute's CPU time beyond its quota of {} a minute (quotas.cpu_seconds_per_minute)",
            crate::cause::duration(left),
            crate::cause::duration(quota)
        ))
    }

    /// Before a call: waits while the tenant is throttled, then for its place in its call and
    /// memory quotas (at most `patience`); refused at once while it is suspended.
    pub async fn enter(
        self: &Arc<Self>,
        plugin: &str,
        memory_bytes: usize,
        patience: Duration,
    ) -> Result<CallHold, Refusal> {
        if let Some(reason) = self.suspension_reason() {
            return Err(Refusal::Suspended(reason));
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Decrement(&self.waiting);
        self.wait_for_cpu().await;
        if let Some(reason) = self.suspension_reason() {
            return Err(Refusal::Suspended(reason));
        }
        let calls = match &self.calls {
            None => None,
            Some(calls) => match calls.enter(plugin, Lane::SHARED, patience).await {
                Ok(permit) => Some(permit),
                Err(NoFreeInstance { waited }) => {
                    return Err(Refusal::Busy {
                        waited,
                        quota: format!(
                            "{} concurrent call(s) (quotas.concurrent_calls)",
                            calls.stats().capacity
                        ),
                    });
                }
            },
        };
        let memory = match &self.memory {
            None => None,
            Some((memory, total)) => {
                let need = u32::try_from(memory_bytes.div_ceil(MIB))
                    .unwrap_or(u32::MAX)
                    .clamp(1, *total);
                match tokio::time::timeout(patience, memory.clone().acquire_many_owned(need)).await
                {
                    Ok(Ok(permit)) => Some(permit),
                    _ => {
                        return Err(Refusal::Busy {
                            waited: patience,
                            quota: format!("{total} MiB of memory (quotas.memory_total)"),
                        });
                    }
                }
            }
        };
        self.running.fetch_add(1, Ordering::Relaxed);
        Ok(CallHold {
            _calls: calls,
            _memory: memory,
            quota: self.clone(),
        })
    }

    /// Waits until the CPU allowance is no longer in debt.
    async fn wait_for_cpu(&self) {
        let Some(cpu) = &self.cpu else { return };
        let mut counted = false;
        loop {
            let wait = lock(cpu).wait_for(0.0, Instant::now());
            if wait.is_zero() {
                return;
            }
            if !counted {
                counted = true;
                self.throttled.fetch_add(1, Ordering::Relaxed);
                crate::metrics::throttled(&self.tenant, "cpu");
                self.remind(
                    &self.throttle_warned,
                    format!(
                        "Tenant {}: throttled, its plugins used more than their CPU time quota of {} a minute (quotas.cpu_seconds_per_minute); its calls wait {} for it to refill",
                        self.tenant,
                        crate::cause::duration(self.settings.cpu_per_minute.unwrap_or_default()),
                        crate::cause::duration(wait)
                    ),
                );
            }
            // Woken now and then to notice a suspension.
            tokio::time::sleep(wait.min(Duration::from_secs(1))).await;
            if self.is_suspended() {
                return;
            }
        }
    }

    /// CPU time one of its calls used; a debt of a whole minute's allowance suspends it.
    pub fn charge_cpu(&self, used: Duration) {
        self.cpu_nanos.fetch_add(
            u64::try_from(used.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        crate::metrics::cpu(&self.tenant, used);
        let Some(cpu) = &self.cpu else { return };
        let mut allowance = lock(cpu);
        let now = Instant::now();
        allowance.refill(now);
        allowance.left -= used.as_secs_f64();
        if allowance.left > -allowance.per_minute || self.suspended.load(Ordering::Relaxed) {
            return;
        }
        // Suspended until the debt is repaid.
        let repaid = Duration::from_secs_f64(-allowance.left * 60.0 / allowance.per_minute);
        drop(allowance);
        *lock(&self.suspended_until) = Some(now + repaid);
        self.suspended.store(true, Ordering::Relaxed);
        self.suspensions.fetch_add(1, Ordering::Relaxed);
        crate::metrics::suspended(&self.tenant);
        let _tenant = self.span();
        tracing::error!(
            "Tenant {}: suspended for {}: its plugins used a whole minute's CPU time beyond its quota of {} a minute (quotas.cpu_seconds_per_minute); its running calls are stopped, and its calls fail until then (retried, then recorded as dead letters)",
            self.tenant,
            crate::cause::duration(repaid),
            crate::cause::duration(self.settings.cpu_per_minute.unwrap_or_default())
        );
    }

    /// Before a notification is delivered to one of its listeners: waits for the deliveries
    /// allowance.
    pub async fn before_delivery(&self) {
        let Some(deliveries) = &self.deliveries else {
            return;
        };
        let mut counted = false;
        loop {
            let wait = {
                let mut allowance = lock(deliveries);
                let wait = allowance.wait_for(1.0, Instant::now());
                if wait.is_zero() {
                    allowance.left -= 1.0;
                    return;
                }
                wait
            };
            if !counted {
                counted = true;
                self.throttled.fetch_add(1, Ordering::Relaxed);
                crate::metrics::throttled(&self.tenant, "deliveries");
                self.remind(
                    &self.throttle_warned,
                    format!(
                        "Tenant {}: throttled, more than {} deliveries a minute (quotas.deliveries_per_minute); its listeners wait for the allowance to refill",
                        self.tenant,
                        self.settings.deliveries_per_minute.unwrap_or_default()
                    ),
                );
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Whether a plugin's log message of `bytes` may be written.
    pub fn admit_log(&self, bytes: usize) -> bool {
        let Some(log) = &self.log_bytes else {
            return true;
        };
        {
            let mut allowance = lock(log);
            allowance.refill(Instant::now());
            if allowance.left >= bytes as f64 {
                allowance.left -= bytes as f64;
                return true;
            }
        }
        self.log_dropped.fetch_add(bytes as u64, Ordering::Relaxed);
        crate::metrics::log_dropped(&self.tenant, bytes);
        self.remind(
            &self.log_warned,
            format!(
                "Tenant {}: its plugins logged more than {} bytes in a minute (quotas.log_bytes_per_minute); their messages are dropped until the allowance refills",
                self.tenant,
                self.settings.log_bytes_per_minute.unwrap_or_default()
            ),
        );
        false
    }

    /// Writes `line` unless a line of its kind was written within the last minute.
    fn remind(&self, last: &Mutex<Option<Instant>>, line: String) {
        let mut last = lock(last);
        if last.is_some_and(|at| at.elapsed() < REMINDER) {
            return;
        }
        *last = Some(Instant::now());
        let _tenant = self.span();
        tracing::warn!("{line}");
    }

    /// Its lines are tagged with its name, as its listeners' are.
    fn span(&self) -> tracing::span::EnteredSpan {
        tracing::info_span!("tenant", tenant = self.tenant.as_str()).entered()
    }

    /// What it uses now.
    pub fn usage(&self) -> QuotaUse {
        let now = Instant::now();
        let cpu_left = self.cpu.as_ref().map(|cpu| lock(cpu).refill(now));
        let deliveries_left = self.deliveries.as_ref().map(|d| lock(d).refill(now));
        let (state, reason) = if let Some(reason) = self.suspension_reason() {
            ("suspended", Some(reason))
        } else if cpu_left.is_some_and(|left| left < 0.0) {
            (
                "throttled",
                Some(format!(
                    "its plugins used more than their CPU time quota of {} a minute (quotas.cpu_seconds_per_minute)",
                    crate::cause::duration(self.settings.cpu_per_minute.unwrap_or_default())
                )),
            )
        } else if deliveries_left.is_some_and(|left| left < 1.0) {
            (
                "throttled",
                Some(format!(
                    "more than {} deliveries a minute (quotas.deliveries_per_minute)",
                    self.settings.deliveries_per_minute.unwrap_or_default()
                )),
            )
        } else {
            ("normal", None)
        };
        QuotaUse {
            state,
            reason,
            calls_running: self.running.load(Ordering::Relaxed),
            calls_waiting: self.waiting.load(Ordering::Relaxed),
            cpu_seconds_total: Duration::from_nanos(self.cpu_nanos.load(Ordering::Relaxed))
                .as_secs_f64(),
            cpu_seconds_left: cpu_left,
            deliveries_left,
            throttled: self.throttled.load(Ordering::Relaxed),
            suspensions: self.suspensions.load(Ordering::Relaxed),
            log_bytes_dropped: self.log_dropped.load(Ordering::Relaxed),
        }
    }
}

struct Decrement<'a>(&'a AtomicUsize);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The CPU time this thread has used.
pub fn thread_cpu_time() -> Duration {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `time` is.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    if result != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(time.tv_sec).unwrap_or(0),
        u32::try_from(time.tv_nsec).unwrap_or(0),
    )
}

/// A call's future, its CPU time charged to its tenant at every poll (every time slice).
pub struct Metered<F> {
    call: std::pin::Pin<Box<F>>,
    quota: Arc<TenantQuota>,
}

impl<F> Metered<F> {
    pub fn new(call: F, quota: Arc<TenantQuota>) -> Metered<F> {
        Metered {
            call: Box::pin(call),
            quota,
        }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let before = thread_cpu_time();
        let outcome = self.call.as_mut().poll(cx);
        self.quota
            .charge_cpu(thread_cpu_time().saturating_sub(before));
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(settings: QuotaSettings) -> Arc<TenantQuota> {
        TenantQuota::new(
            "t",
            QuotaSettings {
                weight: 1,
                ..settings
            },
        )
    }

    #[test]
    fn an_allowance_refills_continuously_up_to_one_minute() {
        let start = Instant::now();
        let mut allowance = Allowance::new(60.0);
        allowance.updated = start;
        allowance.left = -30.0;
        assert_eq!(allowance.wait_for(0.0, start), Duration::from_secs(30));
        assert_eq!(allowance.refill(start + Duration::from_secs(10)), -20.0);
        assert_eq!(allowance.refill(start + Duration::from_secs(600)), 60.0);
    }

    #[test]
    fn cpu_beyond_a_minute_of_debt_suspends_and_says_why() {
        let quota = quota(QuotaSettings {
            cpu_per_minute: Some(Duration::from_secs(1)),
            ..QuotaSettings::default()
        });
        quota.charge_cpu(Duration::from_millis(1500));
        assert_eq!(quota.usage().state, "throttled");
        assert!(!quota.is_suspended());
        quota.charge_cpu(Duration::from_millis(600));
        assert!(quota.is_suspended());
        let usage = quota.usage();
        assert_eq!(usage.state, "suspended");
        assert!(
            usage.reason.as_deref().unwrap().contains(
                "a whole minute's CPU time beyond its quota of 1 s a minute (quotas.cpu_seconds_per_minute)"
            ),
            "{usage:?}"
        );
        assert_eq!((usage.suspensions, usage.cpu_seconds_total), (1, 2.1));
    }

    #[tokio::test]
    async fn a_suspended_tenant_is_refused_at_once() {
        let quota = quota(QuotaSettings {
            cpu_per_minute: Some(Duration::from_secs(1)),
            ..QuotaSettings::default()
        });
        quota.charge_cpu(Duration::from_secs(3));
        let refused = quota.enter("p", MIB, Duration::from_secs(1)).await;
        assert!(matches!(refused, Err(Refusal::Suspended(_))));
    }

    #[tokio::test]
    async fn memory_in_use_counts_against_the_total() {
        let quota = quota(QuotaSettings {
            memory_total_bytes: Some(100 * MIB),
            ..QuotaSettings::default()
        });
        let held = quota.enter("p", 64 * MIB, Duration::from_secs(1)).await;
        assert!(held.is_ok());
        let refused = quota.enter("p", 64 * MIB, Duration::from_millis(10)).await;
        match refused {
            Err(Refusal::Busy { quota, .. }) => {
                assert_eq!(quota, "100 MiB of memory (quotas.memory_total)")
            }
            _ => panic!("a second call of 64 MiB fits not in 100"),
        }
        let smaller = quota.enter("p", 32 * MIB, Duration::from_secs(1)).await;
        assert!(smaller.is_ok(), "32 MiB fit in what is left");
        assert_eq!(quota.usage().calls_running, 2);
    }

    #[test]
    fn log_bytes_beyond_the_allowance_are_dropped_and_counted() {
        let quota = quota(QuotaSettings {
            log_bytes_per_minute: Some(100),
            ..QuotaSettings::default()
        });
        assert!(quota.admit_log(60));
        assert!(!quota.admit_log(60));
        assert!(quota.admit_log(40));
        assert_eq!(quota.usage().log_bytes_dropped, 60);
    }

    #[tokio::test]
    async fn deliveries_within_the_allowance_do_not_wait() {
        let quota = quota(QuotaSettings {
            deliveries_per_minute: Some(3),
            ..QuotaSettings::default()
        });
        for _ in 0..3 {
            quota.before_delivery().await;
        }
        assert_eq!(quota.usage().state, "throttled");
        assert_eq!(quota.usage().throttled, 0, "none had to wait yet");
    }

    #[tokio::test]
    async fn a_call_computing_is_charged_its_cpu_time() {
        let quota = quota(QuotaSettings::default());
        let computing = Metered::new(
            async {
                let start = Instant::now();
                let mut x = 0u64;
                while start.elapsed() < Duration::from_millis(30) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            },
            quota.clone(),
        );
        computing.await;
        assert!(quota.usage().cpu_seconds_total > 0.0);
    }
}
