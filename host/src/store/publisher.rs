//! Writing notifications with group commit: notifications of one base key that are sent while a
//! write of that base is in flight are written together, in one transaction with one status
//! record, instead of one transaction each. A store commits (and fsyncs) per transaction, so
//! under load this multiplies what one client can notify; alone, a notification is written as
//! soon as it comes, exactly as pyaviso writes it.
//!
//! Every notification still gets its own key at the transaction's revision, so listeners,
//! catch-up and `--from/--to` (which work on revisions) see each of them, pyaviso's included.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::{KeyValue, Store, StoreError, StoreErrorClass, status};
use crate::notification::NotificationKeys;

/// etcd refuses transactions with more operations than this (its `--max-txn-ops` default).
const MAX_OPERATIONS: usize = 128;
/// Values per transaction, well below etcd's 1.5 MiB request limit once base64-encoded.
const MAX_BYTES: usize = 1024 * 1024;

/// One notification to write.
#[derive(Debug, Clone)]
pub struct Publication {
    pub keys: NotificationKeys,
    /// The payload, or `None` (the four characters) when there is none.
    pub value: Vec<u8>,
    /// Seconds to live, with a lease.
    pub ttl: Option<u64>,
}

type Reply = oneshot::Sender<Result<(), StoreError>>;

/// The notifications of one base key waiting to be written, and the turn to write them.
#[derive(Default)]
struct BaseQueue {
    waiting: Mutex<Vec<(Publication, Reply)>>,
    turn: tokio::sync::Mutex<()>,
}

/// Group commit per base key; shared by the clones of one client.
#[derive(Default)]
pub struct Publisher {
    bases: Mutex<HashMap<String, Arc<BaseQueue>>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// Writes `publication` (with the notifications of its base key that arrive meanwhile) and
    /// returns when it is stored.
    pub async fn publish(
        &self,
        store: &Store,
        writer: &status::Writer,
        publication: Publication,
    ) -> Result<(), StoreError> {
        let queue = self
            .bases
            .lock()
            .expect("publisher lock")
            .entry(publication.keys.base.clone())
            .or_default()
            .clone();
        let (reply, mut written) = oneshot::channel();
        queue
            .waiting
            .lock()
            .expect("queue lock")
            .push((publication, reply));
        tokio::select! {
            biased;
            // Written by whoever had the turn: no need to wait for a turn of our own.
            result = &mut written => return flatten(result),
            turn = queue.turn.lock() => {
                // Let notifications sent at the same moment join this transaction.
                tokio::task::yield_now().await;
                let waiting = std::mem::take(&mut *queue.waiting.lock().expect("queue lock"));
                for batch in batches(waiting) {
                    let (publications, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                    let result = write_batch(store, writer, &publications).await;
                    for reply in replies {
                        let _ = reply.send(result.clone());
                    }
                }
                drop(turn);
            }
        }
        flatten(written.await)
    }
}

fn flatten(
    result: Result<Result<(), StoreError>, oneshot::error::RecvError>,
) -> Result<(), StoreError> {
    result.unwrap_or_else(|_| {
        Err(StoreError::new(
            "the notification was not written: the task writing it was cancelled",
        ))
    })
}

/// Splits waiting notifications, in order, into transactions etcd accepts: the same TTL (one
/// lease), no key twice (a key notified twice is written twice, in order), bounded size.
fn batches(waiting: Vec<(Publication, Reply)>) -> Vec<Vec<(Publication, Reply)>> {
    let mut batches: Vec<Vec<(Publication, Reply)>> = Vec::new();
    let mut keys = HashSet::new();
    let (mut operations, mut bytes) = (1, 0); // the status put
    for (publication, reply) in waiting {
        let adds = 1 + usize::from(
            publication
                .keys
                .admin
                .as_ref()
                .is_some_and(|admin| !keys.contains(admin)),
        );
        let fits = batches.last().is_some_and(|batch| {
            batch[0].0.ttl == publication.ttl
                && !keys.contains(&publication.keys.key)
                && operations + adds <= MAX_OPERATIONS
                && bytes + publication.value.len() <= MAX_BYTES
        });
        if !fits {
            batches.push(Vec::new());
            keys.clear();
            (operations, bytes) = (1, 0);
        }
        keys.insert(publication.keys.key.clone());
        if let Some(admin) = &publication.keys.admin {
            if keys.insert(admin.clone()) {
                operations += 1;
            }
        }
        operations += 1;
        bytes += publication.value.len();
        batches
            .last_mut()
            .expect("a batch")
            .push((publication, reply));
    }
    batches
}

/// Tries after the base's status changed between reading and writing it: each is lost only to
/// a notifier whose write went in, so only a flood of notifiers keeps a write out this long.
const CHANGED_TRIES: usize = 1000;
/// Writes tried again after failing (etcd changing leader, a timeout, a lost answer).
const FAILED_RETRIES: u32 = 3;

/// One transaction: every notification's key, the base's new status (linked to the previous
/// one, naming the last notification), and each admin key once.
///
/// The transaction applies only if the status is still the one it links to (compare-and-swap):
/// concurrent notifiers, in other processes too, keep one chain of statuses; the loser reads
/// the new status and tries again. A write that failed may have been applied all the same (the
/// answer lost on the way back): the status it carried tells. Its date has microseconds and it
/// names the user, the host and the notification, so finding it in the chain means the write
/// went in, and it is not written again. Otherwise trying again is safe: the compare stops a
/// second application.
async fn write_batch(
    store: &Store,
    writer: &status::Writer,
    publications: &[Publication],
) -> Result<(), StoreError> {
    let last = publications.last().expect("a batch is not empty");
    let base = &last.keys.base;
    tracing::debug!(
        "writing {} notifications of {base} in one transaction",
        publications.len()
    );
    let message = format!("notification to key {}", last.keys.key);
    let mut pairs: Vec<(String, Vec<u8>)> = publications
        .iter()
        .map(|p| (p.keys.key.clone(), p.value.clone()))
        .collect();
    let status_index = pairs.len();
    pairs.push((base.clone(), Vec::new()));
    let mut admins = HashSet::new();
    for admin in publications.iter().filter_map(|p| p.keys.admin.as_ref()) {
        if admins.insert(admin) {
            pairs.push((admin.clone(), b"None".to_vec()));
        }
    }
    let mut previous = store.get(base).await?;
    let mut failures = 0;
    for _ in 0..CHANGED_TRIES {
        let status = status::next_status(
            writer,
            &message,
            previous.as_ref().map(|kv| (base.as_str(), kv)),
        )
        .into_bytes();
        pairs[status_index].1 = status.clone();
        let expected = previous.as_ref().map_or(0, |kv| kv.mod_revision);
        let outcome = store.put_all_if(&pairs, last.ttl, base, expected).await;
        if let Ok(Some(_)) = outcome {
            return Ok(());
        }
        // The status changed, or the write failed: see what is there now. A refused write
        // can be our own, applied by a retry below us whose first answer was lost.
        let current = match store.get(base).await {
            Ok(current) => current,
            Err(read) => {
                return Err(match outcome {
                    Err(write) => StoreError::new(format!(
                        "the notification to {} may not have been written ({write}), and reading {base} to find out failed: {read}",
                        last.keys.key
                    )),
                    _ => read,
                });
            }
        };
        if went_in(store, base, expected, current.as_ref(), &status).await {
            tracing::debug!("the write to {base} went in although its answer was lost");
            return Ok(());
        }
        if let Err(error) = outcome {
            if failures == FAILED_RETRIES || is_refusal(&error) {
                return Err(error);
            }
            failures += 1;
            tracing::debug!("{error}; writing again");
            tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(failures))).await;
        }
        previous = current;
    }
    Err(StoreError::new(format!(
        "the notification to {} was not written: the status of {base} kept changing ({CHANGED_TRIES} tries, each lost to another notifier)",
        last.keys.key
    )))
}

