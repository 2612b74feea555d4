//! The pod worker: makes the runtime match each Pod bound to this node,
//! level-triggered and idempotent (one pod at a time per key), and reports
//! what it sees. Everything it needs to pick up after a restart is in the
//! runtime (sandbox and container labels) and the API.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::event::EventType;
use berth_api::meta::ObjectReference;
use berth_api::pod::{PodPhase, RestartPolicy};
use berth_api::{ConfigMap, Kind, Pod, Secret, Time};
use berth_client::cache::Cache;
use berth_client::runtime::{Action, ObjectRef, Reconciler};
use berth_client::{Client, DeleteOptions};
use tokio::time::Instant;

use super::probe::{self, Track};
use super::spec::{self, EnvSources};
use super::status::{Observed, Waiting, pod_status};
use super::volumes::{self, VolumeSources};
use super::{AgentConfig, AgentError};
use crate::image::normalize;
use crate::runtime::{ContainerInfo, ContainerState, Runtime, SandboxInfo};

/// How often the runtime is relisted (one ListPodSandbox and one
/// ListContainers for all pods): a pod whose sandbox or containers changed
/// meanwhile is reconciled (kubelet's PLEG relist period).
pub const RESYNC: Duration = Duration::from_secs(1);
/// How often every pod is reconciled even if nothing changed (kubelet's
/// `syncFrequency`).
pub const SYNC_PERIOD: Duration = Duration::from_secs(60);
/// The most a crashing container waits before its next start.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How soon a pod whose status write lost a race is looked at again.
pub const CONFLICT_RETRY: Duration = Duration::from_millis(50);
/// How long an image found present is not looked up again.
pub const IMAGE_PRESENT_TTL: Duration = Duration::from_secs(10);
/// Grace for containers of a sandbox whose pod is gone from the API.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct Probes {
    started: Instant,
    readiness: Option<Track>,
    liveness: Option<Track>,
}

/// Reconciles this node's pods.
#[derive(Debug)]
pub struct PodWorker<R> {
    client: Client,
    runtime: Arc<R>,
    pods: Cache<Pod>,
    config: Arc<AgentConfig>,
    /// Images found present, and when (so that settled pods do not ask
    /// again each time; a missing image is asked for every time).
    images: Mutex<HashMap<String, Instant>>,
    /// Probe state per runtime container id.
    probes: Mutex<HashMap<String, Probes>>,
    /// Events already sent (uid, reason, container), to send each once.
    told: Mutex<HashSet<(String, String, String)>>,
    /// The resourceVersion of this worker's last status write per pod.
    written: Written,
}

/// The resourceVersion of the agent's own last status write, per pod uid:
/// the watch event of that write changes nothing the worker acts on, so
/// it does not queue the pod again ([`Written::is_echo`]).
#[derive(Debug, Clone, Default)]
pub struct Written(Arc<Mutex<HashMap<String, String>>>);

impl Written {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `new` is the agent's own status write over `old` (the same
    /// spec and metadata but for the resourceVersion).
    pub fn is_echo(&self, old: &Pod, new: &Pod) -> bool {
        if old.spec != new.spec {
            return false;
        }
        let mut meta = old.metadata.clone();
        meta.resource_version
            .clone_from(&new.metadata.resource_version);
        meta == new.metadata
            && self.lock().get(&new.metadata.uid) == Some(&new.metadata.resource_version)
    }

    fn record(&self, pod: &Pod) {
        self.lock().insert(
            pod.metadata.uid.clone(),
            pod.metadata.resource_version.clone(),
        );
    }

    fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }
}

fn api(action: impl Into<String>) -> impl FnOnce(berth_client::ClientError) -> AgentError {
    let action = action.into();
    move |source| AgentError::Api { action, source }
}

