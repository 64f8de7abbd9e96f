//! Delivering notifications to listeners: what changed under each watched base key is read in
//! revision order, matched against every listener's request, and handed to its triggers. Each
//! listener has a cursor (the last revision it finished), saved after every notification, so a
//! restart goes on where it stopped: at least once, never zero times.

mod cursor;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::listener::Listener;
use crate::notification::Notification;
use crate::schema::Endpoint;
use crate::store::{KeyValue, Store, StoreError};
use crate::trigger::TriggerSet;
pub use cursor::Cursor;

/// A listener ready to receive notifications.
pub struct ActiveListener {
    pub listener: Listener,
    pub triggers: TriggerSet,
    /// The event's endpoint for this store, to read request values back out of keys.
    pub endpoint: Endpoint,
    /// `payload`, or the schema's rename.
    pub payload_field: String,
    pub cursor: Cursor,
}

/// How often the embedded store is asked for changes.
pub const EMBEDDED_POLL: Duration = Duration::from_millis(100);

/// Delivers until `stop` turns true. A notification whose `required` trigger failed is tried
/// again after `retry_delay`, and the listener does not move past it meanwhile.
pub async fn run(
    store: &Store,
    mut listeners: Vec<ActiveListener>,
    poll: Duration,
    retry_delay: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let mut waiting_until: Vec<Option<Instant>> = vec![None; listeners.len()];
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        // One read per base key, however many listeners watch it.
        let mut by_base: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (index, active) in listeners.iter().enumerate() {
            for key in &active.listener.watch_keys {
                by_base.entry(key.clone()).or_default().push(index);
            }
        }
        for (base, indices) in &by_base {
            let Some(from) = indices
                .iter()
                .map(|i| listeners[*i].cursor.revision())
                .min()
            else {
                continue;
            };
            let changes = match store.changes_since(base, from).await {
                Ok(changes) => changes,
                Err(error) => {
                    // An unreachable or failing store: warn, wait, and carry on from the cursor.
                    tracing::warn!("{error}, trying again in {retry_delay:?}...");
                    tokio::select! {
                        _ = tokio::time::sleep(retry_delay) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
            };
            // A notification and its base key's status share one revision: a cursor moves
            // past a revision only once every key written at it was handled.
            for revision in changes.chunk_by(|a, b| a.mod_revision == b.mod_revision) {
                let revision_number = revision[0].mod_revision;
                for &index in indices {
                    let active = &mut listeners[index];
                    if active.cursor.revision() >= revision_number {
                        continue;
                    }
                    if waiting_until[index].is_some_and(|until| Instant::now() < until) {
                        continue;
                    }
                    let mut delivered = true;
                    for kv in revision {
                        if *stop.borrow() {
                            return Ok(());
                        }
                        if !deliver(active, base, kv).await {
                            delivered = false;
                            tracing::warn!(
                                "A required trigger failed for {} (revision {}); trying again in {retry_delay:?}",
                                kv.key,
                                kv.mod_revision
                            );
                            break;
                        }
                    }
                    if delivered {
                        waiting_until[index] = None;
                        active.cursor.advance(revision_number);
                    } else {
                        waiting_until[index] = Some(Instant::now() + retry_delay);
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Hands one stored key to one listener; `false` when a required trigger failed.
async fn deliver(active: &ActiveListener, base: &str, kv: &KeyValue) -> bool {
    if kv.key == base {
        return true; // the base key's status record
    }
    let Some(fields) = active.endpoint.parse_key(&kv.key) else {
        tracing::warn!(
            "Key {} does not have the layout of event {}; skipped",
            kv.key,
            active.listener.event
        );
        return true;
    };
    if !active.listener.accepts(&fields) {
        tracing::debug!("Key {} does not match the listener's request", kv.key);
        return true;
    }
    let payload = match std::str::from_utf8(&kv.value) {
        Ok("None") => None,
        Ok(text) => Some(text.to_string()),
        Err(_) => {
            tracing::warn!("The value of {} is not UTF-8 text; skipped", kv.key);
            return true;
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
    !outcome.required_failed()
}
