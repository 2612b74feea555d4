//! The Pod's status from what the runtime reports: phase, conditions, IPs
//! and one ContainerStatus per container, as kubelet computes them.

use berth_api::meta::ConditionStatus;
use berth_api::pod::{
    ContainerState as ApiState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, PodCondition, PodIp, PodPhase, PodStatus,
    RestartPolicy,
};
use berth_api::{Pod, Time};

use crate::runtime::{ContainerInfo, ContainerState};

/// Why a container is not running yet (or again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// `ContainerCreating`, `ErrImageNeverPull`, `CrashLoopBackOff`,
    /// `CreateContainerConfigError`, ...
    pub reason: String,
    /// A human-readable message.
    pub message: String,
}

/// What the agent knows of one container of the pod.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Its latest runtime container, if any.
    pub latest: Option<ContainerInfo>,
    /// The one before (for `lastState`).
    pub previous: Option<ContainerInfo>,
    /// Why it waits, if it does.
    pub waiting: Option<Waiting>,
    /// Whether its readiness probe passes (true without one).
    pub ready: bool,
}

fn time_of(ns: i64) -> Option<Time> {
    (ns > 0).then(|| Time::from_unix(ns / 1_000_000_000, 0))
}

fn terminated(c: &ContainerInfo) -> ContainerStateTerminated {
    ContainerStateTerminated {
        exit_code: c.exit_code,
        signal: 0,
        reason: if c.reason.is_empty() {
            if c.exit_code == 0 {
                "Completed"
            } else {
                "Error"
            }
            .into()
        } else {
            c.reason.clone()
        },
        message: String::new(),
        started_at: time_of(c.started_at),
        finished_at: time_of(c.finished_at),
    }
}

fn state_of(o: &Observed) -> ApiState {
    if let Some(w) = &o.waiting {
        return ApiState {
            waiting: Some(ContainerStateWaiting {
                reason: w.reason.clone(),
                message: w.message.clone(),
            }),
            ..ApiState::default()
        };
    }
    match &o.latest {
        Some(c) if c.state == ContainerState::Running => ApiState {
            running: Some(ContainerStateRunning {
                started_at: time_of(c.started_at),
            }),
            ..ApiState::default()
        },
        Some(c) if c.state == ContainerState::Exited => ApiState {
            terminated: Some(terminated(c)),
            ..ApiState::default()
        },
        _ => ApiState {
            waiting: Some(ContainerStateWaiting {
                reason: "ContainerCreating".into(),
                message: String::new(),
            }),
            ..ApiState::default()
        },
    }
}

/// The phase from the containers' states and the restart policy.
pub fn phase(policy: RestartPolicy, observed: &[Observed]) -> PodPhase {
    let running = |o: &Observed| {
        o.waiting.is_none()
            && o.latest
                .as_ref()
                .is_some_and(|c| c.state == ContainerState::Running)
    };
    let exited = |o: &Observed| {
        o.waiting.is_none()
            && o.latest
                .as_ref()
                .is_some_and(|c| c.state == ContainerState::Exited)
    };
    let ok = |o: &Observed| o.latest.as_ref().is_some_and(|c| c.exit_code == 0);
    if observed.is_empty() {
        return PodPhase::Pending;
    }
    if observed.iter().all(exited) {
        return match policy {
            RestartPolicy::Always => PodPhase::Running,
            RestartPolicy::OnFailure if observed.iter().all(ok) => PodPhase::Succeeded,
            RestartPolicy::OnFailure => PodPhase::Running,
            RestartPolicy::Never if observed.iter().all(ok) => PodPhase::Succeeded,
            RestartPolicy::Never => PodPhase::Failed,
        };
    }
    if observed.iter().any(running) || observed.iter().any(|o| o.latest.is_some()) {
        // Some run; the rest are restarting or waiting to.
        if observed.iter().all(|o| o.latest.is_some()) {
            return PodPhase::Running;
        }
    }
    PodPhase::Pending
}

fn condition(type_: &str, ok: bool, old: &PodStatus, now: Time) -> PodCondition {
    let status = if ok {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    let transition = old
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time)
        .unwrap_or(now.truncated());
    PodCondition {
        type_: type_.into(),
        status,
        last_transition_time: Some(transition),
        ..PodCondition::default()
    }
}

