//! Delivering notifications to listeners. One feed per watched base key (a
//! [`Feed`](crate::store::feed::Feed), owned by the store: watch or poll, resume, liveness)
//! reads what is written under it, in revision order, and hands each revision to every listener
//! of that base through a bounded queue: a listener that falls behind holds its feed back
//! instead of piling revisions up in memory. Each listener runs on its own: it matches the keys
//! against its request, runs its triggers, and saves its cursor (the last revision it finished)
//! after every revision its triggers ran for once it has caught up (during a backlog, every
//! quarter of a second; see [`Cursor`]), so a restart goes on where it stopped: at least once,
//! never zero times.
//!
//! A `required` trigger that fails is tried again, alone (the triggers that succeeded for the
//! notification are not run again), up to the policy's attempts with a doubling delay; then the
//! notification is written to the dead letters and the listener moves on.

mod cursor;
pub mod dead_letter;
mod hub;

pub use hub::{Group, Hub, ListenerPosition};

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracing::Instrument;

use tokio::sync::{mpsc, watch};

use crate::listener::Listener;
use crate::notification::Notification;
use crate::schema::Endpoint;
use crate::store::feed::{Feed, FeedSettings, Revision};
use crate::store::{KeyValue, Store, StoreError};
use crate::trigger::{Outcome, TriggerSet};
pub use cursor::{Cursor, CursorError, save_position, saved_position};
use dead_letter::{DeadLetter, DeadLetters, FailedTrigger};

/// One listener on one base key (a listener whose request lists several values of the base
/// has one per base key, each with its own cursor).
pub struct ActiveListener {
    pub listener: Listener,
    /// What it listens to (store, base, event, request): names its cursor and dead letters.
    pub identity: String,
    /// The base key this one receives from.
    pub base: String,
    pub triggers: TriggerSet,
    /// The event's endpoint for this store, to read request values back out of keys.
    pub endpoint: Endpoint,
    /// `payload`, or the schema's rename.
    pub payload_field: String,
    pub cursor: Cursor,
    /// When it starts behind: the revision of the newest notification on its base key then;
    /// reaching it is worth a line ("now live").
    pub catching_up_to: Option<u64>,
    /// Where notifications given up on are recorded.
    pub dead_letters: DeadLetters,
    /// The tenant it belongs to in `aviso serve`: every line it logs is tagged with it.
    pub tenant: Option<String>,
    /// That tenant's quotas: its deliveries per minute.
    pub quota: Option<Arc<crate::quota::TenantQuota>>,
    /// That tenant's last trigger failures, for its status.
    pub recent_errors: Option<Arc<RecentErrors>>,
}

/// The last trigger failures of a group of listeners (a tenant's), newest last.
#[derive(Default)]
pub struct RecentErrors {
    kept: std::sync::Mutex<std::collections::VecDeque<serde_json::Value>>,
}

/// How many failures a tenant's status shows.
const RECENT_ERRORS: usize = 20;

impl RecentErrors {
    fn record(&self, failure: serde_json::Value) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() == RECENT_ERRORS {
            kept.pop_front();
        }
        kept.push_back(failure);
    }

    /// The failures kept, oldest first: time, listener, key, revision, trigger, error.
    pub fn list(&self) -> Vec<serde_json::Value> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.iter().cloned().collect()
    }
}

/// Revisions a listener may have waiting before its feed waits for it. Revisions are shared
/// between the listeners of a base key (one copy each), so this bounds memory by the revisions
/// in flight; it is large so that a slow or hostile listener holds its neighbours back only
/// once it is thousands of revisions behind (at 256, the hostile-neighbours benchmark showed
/// a normal listener held up for a minute).
const QUEUED_REVISIONS: usize = 4096;

/// The longest wait between two attempts of a failing required trigger.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

/// What happens when a required trigger fails.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Runs of the failing triggers in all (`delivery.attempts`), at least 1.
    pub attempts: u32,
    /// The wait before the second run (`delivery.retry_delay`); doubled each time after.
    pub retry_delay: Duration,
}

/// Why delivery stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The store refused in a way that waiting cannot cure (credentials, a forbidden request).
    #[error("Listening to {base} stopped: {source}")]
    Store { base: String, source: StoreError },
    /// A bug: a listener's task panicked. The others were stopped with it.
    #[error(
        "The listener to {listener} stopped unexpectedly ({reason}); every listener was stopped. This is a bug, please report it"
    )]
    Crashed { listener: String, reason: String },
}

