//! Admission to the sandbox: a bounded queue in front of the instance pool. A call waits for a
//! free instance (at most its own time limit) instead of failing because the pool is full, so a
//! burst of slow triggers runs in full, each call exactly once.
//!
//! Calls wait in lanes, one per tenant of `aviso serve` (one for everyone else). A freed
//! instance goes to the lane with the fewest calls running for its weight, first come first
//! served within a lane: a tenant with a thousand calls queued does not stand between another
//! tenant's next call and the next free instance.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// The most calls any configuration may run at once (each reserves address space in the pool).
pub const MAX_CONCURRENT_CALLS: usize = 4096;

/// Counts of the admission queue since the engine started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionStats {
    /// How many calls the engine runs at once.
    pub capacity: usize,
    /// Calls admitted in all.
    pub admitted: u64,
    /// Of those, calls that had to wait for a free instance.
    pub waited: u64,
    /// Their waiting time added up.
    pub waited_total: Duration,
    /// Calls that found no free instance within their time limit.
    pub gave_up: u64,
    /// Calls waiting now.
    pub waiting: usize,
}

/// Whose queue a call waits in, and its share of the instances when they are all busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lane {
    pub id: u64,
    pub weight: u32,
}

impl Lane {
    /// Everyone who is not a tenant of `aviso serve`.
    pub const SHARED: Lane = Lane { id: 0, weight: 1 };

    /// A lane of its own, with `weight` shares.
    pub fn new(weight: u32) -> Lane {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Lane {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            weight: weight.max(1),
        }
    }
}

/// The queue: `capacity` calls run at once, the others wait in their lanes.
pub struct Admission {
    capacity: usize,
    lanes: Mutex<Lanes>,
    admitted: AtomicU64,
    waited: AtomicU64,
    waited_nanos: AtomicU64,
    gave_up: AtomicU64,
}

#[derive(Default)]
struct Lanes {
    free: usize,
    next_ticket: u64,
    by_id: HashMap<u64, LaneQueue>,
}

struct LaneQueue {
    weight: u32,
    running: usize,
    waiting: VecDeque<(u64, oneshot::Sender<()>)>,
}

impl Lanes {
    fn lane(&mut self, lane: Lane) -> &mut LaneQueue {
        self.by_id.entry(lane.id).or_insert_with(|| LaneQueue {
            weight: lane.weight,
            running: 0,
            waiting: VecDeque::new(),
        })
    }

    /// A call of `lane` ended (or gave back the instance it was handed): the instance goes to
    /// the lane that deserves it most, or becomes free.
    fn release(&mut self, lane: u64) {
        // Counted as running while the instance is handed over, so that a lane giving one
        // back does not win it again over a lane that has fewer.
        self.hand_over();
        if let Some(queue) = self.by_id.get_mut(&lane) {
            queue.running = queue.running.saturating_sub(1);
        }
        self.by_id
            .retain(|_, queue| queue.running > 0 || !queue.waiting.is_empty());
    }

    fn hand_over(&mut self) {
        loop {
            // The fewest running calls for its weight (a / wa < b / wb), then the longest wait.
            let next = self
                .by_id
                .iter()
                .filter(|(_, queue)| !queue.waiting.is_empty())
                .min_by(|(_, a), (_, b)| {
                    (a.running as u64 * u64::from(b.weight))
                        .cmp(&(b.running as u64 * u64::from(a.weight)))
                        .then(a.waiting[0].0.cmp(&b.waiting[0].0))
                })
                .map(|(id, _)| *id);
            let Some(id) = next else {
                self.free += 1;
                return;
            };
            let queue = self.by_id.get_mut(&id).expect("just found");
            let (_, waiter) = queue.waiting.pop_front().expect("not empty");
            // A waiter that is gone (its listener stopped) takes nothing.
            if waiter.send(()).is_ok() {
                queue.running += 1;
                return;
            }
        }
    }

    /// Takes a waiting ticket out of its lane; false when it was already handed an instance.
    fn withdraw(&mut self, lane: u64, ticket: u64) -> bool {
        let Some(queue) = self.by_id.get_mut(&lane) else {
            return false;
        };
        let before = queue.waiting.len();
        queue.waiting.retain(|(t, _)| *t != ticket);
        before != queue.waiting.len()
    }
}

/// One admitted call; its instance is handed on when this is dropped.
pub struct Permit {
    admission: Arc<Admission>,
    lane: u64,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.admission.lock().release(self.lane);
    }
}

