//! One pod's sync, phase by phase, in the shape of kubelet's SyncPod:
//! what exists ([`PodWorker::current`]), images ([`super::images`]),
//! volumes, the sandbox, the containers, then observe and report
//! ([`super::observe`]). Each phase either hands the next what it made
//! or stops the sync with the [`Action`] to take.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_api::event::EventType;
use berth_api::pod::{PodPhase, RestartPolicy};
use berth_api::{Pod, Time};
use berth_client::runtime::{Action, ObjectRef};
use tokio::time::Instant;

use super::{ORPHAN_GRACE, PodWorker, RESYNC, backoff, now_ns, rt};
use crate::agent::AgentError;
use crate::agent::spec::{self, EnvSources};
use crate::agent::status::{Observed, Waiting, pod_status};
use crate::agent::volumes;
use crate::runtime::{ContainerInfo, ContainerState, Runtime, SandboxInfo, SandboxSpec};

/// What a phase decided: go on with what it made, or stop the sync here.
pub(super) enum Step<T> {
    Next(T),
    Stop(Action),
}

/// The state of one pod's sync, passed from phase to phase.
pub(super) struct PodSync<'a> {
    pub key: &'a ObjectRef,
    pub pod: &'a Pod,
    /// What is seen of each container (by index in the spec).
    pub observed: Vec<Observed>,
    /// Whether some container's image is missing.
    pub images_missing: bool,
    /// When the pod needs a look again without a change (probes,
    /// back-offs); changes come from the watch and the relist.
    pub next: Duration,
    pub now: Instant,
}

impl<'a> PodSync<'a> {
    pub fn new(key: &'a ObjectRef, pod: &'a Pod, sync_period: Duration) -> Self {
        Self {
            key,
            pod,
            observed: vec![Observed::default(); pod.spec.containers.len()],
            images_missing: false,
            next: sync_period,
            now: Instant::now(),
        }
    }
}

/// The prepared volumes: each one's directory and whether it is read-only.
pub(super) type Volumes = BTreeMap<String, (PathBuf, bool)>;

/// The pod's running sandbox.
pub(super) struct Sandbox {
    pub id: String,
    pub spec: SandboxSpec,
    /// The pod's addresses, the first one its `podIP`.
    pub ips: Vec<String>,
}

impl Sandbox {
    pub fn pod_ip(&self) -> &str {
        self.ips.first().map_or("", String::as_str)
    }
}