/// Delivers until `stop` turns true; then finishes the running triggers and returns. A
/// listener that crashes, or a feed that cannot go on, stops every listener and is returned.
pub async fn run(
    store: Arc<Store>,
    listeners: Vec<ActiveListener>,
    feed: FeedSettings,
    policy: RetryPolicy,
    stop: watch::Receiver<bool>,
) -> Result<(), DeliveryError> {
    // Stopping on request and stopping on a failure reach every task the same way.
    let (halt, halted) = watch::channel(false);
    let halt = Arc::new(halt);
    let forward = {
        let (halt, mut stop) = (halt.clone(), stop.clone());
        tokio::spawn(async move {
            while !*stop.borrow_and_update() {
                if stop.changed().await.is_err() {
                    return;
                }
            }
            let _ = halt.send(true);
        })
    };
    let mut by_base: HashMap<String, (u64, Vec<Subscriber>)> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut names = HashMap::new();
    for active in listeners {
        let (sender, receiver) = mpsc::channel(QUEUED_REVISIONS);
        let entry = by_base
            .entry(active.base.clone())
            .or_insert((u64::MAX, Vec::new()));
        entry.0 = entry.0.min(active.cursor.revision());
        let (lag, seen) = Lag::pair(&active);
        entry.1.push(Subscriber {
            queue: sender,
            lag: seen,
        });
        let name = format!("{} (event {})", active.base, active.listener.event);
        let span = tenant_span(&active);
        let task = tasks.spawn(
            listen(active, receiver, lag, policy.clone(), halted.clone(), None).instrument(span),
        );
        names.insert(task.id(), name);
    }
    let mut feeds = tokio::task::JoinSet::new();
    for (base, (from, subscribers)) in by_base {
        let source = Feed::new(store.clone(), &base, from, feed);
        feeds.spawn(fan_out(source, base, subscribers, halted.clone()));
    }
    let outcome = watch_over(tasks, &names, feeds, &halt).await;
    forward.abort();
    outcome
}

/// Every line a tenant's listener logs is tagged with the tenant.
fn tenant_span(active: &ActiveListener) -> tracing::Span {
    match &active.tenant {
        Some(tenant) => tracing::info_span!("tenant", tenant = tenant.as_str()),
        None => tracing::Span::none(),
    }
}

/// Waits for every listener task to end. A listener that panics or a feed that fails stops
/// all of them (through `halt`) and is returned.
async fn watch_over(
    mut tasks: tokio::task::JoinSet<()>,
    names: &HashMap<tokio::task::Id, String>,
    mut feeds: tokio::task::JoinSet<Result<(), DeliveryError>>,
    halt: &watch::Sender<bool>,
) -> Result<(), DeliveryError> {
    let mut failure = None;
    loop {
        tokio::select! {
            joined = tasks.join_next_with_id() => match joined {
                None => break,
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    let listener = names.get(&error.id()).cloned().unwrap_or_default();
                    let reason = panic_message(error);
                    tracing::error!("The listener to {listener} crashed: {reason}");
                    failure.get_or_insert(DeliveryError::Crashed { listener, reason });
                    let _ = halt.send(true);
                }
            },
            Some(joined) = feeds.join_next() => match joined {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    failure.get_or_insert(error);
                    let _ = halt.send(true);
                }
                Err(error) => {
                    let reason = panic_message(error);
                    failure.get_or_insert(DeliveryError::Crashed {
                        listener: "a base key".into(),
                        reason,
                    });
                    let _ = halt.send(true);
                }
            },
        }
    }
    feeds.shutdown().await;
    failure.map_or(Ok(()), Err)
}

fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(panic) => panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into()),
        Err(error) => error.to_string(),
    }
}

/// A listener as its feed sees it: its queue, and how far behind it is.
struct Subscriber {
    queue: mpsc::Sender<Revision>,
    lag: Lag,
}

/// How far a listener is behind its feed, in revisions (`aviso_cursor_lag_revisions`).
struct Lag {
    /// The last revision it finished.
    finished: Arc<AtomicU64>,
    /// The newest revision its feed read.
    newest: Arc<AtomicU64>,
    tenant: Option<String>,
    listener: String,
}

