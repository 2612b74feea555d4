//! Local caches fed by list + watch (what kube-rs calls a reflector).
//!
//! A [`Reflector`] lists a kind, then watches it from the list's revision,
//! applying every change to its [`Cache`] and telling its handlers (which
//! map changes to work-queue keys). A dropped watch resumes from the last
//! revision seen; a compacted one ("too old") lists again and reports the
//! difference as changes. The cache's revision lets a writer wait until its
//! own write is visible ([`Cache::wait_for`]).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use berth_api::{Object, Resource};
use tokio::sync::watch;
use tokio_stream::StreamExt as _;

use crate::typed::{Change, Client};

/// `(namespace, name)`; the namespace is empty for cluster-scoped kinds.
pub type CacheKey = (String, String);

/// A change as handlers see it: the old state (if it existed) and the new
/// one (`None`: deleted).
#[derive(Debug)]
pub struct Notification<R> {
    /// Before.
    pub old: Option<Arc<R>>,
    /// After; `None` when deleted.
    pub new: Option<Arc<R>>,
}

impl<R> Notification<R> {
    /// The object as it is now, or as it was when deleted.
    pub fn object(&self) -> &Arc<R> {
        match (&self.new, &self.old) {
            (Some(n), _) => n,
            (None, Some(o)) => o,
            // Every notification has at least one side.
            (None, None) => unreachable!("a notification without an object"),
        }
    }
}

/// Called for every change, on the reflector's task: must not block.
pub type Handler<R> = Arc<dyn Fn(&Notification<R>) + Send + Sync>;

struct Inner<R> {
    objects: RwLock<BTreeMap<CacheKey, Arc<R>>>,
    revision: watch::Sender<u64>,
    synced: watch::Sender<bool>,
}

/// The objects of one kind as last seen. Cheap to clone.
pub struct Cache<R> {
    inner: Arc<Inner<R>>,
}

impl<R> Clone for Cache<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<R> std::fmt::Debug for Cache<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("revision", &*self.inner.revision.borrow())
            .finish_non_exhaustive()
    }
}

