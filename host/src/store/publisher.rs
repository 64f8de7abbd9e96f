//! Writing notifications with group commit: notifications sent while a write is in flight are
//! written together, in one transaction, instead of one transaction each, whatever their base
//! keys: each base key in the transaction gets its new status record, and the transaction
//! applies only if every one of those statuses is still the one it links to. A store commits
//! (and fsyncs) per transaction, so under load this multiplies what one client can notify, on
//! one base key or spread over many; alone, a notification is written as soon as it comes,
//! exactly as pyaviso writes it.
//!
//! The status this client wrote last for each base key is remembered, so the next write of that
//! base needs no read first; a status changed by someone else fails the compare, and is read.
//!
//! Every notification still gets its own key at the transaction's revision, so listeners,
//! catch-up and `--from/--to` (which work on revisions) see each of them, pyaviso's included.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::{KeyValue, Store, StoreError, StoreErrorClass, status};
use crate::notification::NotificationKeys;

/// etcd refuses transactions with more operations than this (its `--max-txn-ops` default).
const MAX_OPERATIONS: usize = 128;
/// Values per transaction, well below etcd's 1.5 MiB request limit once base64-encoded.
const MAX_BYTES: usize = 1024 * 1024;
/// Base keys whose last status is remembered; beyond, the memory is started afresh.
const REMEMBERED_STATUSES: usize = 10_000;

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
/// Notifications waiting, each with where its answer goes.
type Waiting = Vec<(Publication, Reply)>;

#[derive(Default)]
struct Queue {
    waiting: Waiting,
    /// The status this client last wrote for each base key.
    statuses: HashMap<String, KeyValue>,
}