impl Lag {
    /// The listener's side and its feed's side of one listener's lag.
    fn pair(active: &ActiveListener) -> (Lag, Lag) {
        let finished = Arc::new(AtomicU64::new(active.cursor.revision()));
        let newest = Arc::new(AtomicU64::new(active.cursor.revision()));
        let lag = || Lag {
            finished: finished.clone(),
            newest: newest.clone(),
            tenant: active.tenant.clone(),
            listener: active.identity.clone(),
        };
        (lag(), lag())
    }

    /// Counted for the tenants of `aviso serve`, whose `/metrics` shows it.
    fn update(&self) {
        if self.tenant.is_none() {
            return;
        }
        let (newest, finished) = (
            self.newest.load(Ordering::Relaxed),
            self.finished.load(Ordering::Relaxed),
        );
        crate::metrics::cursor_lag(
            self.tenant.as_deref(),
            &self.listener,
            newest.saturating_sub(finished),
        );
    }
}

/// Hands every revision of one feed to its listeners, waiting for a full queue.
async fn fan_out(
    mut feed: Feed,
    base: String,
    subscribers: Vec<Subscriber>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), DeliveryError> {
    loop {
        if *stop.borrow_and_update() {
            return Ok(());
        }
        let revision = tokio::select! {
            revision = feed.next() => revision.map_err(|source| DeliveryError::Store {
                base: base.clone(),
                source,
            })?,
            _ = stop.changed() => return Ok(()),
        };
        let number = revision[0].mod_revision;
        for subscriber in &subscribers {
            subscriber.lag.newest.fetch_max(number, Ordering::Relaxed);
            subscriber.lag.update();
            tokio::select! {
                // A listener that has ended no longer takes anything.
                _ = subscriber.queue.send(revision.clone()) => {}
                _ = stop.changed() => return Ok(()),
            }
        }
    }
}

/// One listener: every revision it receives, in order, each delivered with the retry policy.
async fn listen(
    mut active: ActiveListener,
    mut revisions: mpsc::Receiver<Revision>,
    lag: Lag,
    policy: RetryPolicy,
    mut stop: watch::Receiver<bool>,
    own: Option<OwnFeed>,
) {
    let mut progress = active.catching_up_to.map(|target| {
        crate::progress::Progress::start(
            &format!("Catching up on {}", active.base),
            "revisions",
            active.cursor.revision(),
            target,
        )
    });
    let mut listening = Listening {
        active: &mut active,
        lag: &lag,
        policy: &policy,
        progress: &mut progress,
    };
    if let Some(own) = &own
        && let Some(until) = own.catch_up_until
    {
        // What its base key's shared feed handed out before it joined, read on its own.
        if !listening.follow(own, Some(until), &mut stop).await {
            return;
        }
    }
    loop {
        let revision = tokio::select! {
            revision = revisions.recv() => revision,
            _ = stop.changed() => return,
        };
        let Some(revision) = revision else {
            // The shared feed let go of it: it fell too far behind (see `hub`).
            if let Some(own) = &own
                && !*stop.borrow()
            {
                tracing::warn!(
                    "The listener to {} fell a full queue of revisions behind its base key's shared feed; it reads on its own from revision {} on",
                    listening.active.base,
                    listening.active.cursor.revision()
                );
                listening.follow(own, None, &mut stop).await;
            }
            return;
        };
        if !listening
            .take(revision, revisions.is_empty(), &mut stop)
            .await
        {
            return;
        }
    }
}

/// A listener's own feed of its base key, from its cursor: to catch up on what a shared feed
/// handed out before it joined (`catch_up_until`), or for good once it fell behind one.
pub(crate) struct OwnFeed {
    pub store: Arc<Store>,
    pub settings: FeedSettings,
    pub catch_up_until: Option<u64>,
}

/// One listener at work: what it needs for each revision it takes.
struct Listening<'a> {
    active: &'a mut ActiveListener,
    lag: &'a Lag,
    policy: &'a RetryPolicy,
    progress: &'a mut Option<crate::progress::Progress>,
}