impl<R: Resource> Default for Cache<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Resource> Cache<R> {
    /// An empty, unsynced cache.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                objects: RwLock::new(BTreeMap::new()),
                revision: watch::channel(0).0,
                synced: watch::channel(false).0,
            }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<CacheKey, Arc<R>>> {
        self.inner
            .objects
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<CacheKey, Arc<R>>> {
        self.inner
            .objects
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The object `namespace/name`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<R>> {
        self.read()
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Every object.
    pub fn list(&self) -> Vec<Arc<R>> {
        self.read().values().cloned().collect()
    }

    /// Every object in `namespace`.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<R>> {
        let from = (namespace.to_owned(), String::new());
        self.read()
            .range(from..)
            .take_while(|((ns, _), _)| ns == namespace)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every object for which `pred` holds.
    pub fn filter(&self, mut pred: impl FnMut(&R) -> bool) -> Vec<Arc<R>> {
        self.read().values().filter(|o| pred(o)).cloned().collect()
    }

    /// How many objects there are.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The store revision the cache reflects.
    pub fn revision(&self) -> u64 {
        *self.inner.revision.borrow()
    }

    /// Whether the first list has been applied.
    pub fn is_synced(&self) -> bool {
        *self.inner.synced.borrow()
    }

    /// Waits until the first list has been applied.
    pub async fn synced(&self) {
        let mut rx = self.inner.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Waits until the cache reflects `revision` (e.g. the revision of one
    /// of our own writes to this kind); `false` if `timeout` passed first.
    pub async fn wait_for(&self, revision: u64, timeout: Duration) -> bool {
        let mut rx = self.inner.revision.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r >= revision))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn key_of(obj: &R) -> CacheKey {
        let m = obj.metadata();
        (m.namespace.clone(), m.name.clone())
    }

    /// Applies a change; returns what handlers are told.
    fn apply(&self, change: Change<R>) -> Notification<R> {
        match change {
            Change::Applied(obj) => {
                let new = Arc::new(obj);
                let old = self.write().insert(Self::key_of(&new), new.clone());
                Notification {
                    old,
                    new: Some(new),
                }
            }
            Change::Deleted(obj) => {
                let old = self.write().remove(&Self::key_of(&obj));
                Notification {
                    old: old.or_else(|| Some(Arc::new(obj))),
                    new: None,
                }
            }
        }
    }

    /// Replaces everything with `items`; returns the differences.
    fn replace(&self, items: Vec<R>) -> Vec<Notification<R>> {
        let fresh: BTreeMap<CacheKey, Arc<R>> = items
            .into_iter()
            .map(|o| (Self::key_of(&o), Arc::new(o)))
            .collect();
        let old = std::mem::replace(&mut *self.write(), fresh.clone());
        let mut out = Vec::new();
        for (k, new) in &fresh {
            let before = old.get(k).cloned();
            if before
                .as_ref()
                .map(|b| b.metadata().resource_version.as_str())
                != Some(new.metadata().resource_version.as_str())
            {
                out.push(Notification {
                    old: before,
                    new: Some(new.clone()),
                });
            }
        }
        for (k, gone) in old {
            if !fresh.contains_key(&k) {
                out.push(Notification {
                    old: Some(gone),
                    new: None,
                });
            }
        }
        out
    }

    fn advance(&self, revision: u64) {
        self.inner.revision.send_if_modified(|r| {
            let moved = revision > *r;
            if moved {
                *r = revision;
            }
            moved
        });
    }
}

/// Keeps a [`Cache`] of one kind up to date from list + watch.
pub struct Reflector<R> {
    client: Client,
    namespace: String,
    cache: Cache<R>,
    handlers: Vec<Handler<R>>,
}

impl<R> std::fmt::Debug for Reflector<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reflector")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// Pause before retrying a failed list or watch (doubling up to
/// [`RETRY_MAX`]).
pub const RETRY_MIN: Duration = Duration::from_millis(50);
/// The longest pause between retries.
pub const RETRY_MAX: Duration = Duration::from_secs(5);

impl<R: Resource + TryFrom<Object>> Reflector<R> {
    /// Reflects the kind in `namespace` (every namespace when empty).
    pub fn new(client: Client, namespace: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
            cache: Cache::new(),
            handlers: Vec::new(),
        }
    }

    /// The cache it fills.
    pub fn cache(&self) -> Cache<R> {
        self.cache.clone()
    }

    /// Adds a handler, called after each change is applied.
    pub fn on_change(&mut self, handler: impl Fn(&Notification<R>) + Send + Sync + 'static) {
        self.handlers.push(Arc::new(handler));
    }

    fn tell(&self, n: &Notification<R>) {
        for h in &self.handlers {
            h(n);
        }
    }

    /// Runs until the task is aborted.
    pub async fn run(self) {
        let kind = R::KIND;
        let mut revision: Option<u64> = None;
        let mut pause = RETRY_MIN;
        loop {
            let from = match revision {
                Some(r) => r,
                None => match self.client.list::<R>(&self.namespace, "").await {
                    Ok(list) => {
                        for n in self.cache.replace(list.items) {
                            self.tell(&n);
                        }
                        self.cache.advance(list.resource_version);
                        self.cache.inner.synced.send_replace(true);
                        revision = Some(list.resource_version);
                        list.resource_version
                    }
                    Err(e) => {
                        tracing::warn!(%kind, error = %e, "list failed; retrying");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(RETRY_MAX);
                        continue;
                    }
                },
            };
            match self.client.watch::<R>(&self.namespace, from).await {
                Ok(mut stream) => {
                    while let Some(ev) = stream.next().await {
                        match ev {
                            Ok((change, rev)) => {
                                let n = self.cache.apply(change);
                                self.cache.advance(rev);
                                revision = Some(rev);
                                pause = RETRY_MIN;
                                self.tell(&n);
                            }
                            Err(e) if e.is_too_old() => {
                                tracing::info!(%kind, "watch too old; listing again");
                                revision = None;
                                break;
                            }
                            Err(e) => {
                                tracing::warn!(%kind, error = %e, "watch broke; resuming");
                                break;
                            }
                        }
                    }
                }
                Err(e) if e.is_too_old() => revision = None,
                Err(e) => tracing::warn!(%kind, error = %e, "watch failed; retrying"),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_MAX);
        }
    }

    /// Starts [`Reflector::run`] on the current runtime.
    pub fn spawn(self) -> tokio::task::JoinHandle<()>
    where
        R: Send + Sync,
    {
        tokio::spawn(self.run())
    }
}

#[cfg(test)]
mod tests {
    use berth_api::Pod;

    use super::*;

    fn pod(ns: &str, name: &str, rv: u64) -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = ns.into();
        p.metadata.name = name.into();
        p.metadata.resource_version = rv.to_string();
        p
    }

    #[test]
    fn apply_replace_and_namespaces() {
        let c = Cache::<Pod>::new();
        let n = c.apply(Change::Applied(pod("a", "x", 1)));
        assert!(n.old.is_none() && n.new.is_some());
        c.apply(Change::Applied(pod("b", "y", 2)));
        c.apply(Change::Applied(pod("a", "z", 3)));
        let names: Vec<_> = c
            .list_namespace("a")
            .iter()
            .map(|p| p.metadata.name.clone())
            .collect();
        assert_eq!(names, ["x", "z"]);
        let n = c.apply(Change::Deleted(pod("a", "x", 4)));
        assert!(n.new.is_none() && n.old.is_some());
        // A relist: y unchanged, z changed, w new, (x already gone).
        let diff = c.replace(vec![pod("b", "y", 2), pod("a", "z", 5), pod("a", "w", 6)]);
        let mut seen: Vec<_> = diff
            .iter()
            .map(|n| (n.object().metadata.name.clone(), n.new.is_some()))
            .collect();
        seen.sort();
        assert_eq!(seen, [("w".into(), true), ("z".into(), true)]);
        assert_eq!(c.len(), 3);
    }

    #[tokio::test]
    async fn wait_for_revision() {
        let c = Cache::<Pod>::new();
        assert!(!c.wait_for(5, Duration::from_millis(10)).await);
        let c2 = c.clone();
        let t = tokio::spawn(async move { c2.wait_for(5, Duration::from_secs(20)).await });
        c.advance(4);
        c.advance(5);
        assert!(t.await.unwrap());
        assert_eq!(c.revision(), 5);
    }
}
