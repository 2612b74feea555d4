//! A [`Runtime`] that times every call of the one it wraps: per call kind
//! (count and durations) and, for the calls that make a pod, when they
//! began and ended per pod. The agent runs on it unchanged, so the report
//! can say where a pod's start-up time goes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_node::runtime::{
    ContainerBrief, ContainerInfo, ContainerSpec, ExecResult, Result, Runtime, SandboxInfo,
    SandboxSpec,
};

/// The wall clock, ns since the epoch.
pub fn wall_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// When one call began and ended.
pub type Span = (Instant, Instant);

/// The calls that made one pod (the first of each; restarts are not
/// expected here).
#[derive(Debug, Clone, Default)]
pub struct PodCalls {
    /// RunPodSandbox (the pause container and CNI ADD).
    pub sandbox: Option<Span>,
    /// Its sandbox id and the wall clock (ns since the epoch) when
    /// RunPodSandbox began, to place the CNI calls logged by id.
    pub sandbox_id: String,
    pub sandbox_wall_ns: i64,
    /// CreateContainer.
    pub create: Option<Span>,
    /// StartContainer.
    pub start: Option<Span>,
}

/// What was recorded since the last [`Timed::take`].
#[derive(Debug, Clone, Default)]
pub struct Log {
    /// Pod name → its calls.
    pub pods: HashMap<String, PodCalls>,
    /// Call kind → the duration of each call.
    pub calls: BTreeMap<&'static str, Vec<Duration>>,
}

#[derive(Debug, Default)]
struct State {
    log: Log,
    /// Container id → pod name (to attribute StartContainer).
    containers: HashMap<String, String>,
    /// Every sandbox and container id made (never cleared).
    made: Vec<String>,
}

/// `R`, timed.
#[derive(Debug)]
pub struct Timed<R> {
    inner: R,
    state: Mutex<State>,
}

impl<R: Runtime> Timed<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            state: Mutex::new(State::default()),
        }
    }

    /// What was recorded so far; starts afresh.
    pub fn take(&self) -> Log {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut s.log)
    }

    /// Every sandbox and container id made so far.
    pub fn made(&self) -> Vec<String> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.made.clone()
    }

    fn note(&self, call: &'static str, began: Instant) -> Instant {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.log
            .calls
            .entry(call)
            .or_default()
            .push(now.duration_since(began));
        now
    }

    fn pod(&self, name: &str, f: impl FnOnce(&mut PodCalls)) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(s.log.pods.entry(name.to_owned()).or_default());
    }
}

impl<R: Runtime> Runtime for Timed<R> {
    async fn ready(&self) -> Result<bool> {
        let t = Instant::now();
        let r = self.inner.ready().await;
        self.note("Status", t);
        r
    }

    async fn image_id(&self, image: &str) -> Result<Option<String>> {
        let t = Instant::now();
        let r = self.inner.image_id(image).await;
        self.note("ImageStatus", t);
        r
    }

    async fn run_sandbox(&self, spec: &SandboxSpec) -> Result<String> {
        let wall = wall_ns();
        let t = Instant::now();
        let r = self.inner.run_sandbox(spec).await;
        let end = self.note("RunPodSandbox", t);
        if let Ok(id) = &r {
            self.pod(&spec.name, |p| {
                if p.sandbox.is_none() {
                    p.sandbox = Some((t, end));
                    p.sandbox_id = id.clone();
                    p.sandbox_wall_ns = wall;
                }
            });
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.made.push(id.clone());
        }
        r
    }

    async fn stop_sandbox(&self, id: &str) -> Result<()> {
        let t = Instant::now();
        let r = self.inner.stop_sandbox(id).await;
        self.note("StopPodSandbox", t);
        r
    }

    async fn remove_sandbox(&self, id: &str) -> Result<()> {
        let t = Instant::now();
        let r = self.inner.remove_sandbox(id).await;
        self.note("RemovePodSandbox", t);
        r
    }

    async fn sandbox_ips(&self, id: &str) -> Result<Option<Vec<String>>> {
        let t = Instant::now();
        let r = self.inner.sandbox_ips(id).await;
        self.note("PodSandboxStatus", t);
        r
    }

    async fn list_sandboxes(&self) -> Result<Vec<SandboxInfo>> {
        let t = Instant::now();
        let r = self.inner.list_sandboxes().await;
        self.note("ListPodSandbox", t);
        r
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        sandbox: &SandboxSpec,
        spec: &ContainerSpec,
    ) -> Result<String> {
        let t = Instant::now();
        let r = self.inner.create_container(sandbox_id, sandbox, spec).await;
        let end = self.note("CreateContainer", t);
        if let Ok(id) = &r {
            self.pod(&sandbox.name, |p| {
                p.create.get_or_insert((t, end));
            });
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.containers.insert(id.clone(), sandbox.name.clone());
            s.made.push(id.clone());
        }
        r
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        let t = Instant::now();
        let r = self.inner.start_container(id).await;
        let end = self.note("StartContainer", t);
        let pod = {
            let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.containers.get(id).cloned()
        };
        if let (Ok(()), Some(pod)) = (&r, pod) {
            self.pod(&pod, |p| {
                p.start.get_or_insert((t, end));
            });
        }
        r
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        let t = Instant::now();
        let r = self.inner.stop_container(id, grace).await;
        self.note("StopContainer", t);
        r
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let t = Instant::now();
        let r = self.inner.remove_container(id).await;
        self.note("RemoveContainer", t);
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .containers
            .remove(id);
        r
    }

    async fn list_containers(&self, sandbox_id: Option<&str>) -> Result<Vec<ContainerInfo>> {
        let t = Instant::now();
        let r = self.inner.list_containers(sandbox_id).await;
        self.note("ListContainers", t);
        r
    }

    async fn list_container_states(&self) -> Result<Vec<ContainerBrief>> {
        let t = Instant::now();
        let r = self.inner.list_container_states().await;
        self.note("ListContainers (relist)", t);
        r
    }

    async fn exec_sync(&self, id: &str, cmd: &[String], timeout: Duration) -> Result<ExecResult> {
        let t = Instant::now();
        let r = self.inner.exec_sync(id, cmd, timeout).await;
        self.note("ExecSync", t);
        r
    }
}
