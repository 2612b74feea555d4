//! An in-memory [`Runtime`] for unit tests: sandboxes get addresses from a
//! counter, containers "run" until stopped or [`FakeRuntime::exit`]ed,
//! images are present when [`FakeRuntime::add_image`] said so, and exec
//! answers what [`FakeRuntime::set_exec`] set.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{
    ContainerInfo, ContainerSpec, ContainerState, ExecResult, Result, Runtime, RuntimeError,
    SandboxInfo, SandboxSpec,
};

#[derive(Debug, Default)]
struct State {
    next: u64,
    images: BTreeSet<String>,
    sandboxes: BTreeMap<String, (SandboxSpec, bool, String)>,
    containers: BTreeMap<String, ContainerInfo>,
    exec: BTreeMap<(String, String), ExecResult>,
    calls: Vec<String>,
}

/// The fake runtime. Cheap to clone; clones share state.
#[derive(Debug, Clone, Default)]
pub struct FakeRuntime {
    state: Arc<Mutex<State>>,
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl FakeRuntime {
    /// An empty runtime.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `image` present.
    pub fn add_image(&self, image: &str) {
        self.lock().images.insert(image.to_owned());
    }

    /// Ends container `name` of pod `uid` with `exit_code`.
    pub fn exit(&self, uid: &str, name: &str, exit_code: i32) {
        let mut s = self.lock();
        let sandboxes: BTreeSet<String> = s
            .sandboxes
            .iter()
            .filter(|(_, (spec, _, _))| spec.uid == uid)
            .map(|(id, _)| id.clone())
            .collect();
        for c in s.containers.values_mut() {
            if sandboxes.contains(&c.sandbox_id)
                && c.name == name
                && c.state == ContainerState::Running
            {
                c.state = ContainerState::Exited;
                c.exit_code = exit_code;
                c.finished_at = now_ns();
                c.reason = if exit_code == 0 { "Completed" } else { "Error" }.into();
            }
        }
    }

    /// What `cmd` (joined by spaces) in container `name` answers.
    pub fn set_exec(&self, name: &str, cmd: &str, result: ExecResult) {
        self.lock()
            .exec
            .insert((name.to_owned(), cmd.to_owned()), result);
    }

    /// Every call made, in order (`RunPodSandbox default/web`, ...).
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Containers, all sandboxes.
    pub fn containers(&self) -> Vec<ContainerInfo> {
        self.lock().containers.values().cloned().collect()
    }

    /// How many sandboxes exist.
    pub fn sandbox_count(&self) -> usize {
        self.lock().sandboxes.len()
    }
}

impl Runtime for FakeRuntime {
    async fn ready(&self) -> Result<bool> {
        Ok(true)
    }

    async fn image_id(&self, image: &str) -> Result<Option<String>> {
        Ok(self
            .lock()
            .images
            .contains(image)
            .then(|| format!("sha256:{image}")))
    }

    async fn run_sandbox(&self, spec: &SandboxSpec) -> Result<String> {
        let mut s = self.lock();
        s.next += 1;
        let id = format!("sandbox-{}", s.next);
        let ip = format!("10.244.0.{}", s.next % 250 + 2);
        s.calls
            .push(format!("RunPodSandbox {}/{}", spec.namespace, spec.name));
        s.sandboxes.insert(id.clone(), (spec.clone(), true, ip));
        Ok(id)
    }

    async fn stop_sandbox(&self, id: &str) -> Result<()> {
        let mut s = self.lock();
        s.calls.push(format!("StopPodSandbox {id}"));
        if let Some(sb) = s.sandboxes.get_mut(id) {
            sb.1 = false;
        }
        for c in s.containers.values_mut().filter(|c| c.sandbox_id == id) {
            if c.state == ContainerState::Running {
                c.state = ContainerState::Exited;
                c.exit_code = 137;
                c.finished_at = now_ns();
            }
        }
        Ok(())
    }

    async fn remove_sandbox(&self, id: &str) -> Result<()> {
        let mut s = self.lock();
        s.calls.push(format!("RemovePodSandbox {id}"));
        s.sandboxes.remove(id);
        s.containers.retain(|_, c| c.sandbox_id != id);
        Ok(())
    }

    async fn sandbox_ips(&self, id: &str) -> Result<Option<Vec<String>>> {
        Ok(self
            .lock()
            .sandboxes
            .get(id)
            .filter(|sb| sb.1)
            .map(|sb| vec![sb.2.clone()]))
    }

    async fn list_sandboxes(&self) -> Result<Vec<SandboxInfo>> {
        Ok(self
            .lock()
            .sandboxes
            .iter()
            .map(|(id, (spec, ready, _))| SandboxInfo {
                id: id.clone(),
                uid: spec.uid.clone(),
                namespace: spec.namespace.clone(),
                name: spec.name.clone(),
                attempt: spec.attempt,
                ready: *ready,
                created_at: 0,
            })
            .collect())
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        _sandbox: &SandboxSpec,
        spec: &ContainerSpec,
    ) -> Result<String> {
        let mut s = self.lock();
        if !s.images.contains(&spec.image) {
            return Err(RuntimeError::NotFound {
                what: format!("image {}", spec.image),
            });
        }
        s.next += 1;
        let id = format!("container-{}", s.next);
        s.calls.push(format!("CreateContainer {}", spec.name));
        s.containers.insert(
            id.clone(),
            ContainerInfo {
                id: id.clone(),
                sandbox_id: sandbox_id.into(),
                name: spec.name.clone(),
                attempt: spec.attempt,
                state: ContainerState::Created,
                created_at: now_ns(),
                started_at: 0,
                finished_at: 0,
                exit_code: 0,
                reason: String::new(),
                image: spec.image.clone(),
                image_id: format!("sha256:{}", spec.image),
                log_path: format!("{}/{}.log", spec.name, spec.attempt),
            },
        );
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        let mut s = self.lock();
        s.calls.push(format!("StartContainer {id}"));
        let c = s.containers.get_mut(id).ok_or(RuntimeError::NotFound {
            what: format!("container {id}"),
        })?;
        c.state = ContainerState::Running;
        c.started_at = now_ns();
        Ok(())
    }

    async fn stop_container(&self, id: &str, _grace: Duration) -> Result<()> {
        let mut s = self.lock();
        s.calls.push(format!("StopContainer {id}"));
        if let Some(c) = s.containers.get_mut(id)
            && c.state == ContainerState::Running
        {
            c.state = ContainerState::Exited;
            c.exit_code = 143;
            c.finished_at = now_ns();
            c.reason = "Error".into();
        }
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let mut s = self.lock();
        s.calls.push(format!("RemoveContainer {id}"));
        s.containers.remove(id);
        Ok(())
    }

    async fn list_containers(&self, sandbox_id: Option<&str>) -> Result<Vec<ContainerInfo>> {
        Ok(self
            .lock()
            .containers
            .values()
            .filter(|c| sandbox_id.is_none_or(|s| c.sandbox_id == s))
            .cloned()
            .collect())
    }

    async fn exec_sync(&self, id: &str, cmd: &[String], _timeout: Duration) -> Result<ExecResult> {
        let s = self.lock();
        let name = s
            .containers
            .get(id)
            .map(|c| c.name.clone())
            .ok_or(RuntimeError::NotFound {
                what: format!("container {id}"),
            })?;
        Ok(s.exec
            .get(&(name, cmd.join(" ")))
            .cloned()
            .unwrap_or_default())
    }
}
