//! A resumable feed of what is written under one base key, owned by the store as etcd's own
//! watcher is: it watches (etcd) or polls (the embedded store, or etcd behind a proxy that
//! refuses watches), resumes from the last revision it handed out after any failure, recovers
//! from compaction, reconnects with a jittered backoff, and checks that a silent watch is alive.
//!
//! Liveness: a watch can stop without a word (a NAT or firewall forgetting the connection, a
//! paused VM, a member cut off from its cluster). The transports catch some of it (gRPC
//! keepalive pings and require-leader; TCP keepalive on the JSON gateway); the rest is caught
//! by the feed itself: after [`FeedSettings::silence`] without a message it asks the store,
//! on a connection of its own, what was written under the base key up to the revision it saw
//! at its previous check. Those writes should have come through the watch long ago; if some
//! did not, or the store does not answer in time, the watch is dropped and opened again from
//! the last revision handed out. Nothing is lost: the feed never moves past a revision it has
//! not handed out.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::{KeyValue, Store, StoreError, WatchUpdate, Watching};

/// The writes of one revision under one base key, in key order.
pub type Revision = Arc<Vec<KeyValue>>;

/// How the embedded store is polled: it is local and cheap to ask.
pub const EMBEDDED_POLL: Duration = Duration::from_millis(100);

/// The longest wait between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How a feed reads and how long it waits.
#[derive(Debug, Clone, Copy)]
pub struct FeedSettings {
    /// How often etcd is asked when it cannot be watched (`polling_interval`).
    pub poll: Duration,
    /// The first wait after a failure (`automatic_retry_delay`); doubled at each failure in a
    /// row up to a minute (or the setting, if longer), with jitter.
    pub retry_delay: Duration,
    /// How long a watch may stay silent before the feed checks that it is alive.
    pub silence: Duration,
}

/// Where a feed reads from.
enum Source {
    Poll { due: bool },
    Watch(Option<Box<Watching>>),
}

/// What went wrong on a watch, for the log and the decision to reconnect.
enum Broken {
    /// The store failed or closed the stream: reconnect after the backoff.
    Failed(StoreError),
    /// Writes that the watch should have brought did not come: reconnect now.
    Stale { written_up_to: u64 },
    /// The store did not answer the liveness check in time, or failed it (a member without a
    /// leader cannot answer a linearizable read): another member, after the backoff.
    Unanswered(Option<StoreError>),
}

/// The revisions written under one base key after a given revision, each once, in order.
pub struct Feed {
    store: Arc<Store>,
    base: String,
    /// The last revision handed out (or the start).
    last: u64,
    settings: FeedSettings,
    source: Source,
    pending: VecDeque<Revision>,
    /// Failures in a row, for the backoff; a reconnection after one is logged.
    failures: u32,
    /// The store's revision at the previous liveness check.
    checked: Option<u64>,
}

impl Feed {
    /// A feed of what is written under `base` after revision `after`.
    pub fn new(store: Arc<Store>, base: &str, after: u64, settings: FeedSettings) -> Feed {
        let source = match &*store {
            Store::File(_) => Source::Poll { due: true },
            Store::EtcdRest(_) | Store::EtcdGrpc(_) => Source::Watch(None),
        };
        Feed {
            store,
            base: base.to_string(),
            last: after,
            settings,
            source,
            pending: VecDeque::new(),
            failures: 0,
            checked: None,
        }
    }

    /// The next revision written under the base key, waiting as long as it takes. Failures are
    /// logged and retried; an error is returned only when retrying cannot help (credentials
    /// refused, a request the server will never allow), and the feed should then be dropped.
    pub async fn next(&mut self) -> Result<Revision, StoreError> {
        loop {
            if let Some(revision) = self.pending.pop_front() {
                return Ok(revision);
            }
            let outcome = match &mut self.source {
                Source::Poll { due } => {
                    let wait = !*due;
                    *due = false;
                    self.poll(wait).await
                }
                Source::Watch(slot) => match slot.take() {
                    None => self.open_watch().await,
                    Some(watch) => self.read_watch(watch).await,
                },
            };
            if let Err(broken) = outcome {
                self.recover(broken).await?;
            }
        }
    }

    async fn poll(&mut self, wait: bool) -> Result<(), Broken> {
        if wait {
            tokio::time::sleep(self.poll_interval()).await;
        }
        let changes = self
            .store
            .changes_since(&self.base, self.last)
            .await
            .map_err(Broken::Failed)?;
        if self.failures > 0 {
            tracing::info!(
                "Polling {} again from revision {}: {} answers",
                self.base,
                self.last + 1,
                self.store.describe()
            );
            self.failures = 0;
        }
        self.queue(changes);
        Ok(())
    }

    async fn open_watch(&mut self) -> Result<(), Broken> {
        match self.store.watch(&self.base, self.last + 1).await {
            Ok(watch) => {
                if self.failures > 0 {
                    tracing::info!(
                        "Watching {} again from revision {}",
                        self.base,
                        self.last + 1
                    );
                }
                self.source = Source::Watch(Some(Box::new(watch)));
                Ok(())
            }
            // A proxy such as ECMWF's aviso-auth allows only /v3/kv/range.
            Err(error) if error.is_refused_request() => {
                tracing::warn!(
                    "{error}: watching is not available, polling every {} instead",
                    crate::cause::duration(self.settings.poll)
                );
                self.source = Source::Poll { due: true };
                Ok(())
            }
            Err(error) => Err(Broken::Failed(error)),
        }
    }

