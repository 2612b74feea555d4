//! Node lifecycle, as kube-controller-manager's node IPAM and lifecycle
//! controllers do it:
//!
//! - **Pod CIDRs**: a node without `spec.podCIDRs` gets the first free block
//!   of each cluster CIDR (a /24 of 10.244.0.0/16 and a /64 of
//!   fd00:10:244::/56 by default). The Node objects are the record, so a
//!   restarted server never hands a block out twice.
//! - **Heartbeats**: the agent renews its Lease in `kube-node-lease`; a node
//!   whose lease was not renewed within `node_monitor_grace_period` (as
//!   seen on this server's clock) becomes `Ready=Unknown`, is tainted
//!   `node.kubernetes.io/unreachable:NoExecute`, and its pods are marked not
//!   ready (so they leave every Service's endpoints). A node that reports
//!   `Ready=False` itself is tainted `node.kubernetes.io/not-ready`.
//! - **Eviction**: pods on a node tainted so are deleted once the taint is
//!   older than their toleration for it (`tolerationSeconds`) or, without
//!   one, `pod_eviction_timeout`, so that their controllers recreate them on
//!   other nodes. On an unreachable node nothing can stop them gracefully:
//!   they are deleted at once (grace 0); the agent, if it comes back,
//!   removes what it still runs.
//! - **Recovery**: a renewed lease and `Ready=True` remove the taints.
//! - Pods bound to a Node that no longer exists are deleted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::lease::NODE_LEASE_NAMESPACE;
use berth_api::meta::ConditionStatus;
use berth_api::node::NodeCondition;
use berth_api::pod::PodCondition;
use berth_api::{Kind, Lease, Node, Pod, Taint, TaintEffect, Time};
use berth_client::DeleteOptions;
use berth_client::cache::Reflector;
use ipnet::IpNet;
use tokio::time::Instant;

use super::events::Recorder;
use super::{Ctx, Error, error::api, revision_of};
use crate::api::set_condition;
use crate::runtime::{Action, ObjectRef, Queue, Reconciler};

/// The taint of a node whose agent stopped renewing its lease.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The taint of a node whose agent reports it not ready.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";

/// Registers what queues a Node: itself, its lease.
pub(super) fn watch(
    queue: &Queue<ObjectRef>,
    nodes: &mut Reflector<Node>,
    leases: &mut Reflector<Lease>,
    _pods: &mut Reflector<Pod>,
) {
    let q = queue.clone();
    nodes.on_change(move |n| q.add(ObjectRef::new("", &n.object().metadata.name)));
    let q = queue.clone();
    leases.on_change(move |n| q.add(ObjectRef::new("", &n.object().metadata.name)));
}

/// When this server last saw a node's lease change.
#[derive(Debug, Clone)]
struct Heartbeat {
    lease_version: String,
    seen: Instant,
}

/// Reconciles Nodes.
#[derive(Debug)]
pub struct NodeLifecycle {
    ctx: Arc<Ctx>,
    events: Recorder,
    heartbeats: Mutex<HashMap<String, Heartbeat>>,
}

impl NodeLifecycle {
    /// Over `ctx`.
    pub fn new(ctx: Arc<Ctx>) -> Self {
        let events = Recorder::new(ctx.client.clone(), "node-controller");
        Self {
            ctx,
            events,
            heartbeats: Mutex::new(HashMap::new()),
        }
    }

    /// How long ago the node's lease last changed (first sight counts).
    fn silent_for(&self, name: &str) -> Duration {
        let version = self
            .ctx
            .leases
            .get(NODE_LEASE_NAMESPACE, name)
            .map(|l| l.metadata.resource_version.clone())
            .unwrap_or_default();
        let mut hb = self.heartbeats.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let entry = hb.entry(name.to_owned()).or_insert_with(|| Heartbeat {
            lease_version: version.clone(),
            seen: now,
        });
        if entry.lease_version != version {
            entry.lease_version = version;
            entry.seen = now;
        }
        now.saturating_duration_since(entry.seen)
    }
}

