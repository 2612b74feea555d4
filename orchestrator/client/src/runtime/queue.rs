//! A work queue of object keys, as client-go's and kube-rs's: a key waits
//! at most once however often it is added, and is never handed to two
//! workers at once — added while it is being reconciled, it comes back
//! once that reconcile is done.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

struct State<K> {
    waiting: VecDeque<K>,
    queued: HashSet<K>,
    active: HashSet<K>,
    /// Added while active: queue again when done.
    dirty: HashSet<K>,
    /// Consecutive failures per key (for the back-off).
    failures: HashMap<K, u32>,
    /// Reconciles ended so far ([`Queue::done`] calls).
    done: u64,
    closed: bool,
}

/// A deduplicating, per-key exclusive work queue. Cheap to clone.
pub struct Queue<K> {
    state: Arc<Mutex<State<K>>>,
    ready: Arc<Notify>,
}

impl<K> Clone for Queue<K> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            ready: self.ready.clone(),
        }
    }
}

impl<K> std::fmt::Debug for Queue<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Queue { .. }")
    }
}

/// The first pause after a failed reconcile; doubled per failure.
pub const BACKOFF_MIN: Duration = Duration::from_millis(5);
/// The longest pause after failures.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

impl<K: Clone + Eq + Hash + Send + 'static> Default for Queue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Queue<K> {
    /// An empty queue.
    pub fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                waiting: VecDeque::new(),
                queued: HashSet::new(),
                active: HashSet::new(),
                dirty: HashSet::new(),
                failures: HashMap::new(),
                done: 0,
                closed: false,
            })),
            ready: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `key` (once, however often it is added before a worker takes it).
    pub fn add(&self, key: K) {
        let mut s = self.lock();
        if s.closed {
            return;
        }
        if s.active.contains(&key) {
            s.dirty.insert(key);
        } else if s.queued.insert(key.clone()) {
            s.waiting.push_back(key);
            drop(s);
            self.ready.notify_one();
        }
    }

    /// Queues `key` after `delay`.
    pub fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let q = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            q.add(key);
        });
    }

    /// Queues `key` after its back-off (doubling with each failure in a row).
    pub fn add_failed(&self, key: K) -> Duration {
        let n = {
            let mut s = self.lock();
            let n = s.failures.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        let delay = BACKOFF_MIN
            .saturating_mul(1u32 << (n - 1).min(20))
            .min(BACKOFF_MAX);
        self.add_after(key, delay);
        delay
    }

    /// Forgets `key`'s failures.
    pub fn forget(&self, key: &K) {
        self.lock().failures.remove(key);
    }

    /// The next key, marked active until [`Queue::done`]; `None` once closed.
    pub async fn next(&self) -> Option<K> {
        loop {
            let notified = self.ready.notified();
            {
                let mut s = self.lock();
                if s.closed {
                    return None;
                }
                if let Some(key) = s.waiting.pop_front() {
                    s.queued.remove(&key);
                    s.active.insert(key.clone());
                    let more = !s.waiting.is_empty();
                    drop(s);
                    if more {
                        self.ready.notify_one();
                    }
                    return Some(key);
                }
            }
            notified.await;
        }
    }

    /// Ends `key`'s reconcile; if it was added meanwhile, it is queued again.
    pub fn done(&self, key: &K) {
        let mut s = self.lock();
        s.done += 1;
        s.active.remove(key);
        if s.dirty.remove(key) && s.queued.insert(key.clone()) {
            s.waiting.push_back(key.clone());
            drop(s);
            self.ready.notify_one();
        }
    }

    /// Keys waiting (not counting active ones).
    pub fn len(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Whether no key waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reconciles ended so far: proof that a worker looked at the keys
    /// (a test that expects "nothing changed" waits for it first).
    pub fn done_count(&self) -> u64 {
        self.lock().done
    }

    /// Whether no key waits and none is being reconciled.
    pub fn is_idle(&self) -> bool {
        let s = self.lock();
        s.waiting.is_empty() && s.active.is_empty()
    }

    /// Stops handing out keys: every [`Queue::next`] returns `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dedups_and_never_hands_out_an_active_key_twice() {
        let q = Queue::new();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        let a = q.next().await.unwrap();
        assert_eq!(a, "a");
        // Added while active: not handed out until done.
        q.add("a");
        assert_eq!(q.next().await.unwrap(), "b");
        assert!(q.is_empty());
        q.done(&"b");
        assert!(!q.is_idle());
        q.done(&"a");
        assert_eq!(q.next().await.unwrap(), "a");
        q.done(&"a");
        assert!(q.is_empty());
        assert!(q.is_idle());
        assert_eq!(q.done_count(), 3);
    }

    #[tokio::test]
    async fn backoff_doubles_and_forget_resets() {
        let q: Queue<&str> = Queue::new();
        assert_eq!(q.add_failed("a"), BACKOFF_MIN);
        assert_eq!(q.add_failed("a"), BACKOFF_MIN * 2);
        assert_eq!(q.add_failed("a"), BACKOFF_MIN * 4);
        q.forget(&"a");
        assert_eq!(q.add_failed("a"), BACKOFF_MIN);
        for _ in 0..40 {
            q.add_failed("b");
        }
        assert_eq!(q.add_failed("b"), BACKOFF_MAX);
    }

    #[tokio::test]
    async fn close_wakes_workers() {
        let q: Queue<u32> = Queue::new();
        let q2 = q.clone();
        let w = tokio::spawn(async move { q2.next().await });
        tokio::task::yield_now().await;
        q.close();
        assert_eq!(w.await.unwrap(), None);
    }
}