impl Listening<'_> {
    /// Takes revisions from a feed of its own from its cursor on, up to `until` or for good;
    /// false once stopped (or the store refused for good, which is logged).
    async fn follow(
        &mut self,
        own: &OwnFeed,
        until: Option<u64>,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let base = self.active.base.clone();
        let mut feed = Feed::new(
            own.store.clone(),
            &base,
            self.active.cursor.revision(),
            own.settings,
        );
        while until.is_none_or(|until| self.active.cursor.revision() < until) {
            let revision = tokio::select! {
                revision = feed.next() => match revision {
                    Ok(revision) => revision,
                    Err(error) => {
                        tracing::error!(
                            "Reading {base} stopped at revision {}: {error}",
                            self.active.cursor.revision()
                        );
                        return false;
                    }
                },
                _ = stop.changed() => return false,
            };
            if !self.take(revision, false, stop).await {
                return false;
            }
        }
        true
    }

    /// Delivers one revision (unless it was delivered already); false once stopped.
    async fn take(
        &mut self,
        revision: Revision,
        idle: bool,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let active = &mut *self.active;
        let number = revision[0].mod_revision;
        if active.cursor.revision() >= number {
            return true;
        }
        let Some(ran) = deliver_with_retries(active, &revision, self.policy, stop).await else {
            return false; // stopped while waiting: the revision is delivered again next time
        };
        active.cursor.advance(number, ran, idle);
        self.lag.finished.store(number, Ordering::Relaxed);
        self.lag.update();
        if let Some(progress) = &*self.progress {
            progress.at(number);
        }
        if active.catching_up_to.is_some_and(|target| number >= target) {
            active.catching_up_to = None;
            if let Some(progress) = self.progress.take() {
                progress.finish();
            }
            tracing::info!("Caught up on {} (revision {number}); now live", active.base);
        }
        !*stop.borrow()
    }
}

/// A notification of a revision, and its required triggers still failing.
struct Pending<'a> {
    kv: &'a KeyValue,
    notification: Notification,
    remaining: Vec<usize>,
    failures: Vec<FailedTrigger>,
}