fn rt(action: impl Into<String>) -> impl FnOnce(crate::runtime::RuntimeError) -> AgentError {
    let action = action.into();
    move |source| AgentError::Runtime { action, source }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The back-off before restart number `restarts + 1` (10 s, 20 s, 40 s, …
/// up to 5 min, as kubelet), from `base`.
pub fn backoff(base: Duration, restarts: u32) -> Duration {
    base.saturating_mul(1u32 << restarts.min(16))
        .min(MAX_BACKOFF)
}

impl<R: Runtime> PodWorker<R> {
    /// A worker over `runtime` for the pods in `pods`.
    pub fn new(
        client: Client,
        runtime: Arc<R>,
        pods: Cache<Pod>,
        config: Arc<AgentConfig>,
        written: Written,
    ) -> Self {
        Self {
            written,
            client,
            runtime,
            pods,
            config,
            images: Mutex::new(HashMap::new()),
            probes: Mutex::new(HashMap::new()),
            told: Mutex::new(HashSet::new()),
        }
    }

    fn event(&self, pod: &Pod, type_: EventType, reason: &str, container: &str, message: String) {
        let key = (
            pod.metadata.uid.clone(),
            reason.to_owned(),
            container.to_owned(),
        );
        if !self
            .told
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key)
        {
            return;
        }
        let mut ev = berth_api::Event {
            involved_object: ObjectReference::to(pod),
            reason: reason.into(),
            message,
            type_,
            count: 1,
            first_timestamp: Some(Time::now().truncated()),
            last_timestamp: Some(Time::now().truncated()),
            reporting_component: "berth-agent".into(),
            reporting_instance: self.config.node_name.clone(),
            ..berth_api::Event::default()
        };
        ev.source.component = "berth-agent".into();
        ev.source.host = self.config.node_name.clone();
        ev.metadata = berth_api::ObjectMeta::named(
            &pod.metadata.namespace,
            &format!("{}.{:x}", pod.metadata.name, now_ns()),
        );
        let client = self.client.clone();
        tokio::spawn(async move {
            if let Err(e) = client.create(&ev).await {
                tracing::debug!(error = %e, "writing an event");
            }
        });
    }

    /// Whether `image` is present (a positive answer is kept for
    /// [`IMAGE_PRESENT_TTL`]; were it removed meanwhile, CreateContainer
    /// fails and the pod is retried).
    async fn image_present(&self, image: &str) -> Result<bool, AgentError> {
        let fresh = |t: &Instant| t.elapsed() < IMAGE_PRESENT_TTL;
        if self
            .images
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(image)
            .is_some_and(fresh)
        {
            return Ok(true);
        }
        let present = self
            .runtime
            .image_id(image)
            .await
            .map_err(rt(format!("looking up image {image}")))?
            .is_some();
        let mut images = self.images.lock().unwrap_or_else(|p| p.into_inner());
        if present {
            images.insert(image.to_owned(), Instant::now());
        } else {
            images.remove(image);
        }
        images.retain(|_, t| fresh(t));
        Ok(present)
    }

    fn forget(&self, uid: &str) {
        self.written.forget(uid);
        self.told
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(u, _, _)| u != uid);
    }

    /// Stops and removes a sandbox and its containers (SIGTERM, then SIGKILL
    /// after `grace`).
    async fn teardown(&self, sb: &SandboxInfo, grace: Duration) -> Result<(), AgentError> {
        let what = format!("pod {}/{}", sb.namespace, sb.name);
        let containers = self
            .runtime
            .list_containers(Some(&sb.id))
            .await
            .map_err(rt(format!("listing the containers of {what}")))?;
        let stops = containers
            .iter()
            .filter(|c| c.state == ContainerState::Running)
            .map(|c| self.runtime.stop_container(&c.id, grace));
        for r in futures_util::future::join_all(stops).await {
            r.map_err(rt(format!("stopping a container of {what}")))?;
        }
        for c in &containers {
            self.runtime
                .remove_container(&c.id)
                .await
                .map_err(rt(format!("removing a container of {what}")))?;
            self.probes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&c.id);
        }
        self.runtime
            .stop_sandbox(&sb.id)
            .await
            .map_err(rt(format!("stopping the sandbox of {what}")))?;
        self.runtime
            .remove_sandbox(&sb.id)
            .await
            .map_err(rt(format!("removing the sandbox of {what}")))?;
        Ok(())
    }

    async fn sources(&self, pod: &Pod) -> Result<(EnvSources, VolumeSources), AgentError> {
        let ns = &pod.metadata.namespace;
        let mut cms = HashSet::new();
        let mut secrets = HashSet::new();
        for c in &pod.spec.containers {
            for e in &c.env_from {
                if let Some(r) = &e.config_map_ref {
                    cms.insert(r.name.clone());
                }
                if let Some(r) = &e.secret_ref {
                    secrets.insert(r.name.clone());
                }
            }
            for e in c.env.iter().filter_map(|e| e.value_from.as_ref()) {
                if let Some(r) = &e.config_map_key_ref {
                    cms.insert(r.name.clone());
                }
                if let Some(r) = &e.secret_key_ref {
                    secrets.insert(r.name.clone());
                }
            }
        }
        for v in &pod.spec.volumes {
            if let Some(cm) = &v.config_map {
                cms.insert(cm.name.clone());
            }
            if let Some(s) = &v.secret {
                secrets.insert(s.secret_name.clone());
            }
        }
        let mut env = EnvSources::default();
        let mut vols = VolumeSources::default();
        for name in cms {
            if let Some(cm) = self
                .client
                .get::<ConfigMap>(ns, &name)
                .await
                .map_err(api(format!("reading configmap {ns}/{name}")))?
            {
                let mut bytes: BTreeMap<String, Vec<u8>> = cm
                    .data
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                    .collect();
                for (k, v) in &cm.binary_data {
                    bytes.insert(k.clone(), v.0.clone());
                }
                env.config_maps.insert(name.clone(), cm.data.clone());
                vols.config_maps.insert(name, bytes);
            }
        }
        for name in secrets {
            if let Some(s) = self
                .client
                .get::<Secret>(ns, &name)
                .await
                .map_err(api(format!("reading secret {ns}/{name}")))?
            {
                let bytes: BTreeMap<String, Vec<u8>> = s
                    .data
                    .iter()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect();
                env.secrets.insert(
                    name.clone(),
                    bytes
                        .iter()
                        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                        .collect(),
                );
                vols.secrets.insert(name, bytes);
            }
        }
        Ok((env, vols))
    }

    /// Writes `status` if it differs from what the API has; `false` when
    /// the pod changed meanwhile (look again soon: the change may be the
    /// agent's own earlier write, whose event does not queue the pod).
    async fn report(
        &self,
        pod: &Pod,
        status: berth_api::pod::PodStatus,
    ) -> Result<bool, AgentError> {
        if status == pod.status {
            return Ok(true);
        }
        let mut updated = pod.clone();
        updated.status = status;
        match self.client.update_status(&updated).await {
            Ok(p) => {
                self.written.record(&p);
                Ok(true)
            }
            Err(e) if e.is_conflict() => Ok(false),
            // Gone: the deletion queues it again.
            Err(e) if e.is_not_found() => Ok(true),
            Err(e) => Err(api(format!(
                "reporting the status of pod {}/{}",
                pod.metadata.namespace, pod.metadata.name
            ))(e)),
        }
    }

    async fn finish_deletion(
        &self,
        pod: &Pod,
        sandboxes: &[SandboxInfo],
    ) -> Result<(), AgentError> {
        let left = pod
            .metadata
            .deletion_timestamp
            .map(|t| t.unix_seconds() - Time::now().unix_seconds())
            .unwrap_or(0)
            .max(0) as u64;
        for sb in sandboxes.iter().filter(|s| s.uid == pod.metadata.uid) {
            self.event(
                pod,
                EventType::Normal,
                "Killing",
                "",
                format!(
                    "Stopping pod {}/{} (grace {left} s)",
                    pod.metadata.namespace, pod.metadata.name
                ),
            );
            self.teardown(sb, Duration::from_secs(left)).await?;
        }
        volumes::remove(&self.config.state_dir, &pod.metadata.uid);
        self.forget(&pod.metadata.uid);
        let opts = DeleteOptions {
            resource_version: 0,
            grace_period_seconds: Some(0),
        };
        match self
            .client
            .delete(Kind::Pod, &pod.metadata.namespace, &pod.metadata.name, opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(api(format!(
                "deleting pod {}/{}",
                pod.metadata.namespace, pod.metadata.name
            ))(e)),
        }
    }
}

