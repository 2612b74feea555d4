//! Deployments, ReplicaSets and Pods.

use super::{Cell, labels, or_none, s};
use crate::pod::PodSpec;
use crate::{Deployment, Pod, ReplicaSet};

/// CONTAINERS and IMAGES of a pod template (wide).
fn containers_and_images(spec: &PodSpec) -> [Cell; 2] {
    let join = |f: fn(&crate::Container) -> &str| {
        spec.containers.iter().map(f).collect::<Vec<_>>().join(",")
    };
    [
        Cell::wide("CONTAINERS", join(|c| &c.name)),
        Cell::wide("IMAGES", join(|c| &c.image)),
    ]
}

pub(super) fn deployment(d: &Deployment) -> Vec<Cell> {
    let mut c = vec![
        Cell::new(
            "READY",
            format!("{}/{}", d.status.ready_replicas, d.spec.replicas),
        ),
        Cell::new("UP-TO-DATE", d.status.updated_replicas.to_string()),
        Cell::new("AVAILABLE", d.status.available_replicas.to_string()),
    ];
    c.extend(containers_and_images(&d.spec.template.spec));
    c.push(Cell::wide(
        "SELECTOR",
        or_none(labels(&d.spec.selector.match_labels)),
    ));
    c
}

pub(super) fn replica_set(rs: &ReplicaSet) -> Vec<Cell> {
    let mut c = vec![
        Cell::new("DESIRED", rs.spec.replicas.to_string()),
        Cell::new("CURRENT", rs.status.replicas.to_string()),
        Cell::new("READY", rs.status.ready_replicas.to_string()),
    ];
    c.extend(containers_and_images(&rs.spec.template.spec));
    c.push(Cell::wide(
        "SELECTOR",
        or_none(rs.spec.selector.to_string()),
    ));
    c
}

pub(super) fn pod(p: &Pod) -> Vec<Cell> {
    let statuses = &p.status.container_statuses;
    let ready = statuses.iter().filter(|c| c.ready).count();
    let restarts: i32 = statuses.iter().map(|c| c.restart_count).sum();
    vec![
        Cell::new("READY", format!("{ready}/{}", p.spec.containers.len())),
        Cell::new("STATUS", or_none(pod_status(p))),
        Cell::new("RESTARTS", restarts.to_string()),
        Cell::wide("IP", or_none(p.status.pod_ip.clone())),
        Cell::wide("NODE", or_none(p.spec.node_name.clone())),
    ]
}

/// As kubectl: Terminating, else a container's waiting reason, else the
/// pod's reason, else its phase.
fn pod_status(p: &Pod) -> String {
    if p.metadata.is_deleting() {
        return "Terminating".to_owned();
    }
    if let Some(w) = p
        .status
        .container_statuses
        .iter()
        .find_map(|c| c.state.waiting.as_ref())
        .filter(|w| !w.reason.is_empty())
    {
        return w.reason.clone();
    }
    if !p.status.reason.is_empty() {
        return p.status.reason.clone();
    }
    s(&p.status.phase)
}
