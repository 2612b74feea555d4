//! What the API does for Pods beyond storing them: binding to a node and
//! graceful deletion.

use berth_api::meta::ConditionStatus;
use berth_api::pod::{PodCondition, PodPhase};
use berth_api::{Object, Time};
use tonic::Status;

/// The `PodScheduled` condition type.
pub const POD_SCHEDULED: &str = "PodScheduled";

/// `obj` (a Pod) bound to `node`: `spec.nodeName` and `PodScheduled=True`.
pub(super) fn bind(obj: Object, node: &str, now: Time) -> Result<Object, Status> {
    let Object::Pod(mut pod) = obj else {
        return Err(Status::invalid_argument("only Pods can be bound"));
    };
    if node.is_empty() {
        return Err(Status::invalid_argument(
            "target.name: Required value: a node name is required",
        ));
    }
    let name = &pod.metadata.name;
    if pod.metadata.is_deleting() {
        return Err(Status::failed_precondition(format!(
            "pod {name:?} is being deleted, cannot be assigned to a host"
        )));
    }
    if !pod.spec.node_name.is_empty() {
        return Err(Status::aborted(format!(
            "Operation cannot be fulfilled on pods/binding {name:?}: pod {name} is already \
             assigned to node {:?}",
            pod.spec.node_name
        )));
    }
    pod.spec.node_name = node.to_owned();
    set_condition(
        &mut pod.status.conditions,
        PodCondition {
            type_: POD_SCHEDULED.into(),
            status: ConditionStatus::True,
            ..PodCondition::default()
        },
        now,
    );
    Ok(Object::Pod(pod))
}

/// Sets `cond` in `conditions`, keeping `lastTransitionTime` unless the
/// status changes.
pub fn set_condition(conditions: &mut Vec<PodCondition>, mut cond: PodCondition, now: Time) {
    match conditions.iter_mut().find(|c| c.type_ == cond.type_) {
        Some(c) => {
            cond.last_transition_time = if c.status == cond.status {
                c.last_transition_time
            } else {
                Some(now.truncated())
            };
            *c = cond;
        }
        None => {
            cond.last_transition_time = Some(now.truncated());
            conditions.push(cond);
        }
    }
}

/// A graceful deletion.
#[derive(Debug)]
pub(super) enum Graceful {
    /// The Pod as it must be written: terminating.
    Begin(Box<Object>),
    /// It is terminating already.
    Already,
}

/// Whether deleting `obj` with `grace` is graceful: a Pod on a node that
/// has not ended, deleted with a grace period other than 0, gets
/// `deletionTimestamp` (now + grace) and stays until its node agent
/// deletes it with 0. Everything else is removed at once (`None`).
pub(super) fn graceful_delete(obj: &Object, grace: Option<i64>, now: Time) -> Option<Graceful> {
    let Object::Pod(pod) = obj else {
        return None;
    };
    let ended = matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed);
    if pod.spec.node_name.is_empty() || ended || grace == Some(0) {
        return None;
    }
    if pod.metadata.is_deleting() {
        return Some(Graceful::Already);
    }
    let grace = grace
        .unwrap_or(pod.spec.termination_grace_period_seconds)
        .max(1);
    let mut pod = pod.clone();
    pod.metadata.deletion_timestamp =
        Some(Time::from_unix(now.unix_seconds().saturating_add(grace), 0));
    pod.metadata.deletion_grace_period_seconds = Some(grace);
    Some(Graceful::Begin(Box::new(Object::Pod(pod))))
}

#[cfg(test)]
mod tests {
    use berth_api::{Object, Pod, Time};

    use super::*;

    fn pod(node: &str) -> Object {
        let mut p = Pod::default();
        p.metadata.name = "web-1".into();
        p.metadata.namespace = "default".into();
        p.spec.node_name = node.into();
        p.spec.termination_grace_period_seconds = 30;
        Object::Pod(p)
    }

    #[test]
    fn bind_sets_node_and_condition_once() {
        let now = Time::from_unix(1_000, 0);
        let Object::Pod(p) = bind(pod(""), "n1", now).unwrap() else {
            panic!()
        };
        assert_eq!(p.spec.node_name, "n1");
        assert_eq!(p.status.conditions[0].type_, POD_SCHEDULED);
        assert_eq!(p.status.conditions[0].status, ConditionStatus::True);
        let e = bind(Object::Pod(p), "n2", now).unwrap_err();
        assert!(
            e.message().contains("already assigned to node \"n1\""),
            "{e}"
        );
        assert!(bind(pod(""), "", now).is_err());
    }

    #[test]
    fn only_pods_on_nodes_end_gracefully() {
        let now = Time::from_unix(1_000, 0);
        assert!(graceful_delete(&pod(""), None, now).is_none());
        assert!(graceful_delete(&pod("n1"), Some(0), now).is_none());
        let Some(Graceful::Begin(obj)) = graceful_delete(&pod("n1"), None, now) else {
            panic!()
        };
        let Object::Pod(p) = *obj else { panic!() };
        assert_eq!(
            p.metadata.deletion_timestamp,
            Some(Time::from_unix(1_030, 0))
        );
        assert_eq!(p.metadata.deletion_grace_period_seconds, Some(30));
        assert!(matches!(
            graceful_delete(&Object::Pod(p), Some(5), now),
            Some(Graceful::Already)
        ));
    }
}