/// The status to report.
pub fn pod_status(
    pod: &Pod,
    observed: &[Observed],
    ips: &[String],
    host_ips: &[String],
    now: Time,
) -> PodStatus {
    let old = &pod.status;
    let statuses: Vec<ContainerStatus> = pod
        .spec
        .containers
        .iter()
        .zip(observed)
        .map(|(spec, o)| {
            let running = o.waiting.is_none()
                && o.latest
                    .as_ref()
                    .is_some_and(|c| c.state == ContainerState::Running);
            ContainerStatus {
                name: spec.name.clone(),
                ready: running && o.ready,
                restart_count: o.latest.as_ref().map(|c| c.attempt as i32).unwrap_or(0),
                image: spec.image.clone(),
                image_id: o
                    .latest
                    .as_ref()
                    .map(|c| c.image_id.clone())
                    .unwrap_or_default(),
                container_id: o
                    .latest
                    .as_ref()
                    .map(|c| format!("containerd://{}", c.id))
                    .unwrap_or_default(),
                started: Some(running),
                state: state_of(o),
                last_state: o
                    .previous
                    .as_ref()
                    .filter(|p| p.state == ContainerState::Exited)
                    .map(|p| ApiState {
                        terminated: Some(terminated(p)),
                        ..ApiState::default()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    let all_ready = !statuses.is_empty() && statuses.iter().all(|s| s.ready);
    let scheduled = old
        .conditions
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .cloned();
    let mut conditions = Vec::new();
    conditions.push(condition("Initialized", true, old, now));
    conditions.push(condition("Ready", all_ready, old, now));
    conditions.push(condition("ContainersReady", all_ready, old, now));
    if let Some(s) = scheduled {
        conditions.push(s);
    }
    let waiting_reason = observed
        .iter()
        .find_map(|o| o.waiting.as_ref().map(|w| w.reason.clone()));
    PodStatus {
        phase: phase(pod.spec.restart_policy, observed),
        conditions,
        message: String::new(),
        reason: match waiting_reason.as_deref() {
            Some("ErrImageNeverPull") => "ErrImageNeverPull".into(),
            _ => String::new(),
        },
        host_ip: host_ips.first().cloned().unwrap_or_default(),
        host_ips: host_ips
            .iter()
            .filter(|ip| !ip.is_empty())
            .map(|ip| PodIp { ip: ip.clone() })
            .collect(),
        pod_ip: ips.first().cloned().unwrap_or_default(),
        pod_ips: ips.iter().map(|ip| PodIp { ip: ip.clone() }).collect(),
        start_time: old.start_time.or(Some(now.truncated())),
        container_statuses: statuses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(state: ContainerState, exit: i32, attempt: u32) -> ContainerInfo {
        ContainerInfo {
            id: format!("c{attempt}"),
            sandbox_id: "s".into(),
            name: "app".into(),
            attempt,
            state,
            created_at: 1,
            started_at: 2_000_000_000,
            finished_at: 0,
            exit_code: exit,
            reason: String::new(),
            image: "busybox".into(),
            image_id: "sha256:x".into(),
            log_path: String::new(),
        }
    }

    fn obs(c: Option<ContainerInfo>, ready: bool) -> Observed {
        Observed {
            latest: c,
            previous: None,
            waiting: None,
            ready,
        }
    }

    #[test]
    fn phases() {
        let running = obs(Some(info(ContainerState::Running, 0, 0)), true);
        let done = obs(Some(info(ContainerState::Exited, 0, 0)), false);
        let failed = obs(Some(info(ContainerState::Exited, 1, 0)), false);
        assert_eq!(
            phase(RestartPolicy::Always, std::slice::from_ref(&running)),
            PodPhase::Running
        );
        assert_eq!(
            phase(RestartPolicy::Never, std::slice::from_ref(&done)),
            PodPhase::Succeeded
        );
        assert_eq!(
            phase(RestartPolicy::Never, std::slice::from_ref(&failed)),
            PodPhase::Failed
        );
        assert_eq!(
            phase(RestartPolicy::OnFailure, &[failed]),
            PodPhase::Running
        );
        assert_eq!(
            phase(RestartPolicy::Always, &[obs(None, false)]),
            PodPhase::Pending
        );
    }

    #[test]
    fn ready_needs_running_and_the_probe() {
        let mut pod = Pod::default();
        pod.spec.containers.push(berth_api::Container {
            name: "app".into(),
            image: "busybox".into(),
            ..Default::default()
        });
        let now = Time::from_unix(100, 0);
        let s = pod_status(
            &pod,
            &[obs(Some(info(ContainerState::Running, 0, 2)), true)],
            &["10.244.1.2".into()],
            &["192.0.2.1".into(), "2001:db8::1".into()],
            now,
        );
        assert_eq!(s.pod_ip, "10.244.1.2");
        assert_eq!(s.host_ip, "192.0.2.1");
        let host_ips: Vec<&str> = s.host_ips.iter().map(|h| h.ip.as_str()).collect();
        assert_eq!(host_ips, ["192.0.2.1", "2001:db8::1"]);
        assert!(s.container_statuses[0].ready);
        assert_eq!(s.container_statuses[0].restart_count, 2);
        assert!(
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True)
        );
        let s = pod_status(
            &pod,
            &[obs(Some(info(ContainerState::Running, 0, 0)), false)],
            &[],
            &[],
            now,
        );
        assert!(!s.container_statuses[0].ready);
        assert!(s.host_ip.is_empty() && s.host_ips.is_empty());
        let waiting = Observed {
            waiting: Some(Waiting {
                reason: "ErrImageNeverPull".into(),
                message: "no".into(),
            }),
            ..Observed::default()
        };
        let s = pod_status(&pod, &[waiting], &[], &[], now);
        assert_eq!(s.reason, "ErrImageNeverPull");
        assert_eq!(
            s.container_statuses[0]
                .state
                .waiting
                .as_ref()
                .unwrap()
                .reason,
            "ErrImageNeverPull"
        );
    }
}