    /// Waits for the watch's next message, at most `silence`; the watch is kept while it works.
    async fn read_watch(&mut self, mut watch: Box<Watching>) -> Result<(), Broken> {
        let update = match tokio::time::timeout(self.settings.silence, watch.next()).await {
            Err(_silent) => {
                self.check_alive().await?;
                self.source = Source::Watch(Some(watch));
                return Ok(());
            }
            Ok(update) => update.map_err(Broken::Failed)?,
        };
        match update {
            None => Err(Broken::Failed(StoreError::new(
                "etcd closed the watch stream",
            ))),
            Some(WatchUpdate::Compacted(revision)) => self.recover_from_compaction(revision).await,
            Some(WatchUpdate::Puts(puts)) => {
                self.failures = 0;
                self.queue(puts);
                self.source = Source::Watch(Some(watch));
                Ok(())
            }
            Some(WatchUpdate::Progress) => {
                self.failures = 0;
                self.source = Source::Watch(Some(watch));
                Ok(())
            }
        }
    }

    fn poll_interval(&self) -> Duration {
        match &*self.store {
            Store::File(_) => EMBEDDED_POLL,
            Store::EtcdRest(_) | Store::EtcdGrpc(_) => self.settings.poll,
        }
    }

    /// Queues every revision after the last one handed out.
    fn queue(&mut self, changes: Vec<KeyValue>) {
        for group in changes.chunk_by(|a, b| a.mod_revision == b.mod_revision) {
            let revision = group[0].mod_revision;
            if revision <= self.last {
                continue; // already handed out: a resumed watch or poll can repeat it
            }
            self.last = revision;
            self.pending.push_back(Arc::new(group.to_vec()));
        }
    }

    /// The history needed is gone: hands out the current value of every key written since the
    /// last revision, then watches on from there.
    async fn recover_from_compaction(&mut self, compacted: u64) -> Result<(), Broken> {
        tracing::warn!(
            "History of {} before revision {compacted} was compacted; delivering the current values written since revision {}",
            self.base,
            self.last
        );
        let now = self.store.revision().await.map_err(Broken::Failed)?;
        let changes = self
            .store
            .changes_since(&self.base, self.last)
            .await
            .map_err(Broken::Failed)?;
        self.queue(changes);
        self.last = self.last.max(now);
        Ok(())
    }

    /// The watch said nothing for `silence`: is it alive? Whatever was written under the base
    /// key up to the revision seen at the previous check must have come through it by now.
    async fn check_alive(&mut self) -> Result<(), Broken> {
        let silence = self.settings.silence;
        let previous = self.checked;
        let (store, base, last) = (self.store.clone(), self.base.clone(), self.last);
        let check = async move {
            let now = store.revision().await?;
            let missed = match previous {
                Some(up_to) if up_to > last => store.written_between(&base, last, up_to).await?,
                _ => Vec::new(),
            };
            Ok::<_, StoreError>((now, missed))
        };
        match tokio::time::timeout(silence, check).await {
            Err(_) => Err(Broken::Unanswered(None)),
            Ok(Err(error)) => Err(Broken::Unanswered(Some(error))),
            Ok(Ok((now, missed))) => {
                self.checked = Some(now);
                match missed.last() {
                    Some(kv) => Err(Broken::Stale {
                        written_up_to: kv.mod_revision,
                    }),
                    None => {
                        tracing::debug!(
                            "The watch of {} was silent for {silence:?}; etcd is at revision {now}, nothing missed",
                            self.base
                        );
                        Ok(())
                    }
                }
            }
        }
    }

    /// Logs what broke, drops the watch and waits before the next attempt. Errors that waiting
    /// cannot cure are returned.
    async fn recover(&mut self, broken: Broken) -> Result<(), StoreError> {
        if let Source::Watch(watch) = &mut self.source {
            *watch = None;
        }
        self.checked = None;
        let resume = self.last + 1;
        match broken {
            Broken::Failed(error) if error.is_unauthenticated() || error.is_refused_request() => {
                return Err(error);
            }
            Broken::Failed(error) => {
                let wait = self.backoff();
                tracing::warn!(
                    "{error}; {} resumes from revision {resume} in {}",
                    self.base,
                    crate::cause::duration(wait)
                );
                tokio::time::sleep(wait).await;
            }
            Broken::Stale { written_up_to } => {
                // The stream is alive for the transport but dead for us: no wait needed.
                tracing::warn!(
                    "The watch of {} went silent although revisions up to {written_up_to} were written under it; reconnecting from revision {resume}",
                    self.base
                );
                self.failures += 1;
                self.store.reconnect(false);
            }
            Broken::Unanswered(failure) => {
                let wait = self.backoff();
                let what = match failure {
                    None => format!(
                        "did not answer within {}",
                        crate::cause::duration(self.settings.silence)
                    ),
                    Some(error) => format!("failed a liveness check ({error})"),
                };
                tracing::warn!(
                    "etcd {what} ({}); reconnecting, {} resumes from revision {resume} in {}",
                    self.store.describe(),
                    self.base,
                    crate::cause::duration(wait)
                );
                self.store.reconnect(true);
                tokio::time::sleep(wait).await;
            }
        }
        Ok(())
    }

    /// The wait before the next attempt: the retry delay doubled at each failure in a row, up to
    /// a ceiling, with up to a half of it taken off at random so that many listeners that lost
    /// the same server do not come back at the same instant.
    fn backoff(&mut self) -> Duration {
        let ceiling = MAX_BACKOFF.max(self.settings.retry_delay);
        let doubled = self
            .settings
            .retry_delay
            .saturating_mul(1 << self.failures.min(16));
        self.failures += 1;
        let wait = doubled.min(ceiling);
        wait.mul_f64(1.0 - jitter() / 2.0)
    }
}

/// A number in `[0, 1)`, different at each call and in each process.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}
