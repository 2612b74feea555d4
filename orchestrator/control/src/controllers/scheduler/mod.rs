//! The scheduler: each pending Pod (no `nodeName`) is filtered against
//! every node and bound to the best-scoring one through the API's Bind
//! ([`fit`] has the rules); a Pod that fits nowhere gets
//! `PodScheduled=False` (reason `Unschedulable`) with kube-scheduler's
//! explanation, and a `FailedScheduling` Event, and is tried again when
//! nodes or pods change.
//!
//! One worker decides at a time, counting the pods it bound whose binding
//! the cache does not show yet ("assumed", as kube-scheduler has them).
//! As in kube-scheduler, the binding itself runs apart from the decision
//! (the next pod is placed while the last one's Bind is being written), so
//! that binds share the store's group commit instead of waiting for one
//! durable write each; a failed Bind forgets the assumption and queues the
//! pod again.

pub mod fit;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::meta::ConditionStatus;
use berth_api::pod::{PodCondition, PodPhase};
use berth_api::{Node, Pod, Time};
use berth_client::cache::{Cache, Reflector};

use super::events::Recorder;
use super::{Ctx, Error, error::api, names};
use crate::api::{POD_SCHEDULED, set_condition};
use crate::runtime::{Action, ObjectRef, Queue, Reconciler};
use fit::{NodeInfo, Request, Unfit};

/// How often an unschedulable pod is tried again without any change.
pub const RETRY_UNSCHEDULABLE: Duration = Duration::from_secs(30);

/// Whether the pod waits for a node.
pub fn is_pending(p: &Pod) -> bool {
    p.spec.node_name.is_empty()
        && !p.metadata.is_deleting()
        && !matches!(p.status.phase, PodPhase::Succeeded | PodPhase::Failed)
}

fn queue_pending(q: &Queue<ObjectRef>, pods: &Cache<Pod>) {
    for p in pods.filter(is_pending) {
        q.add(ObjectRef::of(p.as_ref()));
    }
}

/// Registers what queues a pod: itself while pending; every pending pod
/// when a node changes or a pod goes (room may have been made).
pub(super) fn watch(
    ctx: &Arc<Ctx>,
    queue: &Queue<ObjectRef>,
    pods: &mut Reflector<Pod>,
    nodes: &mut Reflector<Node>,
) {
    let q = queue.clone();
    let cache = ctx.pods.clone();
    pods.on_change(move |n| match &n.new {
        Some(p) if is_pending(p) => q.add(ObjectRef::of(p.as_ref())),
        Some(_) => {}
        None => queue_pending(&q, &cache),
    });
    let q = queue.clone();
    let cache = ctx.pods.clone();
    nodes.on_change(move |_| queue_pending(&q, &cache));
}

/// Schedules pods.
#[derive(Debug)]
pub struct Scheduler {
    ctx: Arc<Ctx>,
    events: Recorder,
    /// Pods bound (or being bound) by us that the cache does not show
    /// bound yet → node.
    assumed: Arc<Mutex<HashMap<ObjectRef, String>>>,
    /// Its own queue, to try a pod again after a failed Bind.
    queue: Queue<ObjectRef>,
    /// Binds in flight at most (the rest wait for one to finish).
    binds: Arc<tokio::sync::Semaphore>,
}

/// Binds written at once.
pub const MAX_BINDS_IN_FLIGHT: usize = 64;

impl Scheduler {
    /// Over `ctx`, fed by `queue`.
    pub fn new(ctx: Arc<Ctx>, queue: Queue<ObjectRef>) -> Self {
        let events = Recorder::new(ctx.client.clone(), "default-scheduler");
        Self {
            ctx,
            events,
            assumed: Arc::new(Mutex::new(HashMap::new())),
            queue,
            binds: Arc::new(tokio::sync::Semaphore::new(MAX_BINDS_IN_FLIGHT)),
        }
    }

    fn assumed(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef, String>> {
        self.assumed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every node with what is placed on it (bound pods and assumed ones).
    fn infos<'a>(&self, nodes: &'a [Arc<Node>]) -> BTreeMap<String, NodeInfo<'a>> {
        let mut infos: BTreeMap<String, NodeInfo<'a>> = nodes
            .iter()
            .map(|n| (n.metadata.name.clone(), NodeInfo::new(n)))
            .collect();
        let mut assumed = self.assumed();
        assumed.retain(|k, _| {
            self.ctx
                .pods
                .get(&k.namespace, &k.name)
                .is_some_and(|p| p.spec.node_name.is_empty())
        });
        // Read after the assumptions were dropped: a pod the cache showed
        // bound only then is counted by its nodeName here, not lost
        // between an older listing (unbound) and a dropped assumption.
        let pods = self
            .ctx
            .pods
            .filter(|p| !matches!(p.status.phase, PodPhase::Succeeded | PodPhase::Failed));
        for p in &pods {
            let node = if p.spec.node_name.is_empty() {
                match assumed.get(&ObjectRef::of(p.as_ref())) {
                    Some(n) => n.as_str(),
                    None => continue,
                }
            } else {
                p.spec.node_name.as_str()
            };
            if let Some(info) = infos.get_mut(node) {
                info.add(p);
            }
        }
        infos
    }

