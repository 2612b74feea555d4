//! Where a pod may go and where it goes best, as pure functions: the
//! filters (node Ready and schedulable, nodeSelector, taints and
//! tolerations, resources) and the scores (least allocated, spreading a
//! controller's pods over nodes), after kube-scheduler's default plugins.

use std::collections::BTreeMap;

use berth_api::meta::ConditionStatus;
use berth_api::{Node, Pod, TaintEffect};

/// Pods a node takes when its status says nothing (kubelet's `--max-pods`).
pub const DEFAULT_MAX_PODS: i128 = 110;

/// What a pod asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request {
    /// CPU, millicores.
    pub cpu_milli: i128,
    /// Memory, bytes.
    pub memory: i128,
}

impl Request {
    /// The sum of the pod's containers' requests.
    pub fn of(pod: &Pod) -> Self {
        pod.spec
            .containers
            .iter()
            .fold(Self::default(), |acc, c| Self {
                cpu_milli: acc.cpu_milli + c.resources.cpu_request_milli(),
                memory: acc.memory + c.resources.memory_request_bytes(),
            })
    }
}

/// A node and what is placed on it.
#[derive(Debug, Clone)]
pub struct NodeInfo<'a> {
    /// The node.
    pub node: &'a Node,
    /// The sum of its pods' requests.
    pub requested: Request,
    /// How many pods it has.
    pub pods: i128,
    /// Its pods per controller owner uid (for spreading).
    pub by_owner: BTreeMap<String, i128>,
}

impl<'a> NodeInfo<'a> {
    /// An empty node.
    pub fn new(node: &'a Node) -> Self {
        Self {
            node,
            requested: Request::default(),
            pods: 0,
            by_owner: BTreeMap::new(),
        }
    }

    /// Counts `pod` as placed here.
    pub fn add(&mut self, pod: &Pod) {
        let r = Request::of(pod);
        self.requested.cpu_milli += r.cpu_milli;
        self.requested.memory += r.memory;
        self.pods += 1;
        if let Some(o) = pod.metadata.controller() {
            *self.by_owner.entry(o.uid.clone()).or_insert(0) += 1;
        }
    }

    fn allocatable(&self, name: &str) -> Option<i128> {
        let s = &self.node.status;
        s.allocatable
            .get(name)
            .or_else(|| s.capacity.get(name))
            .map(|q| {
                if name == "cpu" {
                    q.milli_value()
                } else {
                    q.value()
                }
            })
    }
}

/// Why a node does not fit, worded as kube-scheduler words it; the
/// explanation counts nodes per reason.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unfit {
    /// Not Ready.
    NotReady,
    /// `spec.unschedulable`.
    Unschedulable,
    /// A NoSchedule/NoExecute taint the pod does not tolerate.
    Taint(String),
    /// `nodeSelector` does not match.
    Selector,
    /// Not enough of a resource (`cpu`, `memory`, `pods`).
    Insufficient(&'static str),
}

impl std::fmt::Display for Unfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unfit::NotReady => f.write_str("node(s) were not ready"),
            Unfit::Unschedulable => f.write_str("node(s) were unschedulable"),
            Unfit::Taint(t) => write!(f, "node(s) had untolerated taint {{{t}}}"),
            Unfit::Selector => f.write_str("node(s) didn't match Pod's node affinity/selector"),
            Unfit::Insufficient(r) => write!(f, "Insufficient {r}"),
        }
    }
}

/// The first reason `pod` cannot go to `info`'s node, if any.
pub fn filter(pod: &Pod, req: Request, info: &NodeInfo<'_>) -> Result<(), Unfit> {
    let node = info.node;
    let ready = node
        .status
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True);
    if !ready {
        return Err(Unfit::NotReady);
    }
    if node.spec.unschedulable {
        return Err(Unfit::Unschedulable);
    }
    for t in &node.spec.taints {
        if t.effect == TaintEffect::PreferNoSchedule {
            continue;
        }
        if !pod.spec.tolerations.iter().any(|tol| tol.tolerates(t)) {
            let text = if t.value.is_empty() {
                format!("{}: ", t.key)
            } else {
                format!("{}: {}", t.key, t.value)
            };
            return Err(Unfit::Taint(text));
        }
    }
    if !pod
        .spec
        .node_selector
        .iter()
        .all(|(k, v)| node.metadata.labels.get(k) == Some(v))
    {
        return Err(Unfit::Selector);
    }
    let max_pods = info.allocatable("pods").unwrap_or(DEFAULT_MAX_PODS);
    if info.pods + 1 > max_pods {
        return Err(Unfit::Insufficient("pods"));
    }
    if req.cpu_milli > 0
        && let Some(cpu) = info.allocatable("cpu")
        && info.requested.cpu_milli + req.cpu_milli > cpu
    {
        return Err(Unfit::Insufficient("cpu"));
    }
    if req.memory > 0
        && let Some(mem) = info.allocatable("memory")
        && info.requested.memory + req.memory > mem
    {
        return Err(Unfit::Insufficient("memory"));
    }
    Ok(())
}