/// Group commit; shared by the clones of one client.
#[derive(Default)]
pub struct Publisher {
    queue: Mutex<Queue>,
    /// One transaction in flight at a time: what comes meanwhile all goes into the next. More
    /// in flight split the queue into smaller transactions, which cost etcd more than they
    /// gained (over 100 base keys, 5,500/s with four against 7,600/s with one; decisions.md).
    turn: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// Writes `publication` (with the notifications that arrive meanwhile) and returns when it
    /// is stored.
    pub async fn publish(
        &self,
        store: &Store,
        writer: &status::Writer,
        publication: Publication,
    ) -> Result<(), StoreError> {
        let (reply, mut written) = oneshot::channel();
        self.lock().waiting.push((publication, reply));
        loop {
            tokio::select! {
                biased;
                // Written by whoever had the turn: no need to write ourselves.
                result = &mut written => return flatten(result),
                _turn = self.turn.lock() => {
                    // Let notifications sent at the same moment join this transaction.
                    tokio::task::yield_now().await;
                    let batch = self.take_batch();
                    // Empty when ours went in the turn before: its answer is there.
                    if !batch.is_empty() {
                        self.write(store, writer, batch).await;
                    }
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the waiting notifications of one transaction, in order.
    fn take_batch(&self) -> Waiting {
        let mut queue = self.lock();
        let (batch, rest) = split_batch(std::mem::take(&mut queue.waiting));
        queue.waiting = rest;
        batch
    }

    /// Writes a batch, answers its notifications, and remembers the statuses it wrote.
    async fn write(&self, store: &Store, writer: &status::Writer, batch: Waiting) {
        let (publications, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let bases = bases_of(&publications);
        let known: Vec<Option<KeyValue>> = {
            let queue = self.lock();
            bases
                .iter()
                .map(|b| queue.statuses.get(*b).cloned())
                .collect()
        };
        let result = write_batch(store, writer, &publications, &bases, known).await;
        {
            let mut queue = self.lock();
            if queue.statuses.len() > REMEMBERED_STATUSES {
                queue.statuses.clear();
            }
            for base in &bases {
                queue.statuses.remove(*base);
            }
            if let Ok(Some(statuses)) = &result {
                for status in statuses {
                    queue.statuses.insert(status.key.clone(), status.clone());
                }
            }
        }
        let result = result.map(drop);
        for reply in replies {
            let _ = reply.send(result.clone());
        }
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

/// The base keys of a batch, in order of first appearance.
fn bases_of(publications: &[Publication]) -> Vec<&str> {
    let mut seen = HashSet::new();
    publications
        .iter()
        .map(|p| p.keys.base.as_str())
        .filter(|base| seen.insert(*base))
        .collect()
}

/// Splits waiting notifications, in order, into one transaction etcd accepts and the rest: one
/// TTL (one lease), no key twice (a key notified twice is written twice, in order), bounded
/// operations and size, no base key that `writing` holds. A base key with a notification left
/// out has its later ones left out too, so each base's notifications are written in order.
fn split_batch(waiting: Waiting) -> (Waiting, Waiting) {
    let (mut batch, mut rest) = (Vec::new(), Vec::new());
    let mut held: HashSet<String> = HashSet::new();
    let mut keys = HashSet::new();
    let mut bases = HashSet::new();
    let (mut operations, mut bytes) = (0, 0);
    let mut ttl = None;
    for (publication, reply) in waiting {
        let base = &publication.keys.base;
        if held.contains(base) {
            rest.push((publication, reply));
            continue;
        }
        let adds = 1
            + usize::from(!bases.contains(base))
            + usize::from(
                publication
                    .keys
                    .admin
                    .as_ref()
                    .is_some_and(|admin| !keys.contains(admin)),
            );
        let fits = batch.is_empty()
            || (ttl == Some(publication.ttl)
                && !keys.contains(&publication.keys.key)
                && operations + adds <= MAX_OPERATIONS
                && bytes + publication.value.len() <= MAX_BYTES);
        if !fits {
            held.insert(base.clone());
            rest.push((publication, reply));
            continue;
        }
        ttl = Some(publication.ttl);
        keys.insert(publication.keys.key.clone());
        if let Some(admin) = &publication.keys.admin {
            keys.insert(admin.clone());
        }
        bases.insert(base.clone());
        operations += adds;
        bytes += publication.value.len();
        batch.push((publication, reply));
    }
    (batch, rest)
}

/// Tries after the base's status changed between reading and writing it: each is lost only to
/// a notifier whose write went in, so only a flood of notifiers keeps a write out this long.
const CHANGED_TRIES: usize = 1000;
/// Writes tried again after failing (etcd changing leader, a timeout, a lost answer).
const FAILED_RETRIES: u32 = 3;

/// One transaction: every notification's key, each base's new status (linked to its previous
/// one, naming the base's last notification), and each admin key once. Returns the statuses
/// written (for the next write of these bases), or `None` when the write is known to have gone
/// in but not at which revision.
///
/// The transaction applies only if each base's status is still the one it links to
/// (compare-and-swap): concurrent notifiers, in other processes too, keep one chain of statuses
/// per base; the loser reads the statuses again and tries again. A write that failed may have
/// been applied all the same (the answer lost on the way back): the statuses it carried tell.
/// Their date has microseconds and they name the user, the host and the notification, so
/// finding one in its chain means the write went in (all of it: a transaction is atomic), and it
/// is not written again. Otherwise trying again is safe: the compare stops a second
/// application.
async fn write_batch(
    store: &Store,
    writer: &status::Writer,
    publications: &[Publication],
    bases: &[&str],
    known: Vec<Option<KeyValue>>,
) -> Result<Option<Vec<KeyValue>>, StoreError> {
    let last = publications.last().expect("a batch is not empty");
    tracing::debug!(
        "writing {} notifications of {} base keys in one transaction",
        publications.len(),
        bases.len()
    );
    let mut pairs: Vec<(String, Vec<u8>)> = publications
        .iter()
        .map(|p| (p.keys.key.clone(), p.value.clone()))
        .collect();
    let first_status = pairs.len();
    // Each base's status names its last notification, as one pyaviso notify would.
    let messages: Vec<String> = bases
        .iter()
        .map(|base| {
            let key = publications
                .iter()
                .rev()
                .find(|p| p.keys.base == *base)
                .map_or("", |p| p.keys.key.as_str());
            format!("notification to key {key}")
        })
        .collect();
    pairs.extend(bases.iter().map(|base| (base.to_string(), Vec::new())));
    let mut admins = HashSet::new();
    for admin in publications.iter().filter_map(|p| p.keys.admin.as_ref()) {
        if admins.insert(admin) {
            pairs.push((admin.clone(), b"None".to_vec()));
        }
    }
    let mut previous = Vec::with_capacity(bases.len());
    for (base, known) in bases.iter().zip(known) {
        previous.push(match known {
            Some(status) => Some(status),
            None => store.get(base).await?,
        });
    }
    let mut failures = 0;
    for _ in 0..CHANGED_TRIES {
        let statuses: Vec<Vec<u8>> = bases
            .iter()
            .zip(&previous)
            .zip(&messages)
            .map(|((base, previous), message)| {
                status::next_status(writer, message, previous.as_ref().map(|kv| (*base, kv)))
                    .into_bytes()
            })
            .collect();
        for (i, status) in statuses.iter().enumerate() {
            pairs[first_status + i].1 = status.clone();
        }
        let unchanged: Vec<(String, u64)> = bases
            .iter()
            .zip(&previous)
            .map(|(base, kv)| {
                (
                    base.to_string(),
                    kv.as_ref().map_or(0, |kv| kv.mod_revision),
                )
            })
            .collect();
        let outcome = store.put_all_if(&pairs, last.ttl, &unchanged).await;
        if let Ok(Some(revision)) = outcome {
            let written = bases
                .iter()
                .zip(&previous)
                .zip(statuses)
                .map(|((base, previous), value)| KeyValue {
                    key: base.to_string(),
                    value,
                    create_revision: previous.as_ref().map_or(revision, |kv| kv.create_revision),
                    mod_revision: revision,
                    version: previous.as_ref().map_or(1, |kv| kv.version + 1),
                })
                .collect();
            return Ok(Some(written));
        }
        // A status changed, or the write failed: see what is there now. A refused write can
        // be our own, applied by a retry below us whose first answer was lost; the first base
        // tells for all.
        let mut current = Vec::with_capacity(bases.len());
        for base in bases {
            match store.get(base).await {
                Ok(status) => current.push(status),
                Err(read) => {
                    return Err(match outcome {
                        Err(write) => StoreError::new(format!(
                            "the notification to {} may not have been written ({write}), and reading {base} to find out failed: {read}",
                            last.keys.key
                        )),
                        _ => read,
                    });
                }
            }
        }
        if went_in(
            store,
            bases[0],
            unchanged[0].1,
            current[0].as_ref(),
            &statuses[0],
        )
        .await
        {
            tracing::debug!(
                "the write to {} went in although its answer was lost",
                bases[0]
            );
            return Ok(None);
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
        "the notification to {} was not written: the status of {} kept changing ({CHANGED_TRIES} tries, each lost to another notifier)",
        last.keys.key,
        bases.join(", ")
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

    fn publication(
        base: &str,
        key: &str,
        admin: Option<&str>,
        ttl: Option<u64>,
    ) -> (Publication, Reply) {
        let publication = Publication {
            keys: NotificationKeys {
                key: key.into(),
                base: base.into(),
                admin: admin.map(Into::into),
            },
            value: b"None".to_vec(),
            ttl,
        };
        (publication, oneshot::channel().0)
    }

    fn keys(batch: &[(Publication, Reply)]) -> Vec<&str> {
        batch.iter().map(|(p, _)| p.keys.key.as_str()).collect()
    }

    /// Every batch taken in turn, as writers one after the other would take them.
    fn all_batches(mut waiting: Vec<(Publication, Reply)>) -> Vec<Vec<(Publication, Reply)>> {
        let mut batches = Vec::new();
        while !waiting.is_empty() {
            let (batch, rest) = split_batch(waiting);
            batches.push(batch);
            waiting = rest;
        }
        batches
    }

    #[test]
    fn a_key_twice_or_another_ttl_waits_for_the_next_transaction_in_order() {
        let waiting = vec![
            publication("/b/", "/b/1", None, None),
            publication("/b/", "/b/2", None, None),
            publication("/b/", "/b/1", None, None),
            publication("/c/", "/c/1", None, None),
            publication("/b/", "/b/3", None, None),
            publication("/d/", "/d/1", None, Some(5)),
        ];
        let batches = all_batches(waiting);
        let keys: Vec<Vec<&str>> = batches.iter().map(|b| keys(b)).collect();
        // /b/1 twice: the second, and /b/3 after it, wait; other bases go on.
        assert_eq!(
            keys,
            [
                vec!["/b/1", "/b/2", "/c/1"],
                vec!["/b/1", "/b/3"],
                vec!["/d/1"]
            ]
        );
    }

    #[test]
    fn many_base_keys_share_a_transaction_within_etcds_operation_limit() {
        // Each notification: its key, its base's status, its own admin key.
        let waiting: Vec<_> = (0..200)
            .map(|i| {
                publication(
                    &format!("/b{i}/"),
                    &format!("/b{i}/k"),
                    Some(&format!("/a/{i}")),
                    None,
                )
            })
            .collect();
        let sizes: Vec<usize> = all_batches(waiting).iter().map(Vec::len).collect();
        assert_eq!(sizes, [42, 42, 42, 42, 32]);
        // One base: one status, a shared admin key written once.
        let waiting: Vec<_> = (0..200)
            .map(|i| publication("/b/", &format!("/b/{i}"), Some("/a/day"), None))
            .collect();
        let sizes: Vec<usize> = all_batches(waiting).iter().map(Vec::len).collect();
        assert_eq!(sizes, [126, 74]);
    }
}