/// Delivers one revision: `Some(true)` when triggers ran, `Some(false)` when none of its keys
/// was for this listener, `None` when stopped before it was finished.
async fn deliver_with_retries(
    active: &ActiveListener,
    revision: &[KeyValue],
    policy: &RetryPolicy,
    stop: &mut watch::Receiver<bool>,
) -> Option<bool> {
    let every: Vec<usize> = (0..active.triggers.len()).collect();
    let mut pending: Vec<Pending> = revision
        .iter()
        .filter_map(|kv| {
            notification_for(active, kv).map(|notification| Pending {
                kv,
                notification,
                remaining: every.clone(),
                failures: Vec::new(),
            })
        })
        .collect();
    if pending.is_empty() {
        return Some(false);
    }
    if let Some(quota) = &active.quota {
        for _ in &pending {
            tokio::select! {
                () = quota.before_delivery() => {}
                _ = stop.changed() => return None,
            }
        }
    }
    let attempts = policy.attempts.max(1);
    let mut delay = policy.retry_delay;
    for attempt in 1..=attempts {
        for entry in pending.iter_mut().filter(|p| !p.remaining.is_empty()) {
            let started = std::time::Instant::now();
            let outcome = active
                .triggers
                .run_only(
                    &entry.remaining,
                    &entry.notification,
                    &entry.kv.key,
                    entry.kv.mod_revision,
                )
                .await;
            count(active, &outcome, started.elapsed());
            log_outcome(active, entry.kv, &outcome, attempt);
            entry.failures = outcome
                .triggers
                .into_iter()
                .filter(|t| t.required)
                .filter_map(|t| {
                    t.result.err().map(|error| FailedTrigger {
                        index: t.index,
                        trigger: t.trigger,
                        error,
                    })
                })
                .collect();
            entry.remaining = entry.failures.iter().map(|f| f.index).collect();
        }
        let failing: Vec<&Pending> = pending.iter().filter(|p| !p.remaining.is_empty()).collect();
        if failing.is_empty() {
            return Some(true);
        }
        if attempt == attempts {
            break;
        }
        for entry in failing {
            let labels: Vec<&str> = entry.failures.iter().map(|f| f.trigger.as_str()).collect();
            tracing::warn!(
                "Required trigger {} failed for {} (revision {}), attempt {attempt} of {attempts}; trying it again in {}",
                labels.join(", "),
                entry.kv.key,
                entry.kv.mod_revision,
                crate::cause::duration(delay)
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return None,
        }
        delay = (delay * 2).min(MAX_RETRY_DELAY.max(policy.retry_delay));
    }
    for entry in pending.iter().filter(|p| !p.remaining.is_empty()) {
        let letter = DeadLetter {
            id: DeadLetter::id_for(&active.identity, &entry.kv.key, entry.kv.mod_revision),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            listener: active.identity.clone(),
            event: active.listener.event.clone(),
            key: entry.kv.key.clone(),
            revision: entry.kv.mod_revision,
            payload: entry.notification.payload.clone(),
            attempts,
            failed: entry.failures.clone(),
        };
        record_dead_letter(active, &letter, policy, stop).await?;
    }
    Some(true)
}

/// Writes a dead letter; until it is on disk the listener does not move on (a full disk is
/// waited out, not a reason to drop the notification).
async fn record_dead_letter(
    active: &ActiveListener,
    letter: &DeadLetter,
    policy: &RetryPolicy,
    stop: &mut watch::Receiver<bool>,
) -> Option<()> {
    let failures: Vec<String> = letter
        .failed
        .iter()
        .map(|f| format!("{}: {}", f.trigger, f.error))
        .collect();
    let mut wait = policy.retry_delay;
    loop {
        match active.dead_letters.record(letter) {
            Ok(()) => {
                crate::metrics::dead_letter(active.tenant.as_deref());
                json_line(serde_json::json!({
                    "time": now_rfc3339(),
                    "outcome": "dead_letter",
                    "listener": active.listener.label(),
                    "key": letter.key,
                    "revision": letter.revision,
                    "attempts": letter.attempts,
                    "dead_letter": letter.id,
                    "dead_letters": active.dead_letters.path().display().to_string(),
                    "failed": letter.failed.iter().map(|f| serde_json::json!({
                        "trigger": f.trigger,
                        "error": f.error,
                    })).collect::<Vec<_>>(),
                }));
                tracing::error!(
                    "Gave up on {} (revision {}) after {} attempts ({}); recorded as dead letter {} in {}. 'aviso dead-letters list' shows it, 'aviso dead-letters replay' runs it again",
                    letter.key,
                    letter.revision,
                    letter.attempts,
                    failures.join("; "),
                    letter.id,
                    active.dead_letters.path().display()
                );
                return Some(());
            }
            Err(error) => {
                tracing::error!(
                    "{error}; the listener stays at revision {} until it is recorded, trying again in {}",
                    letter.revision,
                    crate::cause::duration(wait)
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => return None,
                }
                wait = (wait * 2).min(MAX_RETRY_DELAY.max(policy.retry_delay));
            }
        }
    }
}

/// Whether each outcome is also written to stdout as one JSON line (`aviso listen --json`).
static JSON_OUTCOMES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From now on, every notification's outcome and every dead letter is also one JSON object per
/// line on stdout, for scripts and monitoring (`aviso listen --json`).
pub fn write_json_outcomes() {
    JSON_OUTCOMES.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// One JSON line on stdout, when asked for.
fn json_line(record: serde_json::Value) {
    if !JSON_OUTCOMES.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    use std::io::Write;
    let line = record.to_string();
    crate::progress::suspended(|| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    });
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The notification's outcome in the metrics.
fn count(active: &ActiveListener, outcome: &Outcome, took: Duration) {
    let triggers: Vec<(&str, bool)> = outcome
        .triggers
        .iter()
        .map(|t| (t.trigger.as_str(), t.result.is_ok()))
        .collect();
    crate::metrics::delivery(active.tenant.as_deref(), took, &triggers);
}

fn log_outcome(active: &ActiveListener, kv: &KeyValue, outcome: &Outcome, attempt: u32) {
    json_line(serde_json::json!({
        "time": now_rfc3339(),
        "outcome": if outcome.all_succeeded() { "delivered" } else { "failed" },
        "listener": active.listener.label(),
        "base": active.base,
        "event": active.listener.event,
        "key": kv.key,
        "revision": kv.mod_revision,
        "attempt": attempt,
        "triggers": outcome.triggers.iter().map(|t| serde_json::json!({
            "trigger": t.trigger,
            "required": t.required,
            "ok": t.result.is_ok(),
            "attempts": t.attempts,
            "error": t.result.as_ref().err(),
        })).collect::<Vec<_>>(),
    }));
    let failed = outcome
        .triggers
        .iter()
        .filter(|t| t.result.is_err())
        .count();
    if let Some(recent) = &active.recent_errors {
        for trigger in &outcome.triggers {
            if let Err(error) = &trigger.result {
                recent.record(serde_json::json!({
                    "time": now_rfc3339(),
                    "listener": active.identity,
                    "key": kv.key,
                    "revision": kv.mod_revision,
                    "trigger": trigger.trigger,
                    "error": error,
                }));
            }
        }
    }
    let again = if attempt > 1 {
        format!(" (attempt {attempt})")
    } else {
        String::new()
    };
    tracing::info!(
        "Notification {} (revision {}){again}: {} trigger(s) run, {}",
        kv.key,
        kv.mod_revision,
        outcome.triggers.len(),
        if failed == 0 {
            "all succeeded".to_string()
        } else {
            format!("{failed} failed")
        }
    );
}

/// A bounded replay (`--from ... --to ...`): delivers `writes` (in revision order) once, then
/// returns. A failed required trigger is reported and the replay goes on.
pub async fn replay(active: &mut ActiveListener, writes: Vec<KeyValue>) {
    let revisions = writes
        .chunk_by(|a, b| a.mod_revision == b.mod_revision)
        .count() as u64;
    let progress = crate::progress::Progress::start(
        &format!("Replaying {}", active.base),
        "notifications",
        0,
        revisions,
    );
    for (done, revision) in writes
        .chunk_by(|a, b| a.mod_revision == b.mod_revision)
        .enumerate()
    {
        progress.at(done as u64 + 1);
        let handled = deliver_revision(active, revision).await;
        if handled == Handled::RequiredTriggerFailed {
            tracing::warn!(
                "A required trigger failed for revision {} during the replay",
                revision[0].mod_revision
            );
        }
        active
            .cursor
            .advance(revision[0].mod_revision, handled != Handled::Nothing, false);
    }
    progress.finish();
}

/// What handing writes to a listener came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handled {
    /// None of them was for this listener.
    Nothing,
    TriggersRan,
    RequiredTriggerFailed,
}

async fn deliver_revision(active: &ActiveListener, revision: &[KeyValue]) -> Handled {
    let mut handled = Handled::Nothing;
    for kv in revision {
        let Some(notification) = notification_for(active, kv) else {
            continue;
        };
        let started = std::time::Instant::now();
        let outcome = active
            .triggers
            .run(&notification, &kv.key, kv.mod_revision)
            .await;
        count(active, &outcome, started.elapsed());
        log_outcome(active, kv, &outcome, 1);
        if outcome.required_failed() {
            return Handled::RequiredTriggerFailed;
        }
        handled = Handled::TriggersRan;
    }
    handled
}

/// The notification a stored key is for this listener, if it is.
fn notification_for(active: &ActiveListener, kv: &KeyValue) -> Option<Notification> {
    if kv.key == active.base {
        return None; // the base key's status record
    }
    let Some(fields) = active.endpoint.parse_key(&kv.key) else {
        tracing::warn!(
            "Key {} does not have the layout of event {}; skipped",
            kv.key,
            active.listener.event
        );
        return None;
    };
    if !active.listener.accepts(&fields) {
        tracing::debug!("Key {} does not match the listener's request", kv.key);
        return None;
    }
    let payload = match std::str::from_utf8(&kv.value) {
        Ok("None") => None,
        Ok(text) => Some(text.to_string()),
        Err(_) => {
            tracing::warn!("The value of {} is not UTF-8 text; skipped", kv.key);
            return None;
        }
    };
    Some(Notification {
        event: active.listener.event.clone(),
        request: fields,
        payload_field: active.payload_field.clone(),
        payload,
        ttl: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_listener_stops_the_others_and_is_reported() {
        let (halt, halted) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let mut names = HashMap::new();
        let crashing = tasks.spawn(async { panic!("index out of bounds") });
        names.insert(crashing.id(), "/b/ (event flight)".to_string());
        let mut waiting = halted.clone();
        let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = stopped.clone();
        tasks.spawn(async move {
            while !*waiting.borrow_and_update() {
                waiting.changed().await.unwrap();
            }
            seen.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let feeds = tokio::task::JoinSet::new();
        let error = watch_over(tasks, &names, feeds, &halt).await.unwrap_err();
        assert!(stopped.load(std::sync::atomic::Ordering::SeqCst));
        let message = error.to_string();
        assert!(message.contains("/b/ (event flight)"), "{message}");
        assert!(message.contains("index out of bounds"), "{message}");
    }

    #[tokio::test]
    async fn listeners_that_end_normally_are_no_failure() {
        let (halt, _halted) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(async {});
        let feeds = tokio::task::JoinSet::new();
        assert!(
            watch_over(tasks, &HashMap::new(), feeds, &halt)
                .await
                .is_ok()
        );
    }
}
