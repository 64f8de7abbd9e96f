//! Delivery to listeners that come and go in groups while the others go on: the tenants of
//! `aviso serve`, one group each. Every base key has one feed for all groups (one etcd watch);
//! a group joins the feeds of its base keys and leaves them when it stops, without a pause for
//! anyone else. A listener that joins a feed which has already handed out revisions after its
//! cursor reads those on its own first (a feed of its own, up to where the shared one was),
//! then takes the shared one's: nothing is missed, nothing is delivered twice. A listener that
//! falls a whole queue behind is let go by the shared feed and reads on its own from then on,
//! so that it never holds back the others on its base key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

use super::{
    ActiveListener, DeliveryError, Lag, OwnFeed, QUEUED_REVISIONS, RetryPolicy, Subscriber, listen,
    panic_message, tenant_span,
};
use crate::store::Store;
use crate::store::feed::{Feed, FeedSettings, Revision};

/// The shared feeds, and what the groups' listeners need to run.
pub struct Hub {
    store: Arc<Store>,
    feed: FeedSettings,
    policy: RetryPolicy,
    bases: Mutex<HashMap<String, mpsc::UnboundedSender<Joining>>>,
    /// Revisions a listener may have waiting; one that falls further behind is let go.
    queued: usize,
    /// A feed that cannot go on (credentials refused) or a listener that crashed.
    failures: mpsc::UnboundedSender<DeliveryError>,
}

/// A listener asking its base key's feed for its revisions from `from` on.
struct Joining {
    subscriber: Subscriber,
    from: u64,
    /// `Some(last)`: the feed handed out revisions up to `last` that the listener must read
    /// on its own first.
    reply: oneshot::Sender<Option<u64>>,
}

/// One group's running listeners.
pub struct Group {
    halt: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
    positions: Vec<ListenerPosition>,
}

/// Where one listener of a group is, next to its feed.
#[derive(Clone)]
pub struct ListenerPosition {
    /// What it listens to (its cursor's name).
    pub listener: String,
    finished: Arc<std::sync::atomic::AtomicU64>,
    newest: Arc<std::sync::atomic::AtomicU64>,
}

impl ListenerPosition {
    /// The last revision it finished, and how many revisions its feed read beyond it.
    pub fn now(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let finished = self.finished.load(Relaxed);
        (finished, self.newest.load(Relaxed).saturating_sub(finished))
    }
}

impl Group {
    /// Stops its listeners: their running triggers finish and their positions are saved; the
    /// feeds go on for everyone else.
    pub async fn stop(mut self) {
        let _ = self.halt.send(true);
        while let Some(ended) = self.tasks.join_next().await {
            if let Err(error) = ended
                && error.is_panic()
            {
                tracing::error!(
                    "A listener crashed while stopping: {}",
                    panic_message(error)
                );
            }
        }
    }

    /// How many of its listeners still run.
    pub fn running(&self) -> usize {
        self.tasks.len()
    }

    /// Where each of its listeners is.
    pub fn positions(&self) -> Vec<ListenerPosition> {
        self.positions.clone()
    }
}

impl Hub {
    /// A hub on `store`; failures that stop a feed or a listener arrive on the receiver.
    pub fn new(
        store: Arc<Store>,
        feed: FeedSettings,
        policy: RetryPolicy,
    ) -> (Arc<Hub>, mpsc::UnboundedReceiver<DeliveryError>) {
        Hub::letting_go_at(store, feed, policy, QUEUED_REVISIONS)
    }

    /// A hub that lets go of a listener once `queued` revisions wait for it.
    pub fn letting_go_at(
        store: Arc<Store>,
        feed: FeedSettings,
        policy: RetryPolicy,
        queued: usize,
    ) -> (Arc<Hub>, mpsc::UnboundedReceiver<DeliveryError>) {
        let (failures, failed) = mpsc::unbounded_channel();
        let hub = Hub {
            store,
            feed,
            policy,
            bases: Mutex::default(),
            queued: queued.max(1),
            failures,
        };
        (Arc::new(hub), failed)
    }

