//! Running a reconciler: workers take keys from a [`Queue`], reconcile
//! them one at a time per key, requeue on request or with back-off on
//! error, each in a `tracing` span naming the controller and the object.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument as _;

use super::queue::Queue;

/// An object a controller works on: its namespace (empty for cluster-scoped
/// kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// The namespace.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ObjectRef {
    /// `namespace/name`.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The key of a resource.
    pub fn of<R: berth_api::Resource>(obj: &R) -> Self {
        let m = obj.metadata();
        Self::new(&m.namespace, &m.name)
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// What to do after a successful reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the next change.
    Done,
    /// Look again after this long (time-based work: grace periods, timeouts).
    RequeueAfter(Duration),
}

/// A level-triggered, idempotent reconciler for one kind of key.
pub trait Reconciler: Send + Sync + 'static {
    /// Its error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The controller's name, for logs.
    fn name(&self) -> &'static str;

    /// Makes the world match what `key`'s object asks for.
    fn reconcile(
        &self,
        key: &ObjectRef,
    ) -> impl Future<Output = Result<Action, Self::Error>> + Send;
}

/// Runs `workers` workers over `queue` until it is closed.
pub async fn run<R: Reconciler>(reconciler: Arc<R>, queue: Queue<ObjectRef>, workers: usize) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let r = reconciler.clone();
        let q = queue.clone();
        set.spawn(async move {
            while let Some(key) = q.next().await {
                let span = tracing::info_span!(
                    "reconcile",
                    controller = r.name(),
                    namespace = %key.namespace,
                    name = %key.name
                );
                let result = r.reconcile(&key).instrument(span.clone()).await;
                match result {
                    Ok(Action::Done) => q.forget(&key),
                    Ok(Action::RequeueAfter(d)) => {
                        q.forget(&key);
                        q.add_after(key.clone(), d);
                    }
                    Err(e) => {
                        let delay = q.add_failed(key.clone());
                        span.in_scope(|| {
                            tracing::warn!(
                                error = %berth_api::error_chain(&e),
                                retry_in_ms = delay.as_millis() as u64,
                                "reconcile failed"
                            )
                        });
                    }
                }
                q.done(&key);
            }
        });
    }
    while set.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("flaky")]
    struct Flaky;

    struct Counting {
        running: AtomicUsize,
        overlaps: AtomicUsize,
        calls: AtomicUsize,
    }

    impl Reconciler for Counting {
        type Error = Flaky;

        fn name(&self) -> &'static str {
            "counting"
        }

        async fn reconcile(&self, _key: &ObjectRef) -> Result<Action, Flaky> {
            if self.running.fetch_add(1, Ordering::SeqCst) > 0 {
                self.overlaps.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            // Fails on the first two calls: retried with back-off.
            if self.calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(Flaky)
            } else {
                Ok(Action::Done)
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_key_is_never_reconciled_twice_at_once_and_errors_retry() {
        let r = Arc::new(Counting {
            running: AtomicUsize::new(0),
            overlaps: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        });
        let q = Queue::new();
        let runner = tokio::spawn(run(r.clone(), q.clone(), 4));
        let key = ObjectRef::new("default", "web");
        for _ in 0..50 {
            q.add(key.clone());
            tokio::time::sleep(Duration::from_micros(300)).await;
        }
        // The two failures come back after their back-off.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while r.calls.load(Ordering::SeqCst) < 3 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        q.close();
        runner.await.unwrap();
        assert!(r.calls.load(Ordering::SeqCst) >= 3);
        assert_eq!(r.overlaps.load(Ordering::SeqCst), 0);
    }
}