/// The first block of `mask` bits in `cluster` that none of `used` overlaps.
pub fn free_block(cluster: IpNet, mask: u8, used: &[IpNet]) -> Option<IpNet> {
    let subnets = cluster.subnets(mask).ok()?;
    subnets.into_iter().find(|b| {
        !used
            .iter()
            .any(|u| u.contains(&b.network()) || b.contains(&u.network()))
    })
}

fn ready_status(node: &Node) -> ConditionStatus {
    node.status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status)
        .unwrap_or(ConditionStatus::Unknown)
}

/// The taints the node should have from its health, given its others.
fn health_taints(node: &Node, unreachable: bool, now: Time) -> Vec<Taint> {
    let mut out: Vec<Taint> = node
        .spec
        .taints
        .iter()
        .filter(|t| t.key != TAINT_UNREACHABLE && t.key != TAINT_NOT_READY)
        .cloned()
        .collect();
    let key = if unreachable {
        Some(TAINT_UNREACHABLE)
    } else if ready_status(node) == ConditionStatus::False {
        Some(TAINT_NOT_READY)
    } else {
        None
    };
    if let Some(key) = key {
        for effect in [TaintEffect::NoSchedule, TaintEffect::NoExecute] {
            let since = node
                .spec
                .taints
                .iter()
                .find(|t| t.key == key && t.effect == effect)
                .and_then(|t| t.time_added)
                .unwrap_or(now.truncated());
            out.push(Taint {
                key: key.into(),
                value: String::new(),
                effect,
                time_added: Some(since),
            });
        }
    }
    out
}

/// When a pod on a node with `taint` (NoExecute) must go: `None` if it
/// tolerates it forever.
pub fn eviction_due(pod: &Pod, taint: &Taint, default: Duration) -> Option<Time> {
    let since = taint.time_added.unwrap_or_default().unix_seconds();
    let tol = pod.spec.tolerations.iter().find(|t| t.tolerates(taint));
    let secs = match tol {
        Some(t) => t.toleration_seconds?.max(0),
        None => default.as_secs() as i64,
    };
    Some(Time::from_unix(since + secs, 0))
}

impl NodeLifecycle {
    async fn assign_cidrs(&self, node: &Node) -> Result<Option<Node>, Error> {
        if !node.spec.pod_cidrs.is_empty() {
            return Ok(None);
        }
        let used: Vec<IpNet> = self
            .ctx
            .nodes
            .list()
            .iter()
            .flat_map(|n| n.spec.pod_cidrs.clone())
            .filter_map(|c| c.parse().ok())
            .collect();
        let s = &self.ctx.settings;
        let mut cidrs = Vec::new();
        for cluster in &s.cluster_cidrs {
            let mask = match cluster.addr() {
                IpAddr::V4(_) => s.node_cidr_mask_v4,
                IpAddr::V6(_) => s.node_cidr_mask_v6,
            };
            match free_block(*cluster, mask, &used) {
                Some(b) => cidrs.push(b.to_string()),
                None => {
                    self.events.warning(
                        node,
                        "CIDRNotAvailable",
                        format!(
                            "Node {} status is now: CIDRNotAvailable ({cluster} is full)",
                            node.metadata.name
                        ),
                    );
                    return Err(Error::Invalid {
                        object: format!("node {}", node.metadata.name),
                        reason: format!("no free /{mask} left in {cluster}"),
                    });
                }
            }
        }
        let mut updated = node.clone();
        updated.spec.pod_cidr = cidrs[0].clone();
        updated.spec.pod_cidrs = cidrs.clone();
        let done = self.ctx.client.update(&updated).await.map_err(api(format!(
            "assigning pod CIDRs to node {}",
            node.metadata.name
        )))?;
        Ctx::caught_up(&self.ctx.nodes, revision_of(&done)).await?;
        self.events.normal(
            &done,
            "CIDRAssigned",
            format!(
                "Assigned pod CIDRs {} to node {}",
                cidrs.join(","),
                node.metadata.name
            ),
        );
        Ok(Some(done))
    }