impl<R: Runtime> PodWorker<R> {
    /// The pod of `key` if it is bound here and still to be run, and its
    /// sandboxes. Sandboxes of a pod that is gone (or of an earlier pod of
    /// that name) are removed; a pod being deleted is ended; a finished
    /// one is left alone.
    pub(super) async fn current(
        &self,
        key: &ObjectRef,
    ) -> Result<Option<(Arc<Pod>, Vec<SandboxInfo>)>, AgentError> {
        self.pods.synced().await;
        let me = &self.config.node_name;
        let pod = self
            .pods
            .get(&key.namespace, &key.name)
            .filter(|p| p.spec.node_name == *me);
        let sandboxes: Vec<SandboxInfo> = self
            .runtime
            .list_sandboxes()
            .await
            .map_err(rt("listing sandboxes"))?
            .into_iter()
            .filter(|s| s.namespace == key.namespace && s.name == key.name)
            .collect();
        for sb in sandboxes
            .iter()
            .filter(|s| pod.as_ref().is_none_or(|p| p.metadata.uid != s.uid))
        {
            tracing::info!(uid = %sb.uid, "removing the sandbox of a pod that is gone");
            self.teardown(sb, ORPHAN_GRACE).await?;
            volumes::remove(&self.config.state_dir, &sb.uid);
        }
        let Some(pod) = pod else {
            return Ok(None);
        };
        if pod.metadata.is_deleting() {
            self.finish_deletion(&pod, &sandboxes).await?;
            return Ok(None);
        }
        if matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed) {
            return Ok(None);
        }
        let mine = sandboxes
            .into_iter()
            .filter(|s| s.uid == pod.metadata.uid)
            .collect();
        Ok(Some((pod, mine)))
    }

    /// The ConfigMaps and Secrets the pod reads, and its volumes made. A
    /// volume that cannot be made leaves the containers waiting
    /// (`FailedMount`) and the pod is looked at again later.
    pub(super) async fn prepare_volumes(
        &self,
        s: &mut PodSync<'_>,
    ) -> Result<Step<(EnvSources, Volumes)>, AgentError> {
        let (env_sources, vol_sources) = self.sources(s.pod).await?;
        match volumes::prepare(s.pod, &self.config.state_dir, &vol_sources) {
            Ok(v) => Ok(Step::Next((env_sources, v))),
            Err(e) => {
                let message = e.to_string();
                self.event(
                    s.pod,
                    EventType::Warning,
                    "FailedMount",
                    "",
                    message.clone(),
                );
                for o in s.observed.iter_mut().filter(|o| o.waiting.is_none()) {
                    o.waiting = Some(Waiting {
                        reason: "ContainerCreating".into(),
                        message: message.clone(),
                    });
                }
                self.wait_and_report(s).await
            }
        }
    }

    /// The pod's ready sandbox, or a new one (the pod's earlier, dead
    /// sandboxes removed first); none while an image is missing.
    pub(super) async fn ensure_sandbox(
        &self,
        s: &mut PodSync<'_>,
        sandboxes: &[SandboxInfo],
    ) -> Result<Step<Sandbox>, AgentError> {
        let (pod, key) = (s.pod, s.key);
        let spec = spec::sandbox(
            pod,
            sandboxes.len() as u32,
            &self.config.dns,
            &self.config.pod_log_dir,
            &self.config.cgroup_parent,
        );
        let id = match sandboxes.iter().find(|sb| sb.ready) {
            Some(sb) => sb.id.clone(),
            None if s.images_missing => return self.wait_and_report(s).await,
            None => {
                for old in sandboxes.iter().filter(|sb| !sb.ready) {
                    self.teardown(old, ORPHAN_GRACE).await?;
                }
                let mut spec = spec.clone();
                spec.log_directory = self.config.pod_log_dir.join(format!(
                    "{}_{}_{}",
                    pod.metadata.namespace, pod.metadata.name, pod.metadata.uid
                ));
                let _ = std::fs::create_dir_all(&spec.log_directory);
                self.runtime
                    .run_sandbox(&spec)
                    .await
                    .map_err(rt(format!("starting the sandbox of pod {key}")))?
            }
        };
        let ips = self
            .runtime
            .sandbox_ips(&id)
            .await
            .map_err(rt(format!("reading the sandbox of pod {key}")))?
            .unwrap_or_default();
        Ok(Step::Next(Sandbox { id, spec, ips }))
    }

    /// Reports what is seen so far (no addresses) and stops the sync: the
    /// pod is looked at again after a while.
    async fn wait_and_report<T>(&self, s: &PodSync<'_>) -> Result<Step<T>, AgentError> {
        let status = pod_status(s.pod, &s.observed, &[], &self.config.node_ips, Time::now());
        self.report(s.pod, status).await?;
        Ok(Step::Stop(Action::RequeueAfter(RESYNC * 5)))
    }

    /// Creates and starts what should run and does not: a container never
    /// made, one created but not started, one exited that its restart
    /// policy restarts once its back-off has passed. Returns the
    /// containers of the sandbox as they are now, and whether something
    /// was made or started here.
    pub(super) async fn sync_containers(
        &self,
        s: &mut PodSync<'_>,
        sb: &Sandbox,
        images: &[String],
        (env_sources, vols): &(EnvSources, Volumes),
    ) -> Result<(Vec<ContainerInfo>, bool), AgentError> {
        let key = s.key;
        let containers = self
            .runtime
            .list_containers(Some(&sb.id))
            .await
            .map_err(rt(format!("listing the containers of pod {key}")))?;
        let mut changed = false;
        for (i, c) in s.pod.spec.containers.iter().enumerate() {
            if s.observed[i].waiting.is_some() {
                continue;
            }
            let mut mine: Vec<&ContainerInfo> =
                containers.iter().filter(|x| x.name == c.name).collect();
            mine.sort_by_key(|x| std::cmp::Reverse(x.attempt));
            let Some(attempt) = self
                .next_attempt(s, i, mine.first().copied(), &mut changed)
                .await?
            else {
                continue;
            };
            let env = match spec::environment(s.pod, i, c, env_sources, sb.pod_ip()) {
                Ok(e) => e,
                Err(e) => {
                    s.observed[i].waiting = Some(Waiting {
                        reason: "CreateContainerConfigError".into(),
                        message: e.to_string(),
                    });
                    self.event(s.pod, EventType::Warning, "Failed", &c.name, e.to_string());
                    s.next = s.next.min(RESYNC * 5);
                    continue;
                }
            };
            changed = true;
            let cspec = spec::container(
                c,
                images[i].clone(),
                attempt,
                env,
                volumes::mounts(s.pod, i, vols),
            );
            let id = self
                .runtime
                .create_container(&sb.id, &sb.spec, &cspec)
                .await
                .map_err(rt(format!("creating container {} of pod {key}", c.name)))?;
            self.runtime
                .start_container(&id)
                .await
                .map_err(rt(format!("starting container {} of pod {key}", c.name)))?;
            // Keep the one before for lastState; older ones go.
            for old in mine.iter().skip(1) {
                let _ = self.runtime.remove_container(&old.id).await;
            }
            let (tag, message) = if attempt > 0 {
                (
                    format!("{}#{attempt}", c.name),
                    format!("Restarted container {} (restart {attempt})", c.name),
                )
            } else {
                (c.name.clone(), format!("Started container {}", c.name))
            };
            self.event(s.pod, EventType::Normal, "Started", &tag, message);
        }
        Ok((containers, changed))
    }

    /// The attempt number of container `i`'s next run, if one is to be
    /// created now: 0 if it never ran, the next one if it exited and its
    /// back-off has passed. A container created but not started is
    /// started here (`changed`); one in back-off is marked waiting
    /// (`CrashLoopBackOff`).
    async fn next_attempt(
        &self,
        s: &mut PodSync<'_>,
        i: usize,
        latest: Option<&ContainerInfo>,
        changed: &mut bool,
    ) -> Result<Option<u32>, AgentError> {
        let c = &s.pod.spec.containers[i];
        let Some(l) = latest else {
            return Ok(Some(0));
        };
        match l.state {
            ContainerState::Created => {
                *changed = true;
                self.runtime
                    .start_container(&l.id)
                    .await
                    .map_err(rt(format!(
                        "starting container {} of pod {}",
                        c.name, s.key
                    )))?;
                Ok(None)
            }
            ContainerState::Exited => {
                let restart = match s.pod.spec.restart_policy {
                    RestartPolicy::Always => true,
                    RestartPolicy::OnFailure => l.exit_code != 0,
                    RestartPolicy::Never => false,
                };
                if !restart {
                    return Ok(None);
                }
                let wait = backoff(self.config.backoff_base, l.attempt);
                let since = Duration::from_nanos((now_ns() - l.finished_at).max(0) as u64);
                if since >= wait {
                    return Ok(Some(l.attempt + 1));
                }
                s.next = s.next.min(wait - since);
                s.observed[i].waiting = Some(Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: format!(
                        "back-off {}s restarting failed container={} pod={}",
                        wait.as_secs(),
                        c.name,
                        s.key.name
                    ),
                });
                self.event(
                    s.pod,
                    EventType::Warning,
                    "BackOff",
                    &format!("{}#{}", c.name, l.attempt),
                    "Back-off restarting failed container".into(),
                );
                Ok(None)
            }
            _ => Ok(None),
        }
    }
}
