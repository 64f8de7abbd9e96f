//! Admission to the sandbox: a bounded queue in front of the instance pool. A call waits for a
//! free instance (at most its own time limit) instead of failing because the pool is full, so a
//! burst of slow triggers runs in full, each call exactly once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
}

/// The queue: one permit per pool instance.
pub(super) struct Admission {
    permits: Arc<Semaphore>,
    capacity: usize,
    admitted: AtomicU64,
    waited: AtomicU64,
    waited_nanos: AtomicU64,
    gave_up: AtomicU64,
}

/// No instance became free within the call's time limit.
#[derive(Debug, Clone, Copy)]
pub(super) struct NoFreeInstance {
    pub waited: Duration,
}

impl Admission {
    pub fn new(capacity: usize) -> Admission {
        Admission {
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
            admitted: AtomicU64::new(0),
            waited: AtomicU64::new(0),
            waited_nanos: AtomicU64::new(0),
            gave_up: AtomicU64::new(0),
        }
    }

    /// Waits (at most `patience`) for a free instance; the permit gives it back when dropped.
    pub async fn enter(
        &self,
        plugin: &str,
        patience: Duration,
    ) -> Result<OwnedSemaphorePermit, NoFreeInstance> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            self.admitted.fetch_add(1, Ordering::Relaxed);
            return Ok(permit);
        }
        let since = Instant::now();
        tracing::debug!(
            "Plugin {plugin}: all {} sandboxes busy, waiting for one",
            self.capacity
        );
        let outcome = tokio::time::timeout(patience, self.permits.clone().acquire_owned()).await;
        let waited = since.elapsed();
        match outcome {
            Ok(Ok(permit)) => {
                self.admitted.fetch_add(1, Ordering::Relaxed);
                self.waited.fetch_add(1, Ordering::Relaxed);
                self.waited_nanos.fetch_add(
                    u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
                tracing::debug!("Plugin {plugin}: waited {waited:?} for a free sandbox");
                Ok(permit)
            }
            // The semaphore is never closed; treat it like a timeout all the same.
            Ok(Err(_)) | Err(_) => {
                self.gave_up.fetch_add(1, Ordering::Relaxed);
                Err(NoFreeInstance { waited })
            }
        }
    }

    pub fn stats(&self) -> AdmissionStats {
        AdmissionStats {
            capacity: self.capacity,
            admitted: self.admitted.load(Ordering::Relaxed),
            waited: self.waited.load(Ordering::Relaxed),
            waited_total: Duration::from_nanos(self.waited_nanos.load(Ordering::Relaxed)),
            gave_up: self.gave_up.load(Ordering::Relaxed),
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

    #[tokio::test]
    async fn a_call_waits_for_a_free_instance_and_is_counted() {
        let admission = Arc::new(Admission::new(1));
        let first = admission.enter("p", Duration::from_secs(1)).await.unwrap();
        let waiting = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.enter("p", Duration::from_secs(60)).await })
        };
        tokio::task::yield_now().await;
        drop(first);
        assert!(waiting.await.unwrap().is_ok());
        let stats = admission.stats();
        assert_eq!((stats.admitted, stats.waited, stats.gave_up), (2, 1, 0));
    }

    #[tokio::test]
    async fn a_call_gives_up_after_its_patience() {
        let admission = Admission::new(1);
        let _held = admission.enter("p", Duration::from_secs(1)).await.unwrap();
        let refused = admission.enter("p", Duration::from_millis(20)).await;
        assert!(refused.is_err());
        assert_eq!(admission.stats().gave_up, 1);
    }

    #[test]
    fn the_default_fits_the_machine() {
        let calls = default_concurrent_calls(64 << 20);
        assert!((64..=1024).contains(&calls));
    }
}