    /// Starts a group of listeners on the shared feeds.
    pub async fn start(self: &Arc<Self>, listeners: Vec<ActiveListener>) -> Group {
        let (halt, halted) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let mut positions = Vec::new();
        // A base key's new feed starts at the group's earliest cursor on it.
        let mut earliest: HashMap<&str, u64> = HashMap::new();
        for active in &listeners {
            let from = earliest.entry(active.base.as_str()).or_insert(u64::MAX);
            *from = (*from).min(active.cursor.revision());
        }
        let earliest: HashMap<String, u64> = earliest
            .into_iter()
            .map(|(base, from)| (base.to_string(), from))
            .collect();
        for active in listeners {
            let (queue, revisions) = mpsc::channel(self.queued);
            let (lag, seen) = Lag::pair(&active);
            positions.push(ListenerPosition {
                listener: active.identity.clone(),
                finished: lag.finished.clone(),
                newest: lag.newest.clone(),
            });
            let from = active.cursor.revision();
            let joins = self.feed_of(&active.base, earliest[&active.base]);
            let (reply, replied) = oneshot::channel();
            let joining = Joining {
                subscriber: Subscriber { queue, lag: seen },
                from,
                reply,
            };
            let until = match joins.send(joining) {
                Ok(()) => replied.await.ok().flatten(),
                Err(_) => None,
            };
            let own = OwnFeed {
                store: self.store.clone(),
                settings: self.feed,
                catch_up_until: until,
            };
            let span = tenant_span(&active);
            let failures = self.failures.clone();
            let name = format!("{} (event {})", active.base, active.listener.event);
            let listening = listen(
                active,
                revisions,
                lag,
                self.policy.clone(),
                halted.clone(),
                Some(own),
            )
            .instrument(span);
            // A listener that crashes is a bug: reported, and the service stops with it.
            tasks.spawn(async move {
                let outcome = tokio::spawn(listening).await;
                if let Err(error) = outcome
                    && error.is_panic()
                {
                    let reason = panic_message(error);
                    tracing::error!("The listener to {name} crashed: {reason}");
                    let _ = failures.send(DeliveryError::Crashed {
                        listener: name,
                        reason,
                    });
                }
            });
        }
        Group {
            halt,
            tasks,
            positions,
        }
    }

    /// The feed of `base`, started from `from` when there is none yet.
    fn feed_of(&self, base: &str, from: u64) -> mpsc::UnboundedSender<Joining> {
        let mut bases = self.bases.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(joins) = bases.get(base)
            && !joins.is_closed()
        {
            return joins.clone();
        }
        let (joins, joined) = mpsc::unbounded_channel();
        let feed = Feed::new(self.store.clone(), base, from, self.feed);
        tokio::spawn(share(
            feed,
            base.to_string(),
            from,
            joined,
            self.failures.clone(),
        ));
        bases.insert(base.to_string(), joins.clone());
        joins
    }
}

/// One base key's feed, handed to every listener that joined it, for as long as the hub lives.
async fn share(
    mut feed: Feed,
    base: String,
    from: u64,
    mut joins: mpsc::UnboundedReceiver<Joining>,
    failures: mpsc::UnboundedSender<DeliveryError>,
) {
    // Read in a task of its own, so that a join never interrupts a read half done.
    let (read, mut revisions) = mpsc::channel::<Revision>(1);
    let reader = {
        let base = base.clone();
        tokio::spawn(async move {
            loop {
                match feed.next().await {
                    Ok(revision) => {
                        if read.send(revision).await.is_err() {
                            return;
                        }
                    }
                    Err(source) => {
                        let _ = failures.send(DeliveryError::Store { base, source });
                        return;
                    }
                }
            }
        })
    };
    let mut subscribers: Vec<Subscriber> = Vec::new();
    let mut handed_out = from;
    loop {
        tokio::select! {
            biased;
            joining = joins.recv() => {
                let Some(joining) = joining else { break };
                let behind = (joining.from < handed_out).then_some(handed_out);
                subscribers.push(joining.subscriber);
                let _ = joining.reply.send(behind);
            }
            revision = revisions.recv() => {
                let Some(revision) = revision else { break };
                let number = revision[0].mod_revision;
                // A listener with a full queue is let go (its queue closes once drained, and it
                // reads on its own from its cursor), so that one far behind never holds back
                // the others on its base key; one that has stopped is dropped.
                subscribers.retain(|subscriber| {
                    subscriber.lag.newest.fetch_max(number, std::sync::atomic::Ordering::Relaxed);
                    subscriber.lag.update();
                    subscriber.queue.try_send(revision.clone()).is_ok()
                });
                handed_out = handed_out.max(number);
            }
        }
    }
    reader.abort();
}