    async fn unschedulable(&self, pod: &Pod, message: String) -> Result<(), Error> {
        let same = pod.status.conditions.iter().any(|c| {
            c.type_ == POD_SCHEDULED && c.status == ConditionStatus::False && c.message == message
        });
        if same {
            return Ok(());
        }
        self.events
            .warning(pod, "FailedScheduling", message.clone());
        let mut updated = pod.clone();
        set_condition(
            &mut updated.status.conditions,
            PodCondition {
                type_: POD_SCHEDULED.into(),
                status: ConditionStatus::False,
                reason: "Unschedulable".into(),
                message,
                ..PodCondition::default()
            },
            Time::now(),
        );
        match self.ctx.client.update_status(&updated).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_conflict() || e.is_not_found() => Ok(()),
            Err(e) => Err(api(format!(
                "explaining why pod {}/{} is unschedulable",
                pod.metadata.namespace, pod.metadata.name
            ))(e)),
        }
    }
}

impl Reconciler for Scheduler {
    type Error = Error;

    fn name(&self) -> &'static str {
        "scheduler"
    }

    async fn reconcile(&self, key: &ObjectRef) -> Result<Action, Error> {
        let ctx = &self.ctx;
        ctx.synced().await;
        let Some(pod) = ctx.pods.get(&key.namespace, &key.name) else {
            self.assumed().remove(key);
            return Ok(Action::Done);
        };
        if !is_pending(&pod) || self.assumed().contains_key(key) {
            return Ok(Action::Done);
        }
        let nodes = ctx.nodes.list();
        let infos = self.infos(&nodes);
        let req = Request::of(&pod);
        let mut reasons: Vec<Unfit> = Vec::new();
        let mut fits: Vec<&NodeInfo<'_>> = Vec::new();
        for info in infos.values() {
            match fit::filter(&pod, req, info) {
                Ok(()) => fits.push(info),
                Err(r) => reasons.push(r),
            }
        }
        if fits.is_empty() {
            let message = fit::explain(nodes.len(), &reasons);
            tracing::info!(%message, "unschedulable");
            self.unschedulable(&pod, message).await?;
            return Ok(Action::RequeueAfter(RETRY_UNSCHEDULABLE));
        }
        let owner = pod.metadata.controller().map(|o| o.uid.clone());
        let max_same = owner
            .as_ref()
            .map(|uid| {
                fits.iter()
                    .map(|i| i.by_owner.get(uid).copied().unwrap_or(0))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        // The best score; ties broken at random.
        let mut best: Option<(i128, &str)> = None;
        let mut ties = 0u64;
        for info in &fits {
            let s = fit::score(&pod, req, info, max_same);
            let name = info.node.metadata.name.as_str();
            match best {
                Some((b, _)) if s < b => {}
                Some((b, _)) if s == b => {
                    ties += 1;
                    if names::random_u64().is_multiple_of(ties + 1) {
                        best = Some((s, name));
                    }
                }
                _ => {
                    best = Some((s, name));
                    ties = 0;
                }
            }
        }
        let Some((_, node)) = best else {
            return Ok(Action::Done);
        };
        let node = node.to_owned();
        let rv = pod.metadata.resource_version.parse().unwrap_or(0);
        self.assumed().insert(key.clone(), node.clone());
        let Ok(permit) = self.binds.clone().acquire_owned().await else {
            return Ok(Action::Done);
        };
        let (client, events, assumed, queue, key) = (
            ctx.client.clone(),
            self.events.clone(),
            self.assumed.clone(),
            self.queue.clone(),
            key.clone(),
        );
        tokio::spawn(async move {
            let _permit = permit;
            match client.bind(&key.namespace, &key.name, &node, rv).await {
                Ok(_) => events.normal(
                    pod.as_ref(),
                    "Scheduled",
                    format!("Successfully assigned {key} to {node}"),
                ),
                Err(e) => {
                    assumed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&key);
                    // Changed, bound or gone meanwhile: look again.
                    if !(e.is_conflict() || e.is_not_found()) {
                        tracing::warn!(pod = %key, %node, error = %e, "bind failed");
                    }
                    queue.add_after(key, Duration::from_millis(20));
                }
            }
        });
        Ok(Action::Done)
    }
}