/// A call waiting in its lane. Dropped before it was admitted (its listener stopped), it
/// leaves the queue, or hands on the instance it was given meanwhile.
struct Waiting {
    admission: Arc<Admission>,
    lane: u64,
    ticket: u64,
    settled: bool,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut lanes = self.admission.lock();
        if !lanes.withdraw(self.lane, self.ticket) {
            lanes.release(self.lane);
        }
    }
}

/// No instance became free within the call's time limit.
#[derive(Debug, Clone, Copy)]
pub struct NoFreeInstance {
    pub waited: Duration,
}

impl Admission {
    pub fn new(capacity: usize) -> Admission {
        Admission {
            capacity,
            lanes: Mutex::new(Lanes {
                free: capacity,
                ..Lanes::default()
            }),
            admitted: AtomicU64::new(0),
            waited: AtomicU64::new(0),
            waited_nanos: AtomicU64::new(0),
            gave_up: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits (at most `patience`) in `lane` for a free instance; the permit gives it back when
    /// dropped.
    pub async fn enter(
        self: &Arc<Self>,
        plugin: &str,
        lane: Lane,
        patience: Duration,
    ) -> Result<Permit, NoFreeInstance> {
        let permit = || Permit {
            admission: self.clone(),
            lane: lane.id,
        };
        let (ticket, granted) = {
            let mut lanes = self.lock();
            if lanes.free > 0 {
                lanes.free -= 1;
                lanes.lane(lane).running += 1;
                self.admitted.fetch_add(1, Ordering::Relaxed);
                return Ok(permit());
            }
            let ticket = lanes.next_ticket;
            lanes.next_ticket += 1;
            let (sender, granted) = oneshot::channel();
            lanes.lane(lane).waiting.push_back((ticket, sender));
            (ticket, granted)
        };
        let mut waiting = Waiting {
            admission: self.clone(),
            lane: lane.id,
            ticket,
            settled: false,
        };
        let since = Instant::now();
        tracing::debug!(
            "Plugin {plugin}: all {} sandboxes busy, waiting for one",
            self.capacity
        );
        let outcome = tokio::time::timeout(patience, granted).await;
        let waited = since.elapsed();
        let admitted = match outcome {
            Ok(Ok(())) => true,
            // The sender is only dropped unsent once withdrawn, which only this call does.
            Ok(Err(_)) => false,
            // Out of patience: unless an instance was handed over meanwhile.
            Err(_) => !self.lock().withdraw(lane.id, ticket),
        };
        waiting.settled = true;
        if !admitted {
            self.gave_up.fetch_add(1, Ordering::Relaxed);
            return Err(NoFreeInstance { waited });
        }
        self.admitted.fetch_add(1, Ordering::Relaxed);
        self.waited.fetch_add(1, Ordering::Relaxed);
        self.waited_nanos.fetch_add(
            u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        tracing::debug!("Plugin {plugin}: waited {waited:?} for a free sandbox");
        Ok(permit())
    }

    pub fn stats(&self) -> AdmissionStats {
        let waiting = self
            .lock()
            .by_id
            .values()
            .map(|queue| queue.waiting.len())
            .sum();
        AdmissionStats {
            capacity: self.capacity,
            admitted: self.admitted.load(Ordering::Relaxed),
            waited: self.waited.load(Ordering::Relaxed),
            waited_total: Duration::from_nanos(self.waited_nanos.load(Ordering::Relaxed)),
            gave_up: self.gave_up.load(Ordering::Relaxed),
            waiting,
        }
    }
}

/// The default number of calls run at once: enough for many slow triggers (a call waiting on a
/// command or a server holds an instance but no CPU), bounded by the machine's memory so that
/// every call could use the default plugin memory twice over.
pub fn default_concurrent_calls(default_memory_bytes: usize) -> usize {
    let memory = physical_memory_bytes().unwrap_or(8 << 30);
    let by_memory = memory / (2 * default_memory_bytes.max(1 << 20));
    by_memory.clamp(64, 1024)
}

fn physical_memory_bytes() -> Option<usize> {
    // SAFETY: sysconf takes plain integers and returns -1 on error.
    let (pages, page_size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let pages = usize::try_from(pages).ok()?;
    let page_size = usize::try_from(page_size).ok()?;
    pages.checked_mul(page_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn a_call_waits_for_a_free_instance_and_is_counted() {
        let admission = Arc::new(Admission::new(1));
        let first = admission.enter("p", Lane::SHARED, SECOND).await.unwrap();
        let waiting = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.enter("p", Lane::SHARED, 60 * SECOND).await })
        };
        while admission.stats().waiting == 0 {
            tokio::task::yield_now().await;
        }
        drop(first);
        assert!(waiting.await.unwrap().is_ok());
        let stats = admission.stats();
        assert_eq!((stats.admitted, stats.waited, stats.gave_up), (2, 1, 0));
    }

    #[tokio::test]
    async fn a_call_gives_up_after_its_patience() {
        let admission = Arc::new(Admission::new(1));
        let _held = admission.enter("p", Lane::SHARED, SECOND).await.unwrap();
        let refused = admission
            .enter("p", Lane::SHARED, Duration::from_millis(20))
            .await;
        assert!(refused.is_err());
        assert_eq!(admission.stats().gave_up, 1);
        assert_eq!(admission.stats().waiting, 0);
    }

    /// Queues `count` calls of `lane`, each sending its lane's name when admitted and
    /// holding its instance until told to go.
    fn queue(
        admission: &Arc<Admission>,
        lane: Lane,
        name: &'static str,
        count: usize,
        admitted: &tokio::sync::mpsc::UnboundedSender<(&'static str, oneshot::Sender<()>)>,
    ) {
        for _ in 0..count {
            let (admission, admitted) = (admission.clone(), admitted.clone());
            tokio::spawn(async move {
                let _permit = admission.enter(name, lane, 60 * SECOND).await.unwrap();
                let (done, finished) = oneshot::channel();
                admitted.send((name, done)).unwrap();
                let _ = finished.await;
            });
        }
    }

    #[tokio::test]
    async fn a_lane_with_a_long_queue_does_not_stand_before_another_lane() {
        let admission = Arc::new(Admission::new(1));
        let (flood, quiet) = (Lane::new(1), Lane::new(1));
        let (admitted, mut order) = tokio::sync::mpsc::unbounded_channel();
        queue(&admission, flood, "flood", 5, &admitted);
        let (_, first) = order.recv().await.unwrap();
        while admission.stats().waiting < 4 {
            tokio::task::yield_now().await;
        }
        queue(&admission, quiet, "quiet", 1, &admitted);
        while admission.stats().waiting < 5 {
            tokio::task::yield_now().await;
        }
        let _ = first.send(());
        // The quiet lane's one call is next, ahead of the four the flood queued before it.
        let (next, done) = order.recv().await.unwrap();
        assert_eq!(next, "quiet");
        let _ = done.send(());
        let (after, _) = order.recv().await.unwrap();
        assert_eq!(after, "flood");
    }

    #[tokio::test]
    async fn busy_instances_are_shared_by_weight() {
        // Three instances, lanes of weight 2 and 1, both queueing more than they can run.
        let admission = Arc::new(Admission::new(3));
        let (heavy, light) = (Lane::new(2), Lane::new(1));
        let (admitted, mut order) = tokio::sync::mpsc::unbounded_channel();
        let blocker = admission.enter("b", Lane::SHARED, SECOND).await.unwrap();
        let others: Vec<Permit> = vec![
            admission.enter("b", Lane::SHARED, SECOND).await.unwrap(),
            admission.enter("b", Lane::SHARED, SECOND).await.unwrap(),
        ];
        queue(&admission, light, "light", 6, &admitted);
        queue(&admission, heavy, "heavy", 6, &admitted);
        while admission.stats().waiting < 12 {
            tokio::task::yield_now().await;
        }
        drop(blocker);
        drop(others);
        let mut running = Vec::new();
        for _ in 0..3 {
            running.push(order.recv().await.unwrap());
        }
        let heavy_running = running.iter().filter(|(name, _)| *name == "heavy").count();
        assert_eq!(
            heavy_running, 2,
            "two of three instances to the lane of weight 2"
        );
    }

    #[tokio::test]
    async fn a_waiter_that_is_dropped_leaves_nothing_behind() {
        let admission = Arc::new(Admission::new(1));
        let held = admission.enter("p", Lane::SHARED, SECOND).await.unwrap();
        let waiter = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.enter("p", Lane::SHARED, 60 * SECOND).await })
        };
        while admission.stats().waiting == 0 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(admission.stats().waiting, 0);
        drop(held);
        // The instance is free again, not lost to the dropped waiter.
        assert!(
            admission
                .enter("p", Lane::SHARED, Duration::from_millis(1))
                .await
                .is_ok()
        );
    }

    #[test]
    fn the_default_fits_the_machine() {
        let calls = default_concurrent_calls(64 << 20);
        assert!((64..=1024).contains(&calls));
    }
}
