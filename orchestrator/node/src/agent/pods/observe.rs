//! The observe phase: what runs now, its probes, the status reported, and
//! when the pod needs a look again.

use std::time::Duration;

use berth_api::event::EventType;
use berth_api::{Pod, Time};
use berth_client::runtime::Action;
use tokio::time::Instant;

use super::sync::{PodSync, Sandbox};
use super::{CONFLICT_RETRY, PodWorker, Probes, rt};
use crate::agent::AgentError;
use crate::agent::probe::{self, Track};
use crate::agent::status::pod_status;
use crate::runtime::{ContainerInfo, ContainerState, Runtime};

impl<R: Runtime> PodWorker<R> {
    /// Reads the containers again if something was made or started
    /// (`changed`), runs the due probes, restarts a container whose
    /// liveness failed, reports the status; settled pods wait for a change
    /// or the agent's sync period.
    pub(super) async fn observe_and_report(
        &self,
        mut s: PodSync<'_>,
        sb: &Sandbox,
        mut containers: Vec<ContainerInfo>,
        changed: bool,
    ) -> Result<Action, AgentError> {
        let (pod, key) = (s.pod, s.key);
        if changed {
            containers = self
                .runtime
                .list_containers(Some(&sb.id))
                .await
                .map_err(rt(format!("listing the containers of pod {key}")))?;
        }
        for (i, c) in pod.spec.containers.iter().enumerate() {
            let mut mine: Vec<&ContainerInfo> =
                containers.iter().filter(|x| x.name == c.name).collect();
            mine.sort_by_key(|x| std::cmp::Reverse(x.attempt));
            s.observed[i].latest = mine.first().map(|x| (*x).clone());
            s.observed[i].previous = mine.get(1).map(|x| (*x).clone());
            let Some(latest) = s.observed[i].latest.clone() else {
                continue;
            };
            if latest.state != ContainerState::Running {
                s.observed[i].ready = false;
                continue;
            }
            let (ready, kill) = self
                .probe(pod, c, &latest, sb.pod_ip(), s.now, &mut s.next)
                .await;
            s.observed[i].ready = ready;
            if kill {
                self.event(
                    pod,
                    EventType::Normal,
                    "Killing",
                    &format!("{}#{}", c.name, latest.attempt),
                    format!(
                        "Container {} failed liveness probe, will be restarted",
                        c.name
                    ),
                );
                let grace =
                    Duration::from_secs(pod.spec.termination_grace_period_seconds.max(0) as u64);
                self.runtime
                    .stop_container(&latest.id, grace)
                    .await
                    .map_err(rt(format!("stopping container {} of pod {key}", c.name)))?;
                s.next = s.next.min(Duration::from_millis(100));
            }
        }
        let status = pod_status(
            pod,
            &s.observed,
            &sb.ips,
            &self.config.node_ips,
            Time::now(),
        );
        if !self.report(pod, status).await? {
            s.next = s.next.min(CONFLICT_RETRY);
        }
        if s.next < self.config.sync_period {
            Ok(Action::RequeueAfter(s.next))
        } else {
            Ok(Action::Done)
        }
    }

    /// Runs the container's due probes; returns (ready, must be restarted).
    async fn probe(
        &self,
        pod: &Pod,
        c: &berth_api::Container,
        latest: &ContainerInfo,
        pod_ip: &str,
        now: Instant,
        next: &mut Duration,
    ) -> (bool, bool) {
        let (readiness_due, liveness_due) = {
            let mut all = self.probes.lock().unwrap_or_else(|p| p.into_inner());
            let st = all.entry(latest.id.clone()).or_insert_with(|| Probes {
                started: now,
                readiness: c.readiness_probe.as_ref().map(|_| Track::readiness()),
                liveness: c.liveness_probe.as_ref().map(|_| Track::new(true)),
            });
            (
                c.readiness_probe
                    .as_ref()
                    .zip(st.readiness.as_ref())
                    .is_some_and(|(p, t)| t.due(p, st.started, now)),
                c.liveness_probe
                    .as_ref()
                    .zip(st.liveness.as_ref())
                    .is_some_and(|(p, t)| t.due(p, st.started, now)),
            )
        };
        let readiness = match (&c.readiness_probe, readiness_due) {
            (Some(p), true) => {
                Some(probe::run(self.runtime.as_ref(), c, &latest.id, p, pod_ip).await)
            }
            _ => None,
        };
        let liveness = match (&c.liveness_probe, liveness_due) {
            (Some(p), true) => {
                Some(probe::run(self.runtime.as_ref(), c, &latest.id, p, pod_ip).await)
            }
            _ => None,
        };
        let mut all = self.probes.lock().unwrap_or_else(|p| p.into_inner());
        let Some(st) = all.get_mut(&latest.id) else {
            return (true, false);
        };
        let ready = match (&c.readiness_probe, st.readiness.as_mut()) {
            (Some(p), Some(t)) => {
                if let Some(ok) = readiness {
                    if !ok {
                        self.event(
                            pod,
                            EventType::Warning,
                            "Unhealthy",
                            &format!("{}#{}#readiness", c.name, latest.attempt),
                            format!("Readiness probe failed for container {}", c.name),
                        );
                    }
                    t.record(p, ok, now);
                }
                *next = (*next).min(t.next_due(p, st.started).saturating_duration_since(now));
                t.passing
            }
            _ => true,
        };
        let kill = match (&c.liveness_probe, st.liveness.as_mut()) {
            (Some(p), Some(t)) => {
                if let Some(ok) = liveness {
                    t.record(p, ok, now);
                }
                *next = (*next).min(t.next_due(p, st.started).saturating_duration_since(now));
                !t.passing
            }
            _ => false,
        };
        (ready, kill)
    }
}