/// Whether the status record `ours`, written after the one at `expected` (0: none), is in the
/// chain that ends with `current`: the statuses written since are walked back to it.
async fn went_in(
    store: &Store,
    base: &str,
    expected: u64,
    current: Option<&KeyValue>,
    ours: &[u8],
) -> bool {
    let Some(mut status) = current.cloned() else {
        return false;
    };
    loop {
        if status.value == ours {
            return true;
        }
        // The embedded store keeps no past values by key; its writes are answered by SQLite in
        // this process, so it never loses an answer either.
        if matches!(store, Store::File(_)) {
            return false;
        }
        // Ours would be later than `expected`, and linked to it.
        match status::prev_rev(&status.value) {
            Some(prev_rev) if prev_rev > expected && prev_rev < status.mod_revision => {
                match store.get_at(base, prev_rev).await {
                    Ok(Some(earlier)) => status = earlier,
                    // Compacted, or unreadable: not known to be ours.
                    _ => return false,
                }
            }
            _ => return false,
        }
    }
}

/// An answer refusing the request: the server did not apply it, and will not the next time.
fn is_refusal(error: &StoreError) -> bool {
    matches!(
        error.class,
        StoreErrorClass::Answered {
            http: 400..=499,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publication(key: &str, admin: Option<&str>, ttl: Option<u64>) -> (Publication, Reply) {
        let publication = Publication {
            keys: NotificationKeys {
                key: key.into(),
                base: "/b/".into(),
                admin: admin.map(Into::into),
            },
            value: b"None".to_vec(),
            ttl,
        };
        (publication, oneshot::channel().0)
    }

    fn keys(batches: &[Vec<(Publication, Reply)>]) -> Vec<Vec<&str>> {
        batches
            .iter()
            .map(|b| b.iter().map(|(p, _)| p.keys.key.as_str()).collect())
            .collect()
    }

    #[test]
    fn a_key_twice_or_another_ttl_starts_a_new_transaction() {
        let waiting = vec![
            publication("/b/1", None, None),
            publication("/b/2", None, None),
            publication("/b/1", None, None),
            publication("/b/3", None, Some(5)),
            publication("/b/4", None, Some(5)),
        ];
        assert_eq!(
            keys(&batches(waiting)),
            [vec!["/b/1", "/b/2"], vec!["/b/1"], vec!["/b/3", "/b/4"]]
        );
    }

    #[test]
    fn transactions_stay_within_etcds_operation_limit() {
        // Each notification: its key and its own admin key; plus one status put per batch.
        let waiting: Vec<_> = (0..200)
            .map(|i| publication(&format!("/b/{i}"), Some(&format!("/a/{i}")), None))
            .collect();
        let sizes: Vec<usize> = batches(waiting).iter().map(Vec::len).collect();
        assert_eq!(sizes, [63, 63, 63, 11]);
        // A shared admin key is written once per transaction and does not count again.
        let waiting: Vec<_> = (0..200)
            .map(|i| publication(&format!("/b/{i}"), Some("/a/day"), None))
            .collect();
        let sizes: Vec<usize> = batches(waiting).iter().map(Vec::len).collect();
        assert_eq!(sizes, [126, 74]);
    }
}