impl<R: Runtime> Reconciler for PodWorker<R> {
    type Error = AgentError;

    fn name(&self) -> &'static str {
        "pod"
    }

    async fn reconcile(&self, key: &ObjectRef) -> Result<Action, AgentError> {
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
        // Sandboxes of a pod that is gone, or of an earlier pod of that name.
        for sb in sandboxes
            .iter()
            .filter(|s| pod.as_ref().is_none_or(|p| p.metadata.uid != s.uid))
        {
            tracing::info!(uid = %sb.uid, "removing the sandbox of a pod that is gone");
            self.teardown(sb, ORPHAN_GRACE).await?;
            volumes::remove(&self.config.state_dir, &sb.uid);
        }
        let Some(pod) = pod else {
            return Ok(Action::Done);
        };
        if pod.metadata.is_deleting() {
            self.finish_deletion(&pod, &sandboxes).await?;
            return Ok(Action::Done);
        }
        if matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed) {
            return Ok(Action::Done);
        }
        let mine: Vec<&SandboxInfo> = sandboxes
            .iter()
            .filter(|s| s.uid == pod.metadata.uid)
            .collect();
        let n = pod.spec.containers.len();
        let mut observed: Vec<Observed> = vec![Observed::default(); n];
        // Images first: nothing is ever pulled.
        let mut images = Vec::with_capacity(n);
        let mut missing = false;
        for (i, c) in pod.spec.containers.iter().enumerate() {
            let image = normalize(&c.image);
            let present = self.image_present(&image).await?;
            if !present {
                missing = true;
                let message = format!(
                    "Container image {:?} is not present on the node and Berth never pulls images \
                     (import it: berth image import)",
                    c.image
                );
                self.event(
                    &pod,
                    EventType::Warning,
                    "ErrImageNeverPull",
                    &c.name,
                    message.clone(),
                );
                observed[i].waiting = Some(Waiting {
                    reason: "ErrImageNeverPull".into(),
                    message,
                });
            }
            images.push(image);
        }
        let ready_sandbox = mine.iter().find(|s| s.ready).map(|s| s.id.clone());
        let sandbox_spec = spec::sandbox(
            &pod,
            mine.len() as u32,
            &self.config.dns,
            &self.config.pod_log_dir,
            &self.config.cgroup_parent,
        );
        let (env_sources, vol_sources) = self.sources(&pod).await?;
        let vols = match volumes::prepare(&pod, &self.config.state_dir, &vol_sources) {
            Ok(v) => v,
            Err(e) => {
                let message = e.to_string();
                self.event(&pod, EventType::Warning, "FailedMount", "", message.clone());
                for o in observed.iter_mut().filter(|o| o.waiting.is_none()) {
                    o.waiting = Some(Waiting {
                        reason: "ContainerCreating".into(),
                        message: message.clone(),
                    });
                }
                let status = pod_status(&pod, &observed, &[], &self.config.node_ips, Time::now());
                self.report(&pod, status).await?;
                return Ok(Action::RequeueAfter(RESYNC * 5));
            }
        };
        let sandbox_id = match ready_sandbox {
            Some(id) => id,
            None if missing => {
                let status = pod_status(&pod, &observed, &[], &self.config.node_ips, Time::now());
                self.report(&pod, status).await?;
                return Ok(Action::RequeueAfter(RESYNC * 5));
            }
            None => {
                for old in mine.iter().filter(|s| !s.ready) {
                    self.teardown(old, ORPHAN_GRACE).await?;
                }
                let mut spec = sandbox_spec.clone();
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
            .sandbox_ips(&sandbox_id)
            .await
            .map_err(rt(format!("reading the sandbox of pod {key}")))?
            .unwrap_or_default();
        let pod_ip = ips.first().cloned().unwrap_or_default();
        let mut containers = self
            .runtime
            .list_containers(Some(&sandbox_id))
            .await
            .map_err(rt(format!("listing the containers of pod {key}")))?;
        // When this pod needs a look again without a change (probes,
        // back-offs); changes come from the watch and the relist.
        let mut next = self.config.sync_period;
        let now = Instant::now();
        // Whether a container was made or started here (then they are
        // listed again).
        let mut changed = false;
        for (i, c) in pod.spec.containers.iter().enumerate() {
            if observed[i].waiting.is_some() {
                continue;
            }
            let mut mine: Vec<&ContainerInfo> =
                containers.iter().filter(|x| x.name == c.name).collect();
            mine.sort_by_key(|x| std::cmp::Reverse(x.attempt));
            let latest = mine.first().map(|x| (*x).clone());
            let create_attempt = match &latest {
                None => Some(0),
                Some(l) if l.state == ContainerState::Created => {
                    changed = true;
                    self.runtime
                        .start_container(&l.id)
                        .await
                        .map_err(rt(format!("starting container {} of pod {key}", c.name)))?;
                    None
                }
                Some(l) if l.state == ContainerState::Exited => {
                    let restart = match pod.spec.restart_policy {
                        RestartPolicy::Always => true,
                        RestartPolicy::OnFailure => l.exit_code != 0,
                        RestartPolicy::Never => false,
                    };
                    if restart {
                        let wait = backoff(self.config.backoff_base, l.attempt);
                        let since = Duration::from_nanos((now_ns() - l.finished_at).max(0) as u64);
                        if since >= wait {
                            Some(l.attempt + 1)
                        } else {
                            let left = wait - since;
                            next = next.min(left);
                            observed[i].waiting = Some(Waiting {
                                reason: "CrashLoopBackOff".into(),
                                message: format!(
                                    "back-off {}s restarting failed container={} pod={}",
                                    wait.as_secs(),
                                    c.name,
                                    key.name
                                ),
                            });
                            self.event(
                                &pod,
                                EventType::Warning,
                                "BackOff",
                                &format!("{}#{}", c.name, l.attempt),
                                "Back-off restarting failed container".into(),
                            );
                            None
                        }
                    } else {
                        None
                    }
                }
                Some(_) => None,
            };
            if let Some(attempt) = create_attempt {
                changed = true;
                let env = match spec::environment(&pod, i, c, &env_sources, &pod_ip) {
                    Ok(e) => e,
                    Err(e) => {
                        observed[i].waiting = Some(Waiting {
                            reason: "CreateContainerConfigError".into(),
                            message: e.to_string(),
                        });
                        self.event(&pod, EventType::Warning, "Failed", &c.name, e.to_string());
                        next = next.min(RESYNC * 5);
                        continue;
                    }
                };
                let cspec = spec::container(
                    c,
                    images[i].clone(),
                    attempt,
                    env,
                    volumes::mounts(&pod, i, &vols),
                );
                let id = self
                    .runtime
                    .create_container(&sandbox_id, &sandbox_spec, &cspec)
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
                if attempt > 0 {
                    self.event(
                        &pod,
                        EventType::Normal,
                        "Started",
                        &format!("{}#{attempt}", c.name),
                        format!("Restarted container {} (restart {attempt})", c.name),
                    );
                } else {
                    self.event(
                        &pod,
                        EventType::Normal,
                        "Started",
                        &c.name,
                        format!("Started container {}", c.name),
                    );
                }
            }
        }
        // What runs now, and the probes.
        if changed {
            containers = self
                .runtime
                .list_containers(Some(&sandbox_id))
                .await
                .map_err(rt(format!("listing the containers of pod {key}")))?;
        }
        for (i, c) in pod.spec.containers.iter().enumerate() {
            let mut mine: Vec<&ContainerInfo> =
                containers.iter().filter(|x| x.name == c.name).collect();
            mine.sort_by_key(|x| std::cmp::Reverse(x.attempt));
            observed[i].latest = mine.first().map(|x| (*x).clone());
            observed[i].previous = mine.get(1).map(|x| (*x).clone());
            let Some(latest) = observed[i].latest.clone() else {
                continue;
            };
            if latest.state != ContainerState::Running {
                observed[i].ready = false;
                continue;
            }
            let (ready, kill) = self.probe(&pod, c, &latest, &pod_ip, now, &mut next).await;
            observed[i].ready = ready;
            if kill {
                self.event(
                    &pod,
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
                next = next.min(Duration::from_millis(100));
            }
        }
        let status = pod_status(&pod, &observed, &ips, &self.config.node_ips, Time::now());
        if !self.report(&pod, status).await? {
            next = next.min(CONFLICT_RETRY);
        }
        // Settled pods wait for a change, or the agent's sync period.
        if next < self.config.sync_period {
            Ok(Action::RequeueAfter(next))
        } else {
            Ok(Action::Done)
        }
    }
}

impl<R: Runtime> PodWorker<R> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_five_minutes() {
        let b = Duration::from_secs(10);
        assert_eq!(backoff(b, 0), Duration::from_secs(10));
        assert_eq!(backoff(b, 1), Duration::from_secs(20));
        assert_eq!(backoff(b, 3), Duration::from_secs(80));
        assert_eq!(backoff(b, 10), MAX_BACKOFF);
    }
}
