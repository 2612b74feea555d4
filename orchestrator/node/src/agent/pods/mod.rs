//! The pod worker: makes the runtime match each Pod bound to this node,
//! level-triggered and idempotent (one pod at a time per key), and reports
//! what it sees. Everything it needs to pick up after a restart is in the
//! runtime (sandbox and container labels) and the API.
//!
//! A reconcile runs the phases of [`sync`] in turn (kubelet's SyncPod):
//! what exists, images ([`images`]), volumes, the sandbox, the containers,
//! then observe, probe and report ([`observe`]). Stopping pods is
//! [`teardown`]; Events, [`events`]; status writes, [`report`] and
//! [`written`].

mod events;
mod images;
mod observe;
mod report;
mod sources;
mod sync;
mod teardown;
mod written;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::Pod;
use berth_client::Client;
use berth_client::cache::Cache;
use berth_client::runtime::{Action, ObjectRef, Reconciler};
use tokio::time::Instant;

use self::sync::{PodSync, Step};
pub use self::written::Written;
use super::probe::Track;
use super::{AgentConfig, AgentError};
use crate::runtime::Runtime;

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
}

impl<R: Runtime> Reconciler for PodWorker<R> {
    type Error = AgentError;

    fn name(&self) -> &'static str {
        "pod"
    }

    async fn reconcile(&self, key: &ObjectRef) -> Result<Action, AgentError> {
        let Some((pod, sandboxes)) = self.current(key).await? else {
            return Ok(Action::Done);
        };
        let mut s = PodSync::new(key, &pod, self.config.sync_period);
        let images = self.check_images(&mut s).await?;
        let sources = match self.prepare_volumes(&mut s).await? {
            Step::Next(v) => v,
            Step::Stop(action) => return Ok(action),
        };
        let sandbox = match self.ensure_sandbox(&mut s, &sandboxes).await? {
            Step::Next(sb) => sb,
            Step::Stop(action) => return Ok(action),
        };
        let (containers, changed) = self
            .sync_containers(&mut s, &sandbox, &images, &sources)
            .await?;
        self.observe_and_report(s, &sandbox, containers, changed)
            .await
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