    async fn delete_pod(&self, p: &Pod, grace: Option<i64>) -> Result<(), Error> {
        let (ns, name) = (&p.metadata.namespace, &p.metadata.name);
        match self
            .ctx
            .client
            .delete(
                Kind::Pod,
                ns,
                name,
                DeleteOptions {
                    resource_version: 0,
                    grace_period_seconds: grace,
                },
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(api(format!("deleting pod {ns}/{name}"))(e)),
        }
    }

    async fn mark_pods_not_ready(&self, pods: &[Arc<Pod>]) -> Result<(), Error> {
        for p in pods.iter().filter(|p| p.is_ready()) {
            let mut updated = (**p).clone();
            set_condition(
                &mut updated.status.conditions,
                PodCondition {
                    type_: "Ready".into(),
                    status: ConditionStatus::False,
                    reason: "NodeNotReady".into(),
                    message: "the node's agent stopped renewing its lease".into(),
                    ..PodCondition::default()
                },
                Time::now(),
            );
            match self.ctx.client.update_status(&updated).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    return Err(api(format!(
                        "marking pod {}/{} not ready",
                        p.metadata.namespace, p.metadata.name
                    ))(e));
                }
            }
        }
        Ok(())
    }
}

impl Reconciler for NodeLifecycle {
    type Error = Error;

    fn name(&self) -> &'static str {
        "node-lifecycle"
    }

    async fn reconcile(&self, key: &ObjectRef) -> Result<Action, Error> {
        let ctx = &self.ctx;
        ctx.synced().await;
        let on_node = |name: &str| ctx.pods.filter(|p| p.spec.node_name == name);
        let Some(mut node) = ctx.nodes.get("", &key.name).map(|n| (*n).clone()) else {
            // Pods bound to a node that is gone.
            for p in on_node(&key.name) {
                self.delete_pod(&p, Some(0)).await?;
            }
            self.heartbeats
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key.name);
            return Ok(Action::Done);
        };
        if let Some(n) = self.assign_cidrs(&node).await? {
            node = n;
        }
        let period = ctx.settings.node_monitor_period;
        let grace = ctx.settings.node_monitor_grace_period;
        let silent = self.silent_for(&key.name);
        let unreachable = silent >= grace;
        let now = Time::now();
        if unreachable && ready_status(&node) != ConditionStatus::Unknown {
            let mut updated = node.clone();
            let cond = NodeCondition {
                type_: "Ready".into(),
                status: ConditionStatus::Unknown,
                last_heartbeat_time: node
                    .status
                    .conditions
                    .iter()
                    .find(|c| c.type_ == "Ready")
                    .and_then(|c| c.last_heartbeat_time),
                last_transition_time: Some(now.truncated()),
                reason: "NodeStatusUnknown".into(),
                message: "Kubelet stopped posting node status.".into(),
            };
            updated.status.conditions.retain(|c| c.type_ != "Ready");
            updated.status.conditions.push(cond);
            node = ctx
                .client
                .update_status(&updated)
                .await
                .map_err(api(format!("marking node {} not ready", key.name)))?;
            self.events.normal(
                &node,
                "NodeNotReady",
                format!(
                    "Node {} status is now: NodeNotReady (no heartbeat for {} s)",
                    key.name,
                    silent.as_secs()
                ),
            );
        }
        let taints = health_taints(&node, unreachable, now);
        if taints != node.spec.taints {
            let mut updated = node.clone();
            updated.spec.taints = taints;
            node = ctx
                .client
                .update(&updated)
                .await
                .map_err(api(format!("tainting node {}", key.name)))?;
            Ctx::caught_up(&ctx.nodes, revision_of(&node)).await?;
            if !unreachable && ready_status(&node) == ConditionStatus::True {
                self.events.normal(
                    &node,
                    "NodeReady",
                    format!("Node {} status is now: NodeReady", key.name),
                );
            }
        }
        let mut next = if unreachable {
            period
        } else {
            // Look again when the grace would run out.
            grace.saturating_sub(silent).min(period) + Duration::from_millis(10)
        };
        let pods = on_node(&key.name);
        if unreachable {
            self.mark_pods_not_ready(&pods).await?;
        }
        // Evict what does not tolerate the NoExecute taints long enough.
        for taint in node
            .spec
            .taints
            .iter()
            .filter(|t| t.effect == TaintEffect::NoExecute)
        {
            for p in &pods {
                let Some(due) = eviction_due(p, taint, ctx.settings.pod_eviction_timeout) else {
                    continue;
                };
                let left = due.unix_seconds() - now.unix_seconds();
                if left <= 0 {
                    if p.metadata.is_deleting() && !unreachable {
                        continue;
                    }
                    tracing::info!(pod = %p.metadata.name, taint = %taint, "evicting");
                    self.events.normal(
                        p.as_ref(),
                        "TaintManagerEviction",
                        format!(
                            "Marking for deletion Pod {}/{} (node {} has taint {taint})",
                            p.metadata.namespace, p.metadata.name, key.name
                        ),
                    );
                    let grace = if unreachable { Some(0) } else { None };
                    self.delete_pod(p, grace).await?;
                } else {
                    next = next.min(Duration::from_secs(left as u64));
                }
            }
        }
        Ok(Action::RequeueAfter(next))
    }
}