/// How good a fitting node is (higher is better): the free share of CPU
/// and memory after placing the pod (0–100, as NodeResourcesFit's
/// LeastAllocated), plus twice a spreading score (0–100: fewer pods of the
/// same controller here than on the busiest node), minus 50 per
/// PreferNoSchedule taint not tolerated.
pub fn score(pod: &Pod, req: Request, info: &NodeInfo<'_>, max_same_owner: i128) -> i128 {
    let free = |name: &str, used: i128, want: i128| -> Option<i128> {
        let cap = info.allocatable(name)?;
        (cap > 0).then(|| ((cap - used - want).max(0) * 100) / cap)
    };
    let parts: Vec<i128> = [
        free("cpu", info.requested.cpu_milli, req.cpu_milli),
        free("memory", info.requested.memory, req.memory),
        free("pods", info.pods, 1)
            .or_else(|| Some(((DEFAULT_MAX_PODS - info.pods - 1).max(0) * 100) / DEFAULT_MAX_PODS)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let least_allocated = parts.iter().sum::<i128>() / parts.len().max(1) as i128;
    let same = pod
        .metadata
        .controller()
        .and_then(|o| info.by_owner.get(&o.uid).copied())
        .unwrap_or(0);
    let spread = if max_same_owner == 0 {
        100
    } else {
        ((max_same_owner - same).max(0) * 100) / max_same_owner
    };
    let prefer_not = info
        .node
        .spec
        .taints
        .iter()
        .filter(|t| t.effect == TaintEffect::PreferNoSchedule)
        .filter(|t| !pod.spec.tolerations.iter().any(|tol| tol.tolerates(t)))
        .count() as i128;
    least_allocated + 2 * spread - 50 * prefer_not
}

/// `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were not ready.`
pub fn explain(nodes: usize, reasons: &[Unfit]) -> String {
    if nodes == 0 {
        return "0/0 nodes are available: no nodes registered.".into();
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in reasons {
        *counts.entry(r.to_string()).or_insert(0) += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    format!("0/{nodes} nodes are available: {}.", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use berth_api::meta::OwnerReference;
    use berth_api::node::NodeCondition;
    use berth_api::taint::TolerationOperator;
    use berth_api::{Container, Quantity, Taint, Toleration};

    use super::*;

    fn node(name: &str, cpu: &str, ready: bool) -> Node {
        let mut n = Node::default();
        n.metadata.name = name.into();
        n.status
            .allocatable
            .insert("cpu".into(), Quantity::parse(cpu).unwrap());
        n.status
            .allocatable
            .insert("memory".into(), Quantity::parse("4Gi").unwrap());
        n.status.conditions.push(NodeCondition {
            type_: "Ready".into(),
            status: if ready {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            ..NodeCondition::default()
        });
        n
    }

    fn pod(cpu: &str) -> Pod {
        let mut p = Pod::default();
        let mut c = Container::default();
        c.resources
            .requests
            .insert("cpu".into(), Quantity::parse(cpu).unwrap());
        p.spec.containers.push(c);
        p
    }

    #[test]
    fn filters_explain_themselves() {
        let p = pod("500m");
        let r = Request::of(&p);
        assert_eq!(r.cpu_milli, 500);
        let small = node("small", "250m", true);
        assert_eq!(
            filter(&p, r, &NodeInfo::new(&small)),
            Err(Unfit::Insufficient("cpu"))
        );
        let down = node("down", "4", false);
        assert_eq!(filter(&p, r, &NodeInfo::new(&down)), Err(Unfit::NotReady));
        let mut tainted = node("gpu", "4", true);
        tainted.spec.taints.push(Taint {
            key: "gpu".into(),
            value: "true".into(),
            effect: TaintEffect::NoSchedule,
            time_added: None,
        });
        assert_eq!(
            filter(&p, r, &NodeInfo::new(&tainted)),
            Err(Unfit::Taint("gpu: true".into()))
        );
        let mut tolerant = p.clone();
        tolerant.spec.tolerations.push(Toleration {
            key: "gpu".into(),
            operator: TolerationOperator::Exists,
            ..Toleration::default()
        });
        assert_eq!(filter(&tolerant, r, &NodeInfo::new(&tainted)), Ok(()));
        let mut picky = p.clone();
        picky.spec.node_selector.insert("disk".into(), "ssd".into());
        let ok = node("ok", "4", true);
        assert_eq!(filter(&picky, r, &NodeInfo::new(&ok)), Err(Unfit::Selector));
        // Filled up by what is placed already.
        let mut full = NodeInfo::new(&ok);
        for _ in 0..8 {
            full.add(&p);
        }
        assert_eq!(filter(&p, r, &full), Err(Unfit::Insufficient("cpu")));
        assert_eq!(
            explain(
                3,
                &[
                    Unfit::Insufficient("cpu"),
                    Unfit::NotReady,
                    Unfit::Taint("gpu: true".into())
                ]
            ),
            "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint \
             {gpu: true}, 1 node(s) were not ready."
        );
    }

    #[test]
    fn scores_prefer_free_nodes_and_spread() {
        let mut p = pod("1");
        p.metadata.owner_references = vec![OwnerReference {
            kind: "ReplicaSet".into(),
            uid: "rs".into(),
            controller: Some(true),
            ..OwnerReference::default()
        }];
        let r = Request::of(&p);
        let a = node("a", "4", true);
        let b = node("b", "4", true);
        let mut busy = NodeInfo::new(&a);
        busy.add(&p);
        let idle = NodeInfo::new(&b);
        assert!(score(&p, r, &idle, 1) > score(&p, r, &busy, 1));
        // Same load, but a already has one of the set: b wins on spread.
        let mut other = pod("1");
        other.metadata.owner_references = vec![];
        let mut b_loaded = NodeInfo::new(&b);
        b_loaded.add(&other);
        assert!(score(&p, r, &b_loaded, 1) > score(&p, r, &busy, 1));
    }
}
