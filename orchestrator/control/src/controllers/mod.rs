//! The controllers and the scheduler, run inside `berth server` (as k3s
//! runs kube-controller-manager and kube-scheduler in its server): each a
//! level-triggered reconciler over caches fed by list + watch, talking to
//! the API through [`berth_client::Client`] like any other client.
//!
//! | controller | key | does |
//! | --- | --- | --- |
//! | [`deployment`] | Deployment | one ReplicaSet per template revision; rolling update within `maxSurge`/`maxUnavailable`, or Recreate; status |
//! | [`replicaset`] | ReplicaSet | creates and deletes Pods to match `replicas`; status |
//! | [`endpointslice`] | Service | EndpointSlices of the ready (and terminating) pods its selector matches |
//! | [`nodes`] | Node | pod CIDRs; heartbeat leases; NotReady, taints, eviction |
//! | [`scheduler`] | Pod | filter and score nodes, bind, or explain why not |
//!
//! Dependents whose owner is gone (ReplicaSets of a deleted Deployment,
//! Pods of a deleted ReplicaSet, slices of a deleted Service) are deleted
//! by their owner's controller when it finds the owner missing.

pub mod deployment;
pub mod endpointslice;
mod error;
pub mod events;
pub mod names;
pub mod nodes;
pub mod replicaset;
pub mod scheduler;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use berth_api::{Deployment, EndpointSlice, Lease, Node, Pod, ReplicaSet, Service};
use berth_client::Client;
use berth_client::cache::{Cache, Reflector};

pub use error::Error;
pub use settings::{Settings, SettingsError};

use crate::runtime::{self, ObjectRef, Queue};

/// How long a reconcile waits for its own write to show in a cache.
pub const OWN_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every controller shares: the client, the caches, the settings.
#[derive(Debug)]
pub struct Ctx {
    /// The API.
    pub client: Client,
    /// Pods, every namespace.
    pub pods: Cache<Pod>,
    /// Nodes.
    pub nodes: Cache<Node>,
    /// Deployments.
    pub deployments: Cache<Deployment>,
    /// ReplicaSets.
    pub replicasets: Cache<ReplicaSet>,
    /// Services.
    pub services: Cache<Service>,
    /// EndpointSlices.
    pub slices: Cache<EndpointSlice>,
    /// Node leases (`kube-node-lease`).
    pub leases: Cache<Lease>,
    /// Settings.
    pub settings: Settings,
}

impl Ctx {
    /// Waits until every cache has had its first list. Every reconcile
    /// starts with it: an object missing from a cache that has not listed
    /// yet is not gone, and acting on that (deleting its dependents) would
    /// be wrong.
    pub async fn synced(&self) {
        self.pods.synced().await;
        self.nodes.synced().await;
        self.deployments.synced().await;
        self.replicasets.synced().await;
        self.services.synced().await;
        self.slices.synced().await;
        self.leases.synced().await;
    }

    /// Waits until `cache` shows the revision of one of our own writes.
    pub async fn caught_up<R: berth_api::Resource>(
        cache: &Cache<R>,
        revision: u64,
    ) -> Result<(), Error> {
        if cache.wait_for(revision, OWN_WRITE_TIMEOUT).await {
            Ok(())
        } else {
            Err(Error::Lagging {
                kind: R::KIND.name(),
                revision,
            })
        }
    }
}

/// The revision of an object the API returned.
pub fn revision_of<R: berth_api::Resource>(obj: &R) -> u64 {
    obj.metadata().resource_version.parse().unwrap_or(0)
}

/// The controller owner's name, if it is of `kind`.
pub(crate) fn owner_named<'a, R: berth_api::Resource>(obj: &'a R, kind: &str) -> Option<&'a str> {
    obj.metadata()
        .controller()
        .filter(|o| o.kind == kind)
        .map(|o| o.name.as_str())
}

/// The controllers' work queues, readable from outside while they run:
/// how many reconciles each controller has ended, and whether all are
/// idle. A test that expects "nothing changed" after a restart waits for
/// this proof that every controller looked first. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    deployments: Queue<ObjectRef>,
    replicasets: Queue<ObjectRef>,
    services: Queue<ObjectRef>,
    nodes: Queue<ObjectRef>,
    scheduling: Queue<ObjectRef>,
}