#[cfg(test)]
mod tests {
    use berth_api::Toleration;
    use berth_api::taint::TolerationOperator;

    use super::*;

    #[test]
    fn blocks_are_handed_out_in_order_without_overlap() {
        let c: IpNet = "10.244.0.0/16".parse().unwrap();
        let used: Vec<IpNet> = vec![
            "10.244.0.0/24".parse().unwrap(),
            "10.244.2.0/24".parse().unwrap(),
        ];
        assert_eq!(
            free_block(c, 24, &used).unwrap().to_string(),
            "10.244.1.0/24"
        );
        let six: IpNet = "fd00:10:244::/56".parse().unwrap();
        assert_eq!(
            free_block(six, 64, &[]).unwrap().to_string(),
            "fd00:10:244::/64"
        );
        let tiny: IpNet = "10.0.0.0/24".parse().unwrap();
        assert!(free_block(tiny, 24, &["10.0.0.0/24".parse().unwrap()]).is_none());
    }

    #[test]
    fn eviction_follows_tolerations() {
        let taint = Taint {
            key: TAINT_UNREACHABLE.into(),
            value: String::new(),
            effect: TaintEffect::NoExecute,
            time_added: Some(Time::from_unix(1_000, 0)),
        };
        let mut p = Pod::default();
        let five_min = Duration::from_secs(300);
        assert_eq!(
            eviction_due(&p, &taint, five_min),
            Some(Time::from_unix(1_300, 0))
        );
        p.spec.tolerations = vec![Toleration {
            key: TAINT_UNREACHABLE.into(),
            operator: TolerationOperator::Exists,
            effect: Some(TaintEffect::NoExecute),
            toleration_seconds: Some(30),
            ..Toleration::default()
        }];
        assert_eq!(
            eviction_due(&p, &taint, five_min),
            Some(Time::from_unix(1_030, 0))
        );
        p.spec.tolerations[0].toleration_seconds = None;
        assert_eq!(eviction_due(&p, &taint, five_min), None);
    }

    #[test]
    fn health_taints_come_and_go() {
        let mut n = Node::default();
        n.spec.taints.push(Taint {
            key: "dedicated".into(),
            value: "db".into(),
            effect: TaintEffect::NoSchedule,
            time_added: None,
        });
        let now = Time::from_unix(50, 0);
        let t = health_taints(&n, true, now);
        assert_eq!(t.len(), 3);
        assert!(
            t.iter()
                .any(|t| t.key == TAINT_UNREACHABLE && t.effect == TaintEffect::NoExecute)
        );
        n.spec.taints = t;
        // Still unreachable later: the time it was added stays.
        let again = health_taints(&n, true, Time::from_unix(90, 0));
        assert_eq!(again, n.spec.taints);
        // Back: only the user's taint.
        n.status.conditions.push(NodeCondition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            ..NodeCondition::default()
        });
        assert_eq!(health_taints(&n, false, now).len(), 1);
    }
}
