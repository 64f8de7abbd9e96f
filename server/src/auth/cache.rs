//! A bounded memo with expiry, as pyaviso's Flask-Caching `simple` cache: successful answers
//! are kept for their timeout; failures are never kept.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Values by key until they expire; at most `capacity` of them (the expired go first, then
/// those closest to expiry). A capacity of 0 keeps nothing (`CACHE_TYPE: null`).
pub struct Memo<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> Memo<K, V> {
    pub fn new(capacity: usize) -> Memo<K, V> {
        Memo {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The value kept for `key`, unless it expired.
    pub fn get(&self, key: &K) -> Option<V> {
        if self.capacity == 0 {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(key) {
            Some((expires, value)) if *expires > Instant::now() => Some(value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `value` for `ttl`.
    pub fn insert(&self, key: K, value: V, ttl: Duration) {
        if self.capacity == 0 || ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (expires, _)| *expires > now);
            while entries.len() >= self.capacity {
                let Some(soonest) = entries
                    .iter()
                    .min_by_key(|(_, (expires, _))| *expires)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                entries.remove(&soonest);
            }
        }
        entries.insert(key, (now + ttl, value));
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_expire_and_the_size_is_bounded() {
        let memo = Memo::new(2);
        memo.insert("a", 1, Duration::from_secs(60));
        memo.insert("b", 2, Duration::from_secs(30));
        assert_eq!(memo.get(&"a"), Some(1));
        // Full: the one closest to expiry leaves.
        memo.insert("c", 3, Duration::from_secs(90));
        assert_eq!(memo.len(), 2);
        assert_eq!(memo.get(&"b"), None);
        assert_eq!(memo.get(&"c"), Some(3));
        memo.insert("d", 4, Duration::from_nanos(1));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(memo.get(&"d"), None);
    }

    #[test]
    fn a_null_cache_keeps_nothing() {
        let memo = Memo::new(0);
        memo.insert("a", 1, Duration::from_secs(60));
        assert_eq!(memo.get(&"a"), None);
        assert!(memo.is_empty());
    }
}
