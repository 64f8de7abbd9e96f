//! Delivering notifications to listeners. One feed per watched base key reads what is written
//! under it, in revision order (an etcd watch from the oldest cursor, history included; the
//! embedded store is asked every tenth of a second), and hands each revision to every listener
//! of that base. Each listener runs on its own: it matches the keys against its request, runs
//! its triggers, and saves its cursor (the last revision it finished) after every revision its
//! triggers ran for once it has caught up (during a backlog, every quarter of a second; see
//! [`Cursor`]), so a restart goes on where it stopped: at least once, never zero times.

mod cursor;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::listener::Listener;
use crate::notification::Notification;
use crate::schema::Endpoint;
use crate::store::{KeyValue, Store, StoreError, WatchUpdate};
use crate::trigger::TriggerSet;
pub use cursor::{Cursor, CursorError};

/// One listener on one base key (a listener whose request lists several values of the base
/// has one per base key, each with its own cursor).
pub struct ActiveListener {
    pub listener: Listener,
    /// The base key this one receives from.
    pub base: String,
    pub triggers: TriggerSet,
    /// The event's endpoint for this store, to read request values back out of keys.
    pub endpoint: Endpoint,
    /// `payload`, or the schema's rename.
    pub payload_field: String,
    pub cursor: Cursor,
}

/// How often the embedded store is asked for changes.
pub const EMBEDDED_POLL: Duration = Duration::from_millis(100);

/// The writes of one revision under one base key.
type Revision = Arc<Vec<KeyValue>>;

