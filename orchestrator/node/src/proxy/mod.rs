//! The service proxy: our kube-proxy. It follows Services and
//! EndpointSlices (every namespace, list + watch caches) and programs the
//! node's eBPF socket load balancer through the [`Dataplane`] trait.
//!
//! - [`translate`]: a Service and its slices → one
//!   [`berth_dataplane::Service`] named `<namespace>/<name>`: the cluster
//!   IPs (dual-stack; headless, ExternalName and unallocated Services have
//!   none and are not programmed) as VIPs, per TCP/UDP port the ready, not
//!   terminating endpoints of the slices labelled
//!   `kubernetes.io/service-name=<name>` on the port each slice resolved
//!   for that port's name.
//! - [`Programmer`]: applies one service at a time and remembers what it
//!   applied: an unchanged service writes nothing, a change rewrites only
//!   that service's frontends (and within them only what changed), a
//!   deleted Service's frontends go.
//! - [`Proxy`]: the caches, a work queue keyed by Service, and the
//!   reconciler. At start, once both caches have listed, one sync of
//!   everything against what the maps already hold (pinned maps survive an
//!   agent restart): stale services go, unchanged frontends stay as they
//!   are, so traffic never blips; then one change at a time.
//! - [`kernel::attach`]: loads and attaches the eBPF data plane, adopting
//!   pinned maps and links.
//!
//! Each change logs `event_to_map_us`, the time from its arrival on the
//! watch to its map update; [`Proxy::wait_programmed`] lets a benchmark
//! time from its own write to the map update.

mod error;
#[cfg(test)]
mod exposure_tests;
#[cfg(test)]
mod fixtures;
pub mod kernel;
mod reconciler;
mod sync;
pub mod translate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_api::{EndpointSlice, Kind, Service};
use berth_client::Client;
use berth_client::cache::Reflector;
use berth_client::runtime::{self, ObjectRef, Queue};
use berth_dataplane::Dataplane;
use tokio::sync::watch;

pub use error::ProxyError;
pub use kernel::DataplaneSettings;
pub use sync::{Outcome, Programmer, SyncReport};
pub use translate::{NodeView, translate};

use reconciler::{ProxyReconciler, Shared, lock};

/// Pause before retrying a failed start-up sync (doubling up to 5 s).
const RETRY_MIN: Duration = Duration::from_millis(200);

/// The running proxy.
#[derive(Debug)]
pub struct Proxy<D> {
    shared: Arc<Shared<D>>,
    queue: Queue<ObjectRef>,
    reflectors: Vec<tokio::task::JoinHandle<()>>,
    main: tokio::task::JoinHandle<()>,
    ready: watch::Receiver<bool>,
}

impl<D: Dataplane + Send + 'static> Proxy<D> {
    /// Starts following the API with `client` and programming `dataplane`
    /// (which may hold pinned state from before: nothing is written until
    /// the caches have listed). Needs a tokio runtime.
    /// `node` says which endpoints are local and where node ports are
    /// served.
    pub fn start(client: Client, dataplane: D, node: NodeView) -> Self {
        let queue: Queue<ObjectRef> = Queue::new();
        let arrivals: reconciler::Arrivals = Arc::new(Mutex::new(HashMap::new()));
        let mut services = Reflector::<Service>::new(client.clone(), "");
        let mut slices = Reflector::<EndpointSlice>::new(client, "");
        let (q, a) = (queue.clone(), arrivals.clone());
        services.on_change(move |n| {
            let key = ObjectRef::of(n.object().as_ref());
            lock(&a).entry(key.clone()).or_insert_with(Instant::now);
            q.add(key);
        });
        let (q, a) = (queue.clone(), arrivals.clone());
        slices.on_change(move |n| {
            // The old label too: a slice moved to another Service leaves
            // the first one.
            for s in [&n.old, &n.new].into_iter().flatten() {
                if let Some(svc) = s.service_name() {
                    let key = ObjectRef::new(&s.metadata.namespace, svc);
                    lock(&a).entry(key.clone()).or_insert_with(Instant::now);
                    q.add(key);
                }
            }
        });
        let shared = Arc::new(Shared {
            programmer: Mutex::new(Programmer::new(dataplane)),
            services: services.cache(),
            slices: slices.cache(),
            arrivals,
            programmed: Mutex::new(Default::default()),
            bump: watch::channel(0).0,
            node,
        });
        let reflectors = vec![services.spawn(), slices.spawn()];
        let (ready_tx, ready) = watch::channel(false);
        let (s, q) = (shared.clone(), queue.clone());
        let main = tokio::spawn(async move {
            s.services.synced().await;
            s.slices.synced().await;
            let mut pause = RETRY_MIN;
            loop {
                let t = Instant::now();
                match s.sync_all() {
                    Ok((report, retry)) => {
                        for (name, e) in &report.failed {
                            tracing::warn!(service = %name, error = %berth_api::error_chain(e), "not programmed; retrying");
                        }
                        for key in retry {
                            q.add_failed(key);
                        }
                        tracing::info!(
                            services = report.services,
                            ms = t.elapsed().as_secs_f64() * 1e3,
                            "service proxy synced"
                        );
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %berth_api::error_chain(&e), "start-up sync failed; retrying");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(5));
                    }
                }
            }
            ready_tx.send_replace(true);
            // One worker: map updates are serialised by the data plane
            // anyway, and one key's reconcile is microseconds.
            runtime::run(Arc::new(ProxyReconciler { shared: s }), q, 1).await;
        });
        Self {
            shared,
            queue,
            reflectors,
            main,
            ready,
        }
    }

    /// Waits until the start-up sync is done.
    pub async fn ready(&self) {
        let mut rx = self.ready.clone();
        let _ = rx.wait_for(|r| *r).await;
    }

    /// Whether the start-up sync is done.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Runs `f` on the data plane (between two reconciles).
    pub fn with_dataplane<T>(&self, f: impl FnOnce(&D) -> T) -> T {
        f(lock(&self.shared.programmer).dataplane())
    }

    /// Waits until the Service `namespace/name` is programmed as of the
    /// store revision `revision` of `kind` (a Service or EndpointSlice
    /// write's resourceVersion); the time it took, or `None` after
    /// `timeout`.
    pub async fn wait_programmed(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        revision: u64,
        timeout: Duration,
    ) -> Option<Duration> {
        let t = Instant::now();
        let key = ObjectRef::new(namespace, name);
        let mut rx = self.shared.bump.subscribe();
        let done = |r: reconciler::Revisions| match kind {
            Kind::EndpointSlice => r.1 >= revision,
            _ => r.0 >= revision,
        };
        let wait = async {
            loop {
                if done(self.shared.revisions(&key)) {
                    return;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()?;
        Some(t.elapsed())
    }

    /// Stops following the API and gives the data plane back (its kernel
    /// state, pinned, keeps serving).
    pub async fn stop(self) -> D {
        self.queue.close();
        for r in &self.reflectors {
            r.abort();
        }
        if !*self.ready.borrow() {
            self.main.abort();
        }
        let _ = self.main.await;
        for r in self.reflectors {
            let _ = r.await;
        }
        // An aborted task drops what it holds a moment after it ends.
        let mut shared = self.shared;
        let mut tries = 0;
        loop {
            match Arc::try_unwrap(shared) {
                Ok(s) => {
                    return s
                        .programmer
                        .into_inner()
                        .unwrap_or_else(|p| p.into_inner())
                        .into_dataplane();
                }
                Err(back) if tries < 1000 => {
                    shared = back;
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(_) => panic!("a task of the stopped proxy still holds the data plane"),
            }
        }
    }
}