impl Progress {
    /// Reconciles ended so far, per controller.
    pub fn done(&self) -> [(&'static str, u64); 5] {
        [
            ("deployment", self.deployments.done_count()),
            ("replicaset", self.replicasets.done_count()),
            ("endpointslice", self.services.done_count()),
            ("nodes", self.nodes.done_count()),
            ("scheduler", self.scheduling.done_count()),
        ]
    }

    /// Whether no key waits and none is being reconciled, in any queue.
    pub fn idle(&self) -> bool {
        self.queues().iter().all(|q| q.is_idle())
    }

    fn queues(&self) -> [&Queue<ObjectRef>; 5] {
        [
            &self.deployments,
            &self.replicasets,
            &self.services,
            &self.nodes,
            &self.scheduling,
        ]
    }
}

/// The running controllers.
#[derive(Debug)]
pub struct Controllers {
    reflectors: Vec<tokio::task::JoinHandle<()>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    queues: Vec<Queue<ObjectRef>>,
    ctx: Arc<Ctx>,
}

impl Controllers {
    /// Starts every controller and the scheduler on `client`.
    pub fn start(client: Client, settings: Settings) -> Self {
        Self::start_with(client, settings, Progress::default())
    }

    /// The same, on the queues of `progress` (fresh ones: a [`Progress`]
    /// serves one run), so that its holder can follow them.
    pub fn start_with(client: Client, settings: Settings, progress: Progress) -> Self {
        let q = progress;
        let mut pods = Reflector::<Pod>::new(client.clone(), "");
        let mut nodes = Reflector::<Node>::new(client.clone(), "");
        let mut deployments = Reflector::<Deployment>::new(client.clone(), "");
        let mut replicasets = Reflector::<ReplicaSet>::new(client.clone(), "");
        let mut services = Reflector::<Service>::new(client.clone(), "");
        let mut slices = Reflector::<EndpointSlice>::new(client.clone(), "");
        let mut leases =
            Reflector::<Lease>::new(client.clone(), berth_api::lease::NODE_LEASE_NAMESPACE);
        let ctx = Arc::new(Ctx {
            client: client.clone(),
            pods: pods.cache(),
            nodes: nodes.cache(),
            deployments: deployments.cache(),
            replicasets: replicasets.cache(),
            services: services.cache(),
            slices: slices.cache(),
            leases: leases.cache(),
            settings,
        });
        deployment::watch(
            &ctx,
            &q.deployments,
            &mut deployments,
            &mut replicasets,
            &mut pods,
        );
        replicaset::watch(
            &q.replicasets,
            &mut replicasets,
            &mut pods,
            &mut deployments,
        );
        endpointslice::watch(&ctx, &q.services, &mut services, &mut pods, &mut slices);
        nodes::watch(&q.nodes, &mut nodes, &mut leases, &mut pods);
        scheduler::watch(&ctx, &q.scheduling, &mut pods, &mut nodes);
        let reflectors = vec![
            pods.spawn(),
            nodes.spawn(),
            deployments.spawn(),
            replicasets.spawn(),
            services.spawn(),
            slices.spawn(),
            leases.spawn(),
        ];
        let w = ctx.settings.workers;
        let workers = vec![
            tokio::spawn(runtime::run(
                Arc::new(deployment::DeploymentController::new(ctx.clone())),
                q.deployments.clone(),
                w,
            )),
            tokio::spawn(runtime::run(
                Arc::new(replicaset::ReplicaSetController::new(ctx.clone())),
                q.replicasets.clone(),
                w,
            )),
            tokio::spawn(runtime::run(
                Arc::new(endpointslice::EndpointSliceController::new(ctx.clone())),
                q.services.clone(),
                w,
            )),
            tokio::spawn(runtime::run(
                Arc::new(nodes::NodeLifecycle::new(ctx.clone())),
                q.nodes.clone(),
                1,
            )),
            // One worker: each decision counts the pods bound before it.
            tokio::spawn(runtime::run(
                Arc::new(scheduler::Scheduler::new(ctx.clone(), q.scheduling.clone())),
                q.scheduling.clone(),
                1,
            )),
        ];
        Self {
            reflectors,
            workers,
            queues: q.queues().into_iter().cloned().collect(),
            ctx,
        }
    }

    /// The shared context (caches), for tests and status.
    pub fn ctx(&self) -> &Arc<Ctx> {
        &self.ctx
    }

    /// Stops: no new reconcile starts, those running finish, the watches end.
    pub async fn stop(self) {
        for q in &self.queues {
            q.close();
        }
        for w in self.workers {
            let _ = w.await;
        }
        for r in self.reflectors {
            r.abort();
        }
    }
}