/// Delivers until `stop` turns true; then finishes the running triggers and returns.
pub async fn run(
    store: Arc<Store>,
    listeners: Vec<ActiveListener>,
    poll: Duration,
    retry_delay: Duration,
    stop: watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let mut by_base: BTreeMap<String, (u64, Vec<mpsc::UnboundedSender<Revision>>)> =
        BTreeMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    for active in listeners {
        let (sender, receiver) = mpsc::unbounded_channel();
        let entry = by_base
            .entry(active.base.clone())
            .or_insert((u64::MAX, Vec::new()));
        entry.0 = entry.0.min(active.cursor.revision());
        entry.1.push(sender);
        tasks.spawn(listen(active, receiver, retry_delay, stop.clone()));
    }
    for (base, (from, subscribers)) in by_base {
        tokio::spawn(feed(
            store.clone(),
            base,
            from,
            subscribers,
            poll,
            retry_delay,
            stop.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Reads every revision after `from` under `base` and sends it to the subscribers, until stopped.
async fn feed(
    store: Arc<Store>,
    base: String,
    from: u64,
    subscribers: Vec<mpsc::UnboundedSender<Revision>>,
    poll: Duration,
    retry_delay: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut last = from;
    let mut polling = false;
    let send = |changes: Vec<KeyValue>, last: &mut u64| {
        for group in changes.chunk_by(|a, b| a.mod_revision == b.mod_revision) {
            if group[0].mod_revision <= *last {
                continue;
            }
            *last = group[0].mod_revision;
            let revision: Revision = Arc::new(group.to_vec());
            for subscriber in &subscribers {
                let _ = subscriber.send(revision.clone());
            }
        }
    };
    while !*stop.borrow() {
        let outcome: Result<(), StoreError> = async {
            match &*store {
                Store::File(file) => loop {
                    send(file.changes_since(&base, last)?, &mut last);
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = stop.changed() => return Ok(()),
                    }
                },
                Store::EtcdRest(_) | Store::EtcdGrpc(_) if polling => loop {
                    send(store.changes_since(&base, last).await?, &mut last);
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = stop.changed() => return Ok(()),
                    }
                },
                Store::EtcdRest(_) | Store::EtcdGrpc(_) => {
                    let mut watch = match store.watch(&base, last + 1).await {
                        Ok(watch) => watch,
                        // A proxy such as ECMWF's aviso-auth allows only /v3/kv/range.
                        Err(error) if error.is_refused_request() => {
                            tracing::warn!("{error}: watching is not available, polling every {poll:?} instead");
                            polling = true;
                            return Ok(());
                        }
                        Err(error) => return Err(error),
                    };
                    loop {
                        let update = tokio::select! {
                            update = watch.next() => update?,
                            _ = stop.changed() => return Ok(()),
                        };
                        match update {
                            None => return Err(StoreError::new("the etcd watch stream was closed")),
                            Some(WatchUpdate::Puts(puts)) => send(puts, &mut last),
                            Some(WatchUpdate::Compacted(revision)) => {
                                // The history we needed is gone: deliver the current value of
                                // every key written since, then watch on from there.
                                tracing::warn!(
                                    "History of {base} before revision {revision} was compacted; delivering the current values written since revision {last}"
                                );
                                let now = store.revision().await?;
                                send(store.changes_since(&base, last).await?, &mut last);
                                last = last.max(now);
                                return Ok(());
                            }
                        }
                    }
                }
            }
        }
        .await;
        if let Err(error) = outcome {
            tracing::warn!("{error}, trying again in {retry_delay:?}...");
            tokio::select! {
                _ = tokio::time::sleep(retry_delay) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// One listener: every revision it receives, in order; a revision whose required trigger
/// failed is tried again after `retry_delay`, and the listener does not move past it.
async fn listen(
    mut active: ActiveListener,
    mut revisions: mpsc::UnboundedReceiver<Revision>,
    retry_delay: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let revision = tokio::select! {
            revision = revisions.recv() => match revision {
                Some(revision) => revision,
                None => return,
            },
            _ = stop.changed() => return,
        };
        let number = revision[0].mod_revision;
        if active.cursor.revision() >= number {
            continue;
        }
        let handled = loop {
            match deliver_revision(&active, &revision).await {
                Handled::RequiredTriggerFailed => {
                    tracing::warn!(
                        "A required trigger failed for revision {number}; trying again in {retry_delay:?}"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(retry_delay) => {}
                        _ = stop.changed() => return,
                    }
                }
                handled => break handled,
            }
        };
        active.cursor.advance(
            number,
            handled == Handled::TriggersRan,
            revisions.is_empty(),
        );
        if *stop.borrow() {
            return;
        }
    }
}

/// A bounded replay (`--from ... --to ...`): delivers `writes` (in revision order) once, then
/// returns. A failed required trigger is reported and the replay goes on.
pub async fn replay(active: &mut ActiveListener, writes: Vec<KeyValue>) {
    for revision in writes.chunk_by(|a, b| a.mod_revision == b.mod_revision) {
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
        match deliver(active, kv).await {
            Handled::Nothing => {}
            Handled::TriggersRan => handled = Handled::TriggersRan,
            Handled::RequiredTriggerFailed => return Handled::RequiredTriggerFailed,
        }
    }
    handled
}

/// Hands one stored key to one listener.
async fn deliver(active: &ActiveListener, kv: &KeyValue) -> Handled {
    if kv.key == active.base {
        return Handled::Nothing; // the base key's status record
    }
    let Some(fields) = active.endpoint.parse_key(&kv.key) else {
        tracing::warn!(
            "Key {} does not have the layout of event {}; skipped",
            kv.key,
            active.listener.event
        );
        return Handled::Nothing;
    };
    if !active.listener.accepts(&fields) {
        tracing::debug!("Key {} does not match the listener's request", kv.key);
        return Handled::Nothing;
    }
    let payload = match std::str::from_utf8(&kv.value) {
        Ok("None") => None,
        Ok(text) => Some(text.to_string()),
        Err(_) => {
            tracing::warn!("The value of {} is not UTF-8 text; skipped", kv.key);
            return Handled::Nothing;
        }
    };
    let notification = Notification {
        event: active.listener.event.clone(),
        request: fields,
        payload_field: active.payload_field.clone(),
        payload,
        ttl: None,
    };
    let outcome = active
        .triggers
        .run(&notification, &kv.key, kv.mod_revision)
        .await;
    let failed = outcome
        .triggers
        .iter()
        .filter(|t| t.result.is_err())
        .count();
    tracing::info!(
        "Notification {} (revision {}): {} trigger(s) run, {}",
        kv.key,
        kv.mod_revision,
        outcome.triggers.len(),
        if failed == 0 {
            "all succeeded".to_string()
        } else {
            format!("{failed} failed")
        }
    );
    if outcome.required_failed() {
        Handled::RequiredTriggerFailed
    } else {
        Handled::TriggersRan
    }
}
