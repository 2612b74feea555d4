//! The proxy's reconciler: per Service key, the Service and its slices
//! from the caches, translated and handed to the [`Programmer`]. Also what
//! it measures: the time from a change's arrival to its map update (logged)
//! and the revisions each key is programmed at (for
//! [`super::Proxy::wait_programmed`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use berth_api::{EndpointSlice, Service};
use berth_client::cache::Cache;
use berth_client::runtime::{Action, ObjectRef, Reconciler};
use berth_dataplane::{self as dp, Dataplane};
use tokio::sync::watch;

use super::error::ProxyError;
use super::sync::{Outcome, Programmer, SyncReport};
use super::translate::{NodeView, service_name, translate};

/// Store revisions of (Services, EndpointSlices) a key was programmed at.
pub(crate) type Revisions = (u64, u64);

/// When a change of a key first arrived and was not programmed yet.
pub(crate) type Arrivals = Arc<Mutex<HashMap<ObjectRef, Instant>>>;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the proxy's tasks share.
#[derive(Debug)]
pub(crate) struct Shared<D> {
    pub programmer: Mutex<Programmer<D>>,
    pub services: Cache<Service>,
    pub slices: Cache<EndpointSlice>,
    pub arrivals: Arrivals,
    /// Per key, and for every key (the start-up sync).
    pub programmed: Mutex<(Revisions, HashMap<ObjectRef, Revisions>)>,
    /// Bumped after every reconcile.
    pub bump: watch::Sender<u64>,
    /// This node, as translation needs it.
    pub node: NodeView,
}

impl<D: Dataplane> Shared<D> {
    /// The revisions `key` is programmed at.
    pub fn revisions(&self, key: &ObjectRef) -> Revisions {
        let g = lock(&self.programmed);
        let (all, per) = &*g;
        let k = per.get(key).copied().unwrap_or_default();
        (all.0.max(k.0), all.1.max(k.1))
    }

    fn cache_revisions(&self) -> Revisions {
        (self.services.revision(), self.slices.revision())
    }

    fn desired(&self, key: &ObjectRef) -> Option<dp::Service> {
        let svc = self.services.get(&key.namespace, &key.name)?;
        let slices = self.slices.list_namespace(&key.namespace);
        translate(&svc, slices.iter().map(|s| s.as_ref()), &self.node)
    }

    /// The start-up sync: every Service in the caches against what the
    /// data plane holds. Returns the keys to retry.
    pub fn sync_all(&self) -> Result<(SyncReport, Vec<ObjectRef>), ProxyError> {
        let revs = self.cache_revisions();
        let mut by_service: BTreeMap<(String, String), Vec<Arc<EndpointSlice>>> = BTreeMap::new();
        for s in self.slices.list() {
            if let Some(name) = s.service_name() {
                by_service
                    .entry((s.metadata.namespace.clone(), name.to_owned()))
                    .or_default()
                    .push(s.clone());
            }
        }
        let mut keys: HashMap<String, ObjectRef> = HashMap::new();
        let mut desired = Vec::new();
        for svc in self.services.list() {
            let m = &svc.metadata;
            let slices = by_service
                .get(&(m.namespace.clone(), m.name.clone()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            if let Some(d) = translate(&svc, slices.iter().map(|s| s.as_ref()), &self.node) {
                keys.insert(d.name.clone(), ObjectRef::of(svc.as_ref()));
                desired.push(d);
            }
        }
        let report = lock(&self.programmer).sync_all(desired)?;
        let retry = report
            .failed
            .iter()
            .filter_map(|(name, _)| keys.get(name).cloned())
            .collect();
        lock(&self.programmed).0 = revs;
        self.bump.send_modify(|n| *n += 1);
        Ok((report, retry))
    }
}

/// The Reconciler over [`Shared`].
#[derive(Debug)]
pub(crate) struct ProxyReconciler<D> {
    pub shared: Arc<Shared<D>>,
}

impl<D: Dataplane + Send + 'static> Reconciler for ProxyReconciler<D> {
    type Error = ProxyError;

    fn name(&self) -> &'static str {
        "service-proxy"
    }

    async fn reconcile(&self, key: &ObjectRef) -> Result<Action, ProxyError> {
        let s = &self.shared;
        // Read before the caches: what this reconcile sees is at least this.
        let revs = s.cache_revisions();
        let desired = s.desired(key);
        let frontends = desired.as_ref().map_or(0, |d| d.vips.len() * d.ports.len());
        let name = service_name(&key.namespace, &key.name);
        let outcome = lock(&s.programmer).sync(&name, desired)?;
        let arrived = lock(&s.arrivals).remove(key);
        if outcome != Outcome::Unchanged {
            let us = arrived.map(|t| t.elapsed().as_micros() as u64);
            tracing::info!(
                outcome = outcome.as_str(),
                frontends,
                event_to_map_us = us,
                "service"
            );
        }
        {
            let mut g = lock(&s.programmed);
            let e = g.1.entry(key.clone()).or_default();
            *e = (e.0.max(revs.0), e.1.max(revs.1));
        }
        s.bump.send_modify(|n| *n += 1);
        Ok(Action::Done)
    }
}
