//! The container runtime as the agent needs it: pod sandboxes, containers,
//! images and exec. [`cri::CriRuntime`] speaks containerd's CRI;
//! [`fake::FakeRuntime`] keeps everything in memory for unit tests.
//!
//! The agent finds its pods again after a restart from the labels it puts
//! on every sandbox and container ([`LABEL_POD_UID`], ...), so nothing of
//! its own state has to survive it.

pub mod cri;
pub mod fake;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// The pod's uid, on sandboxes and containers.
pub const LABEL_POD_UID: &str = "berth.io/pod-uid";
/// The pod's namespace.
pub const LABEL_POD_NAMESPACE: &str = "berth.io/pod-namespace";
/// The pod's name.
pub const LABEL_POD_NAME: &str = "berth.io/pod-name";
/// The container's name in the pod spec.
pub const LABEL_CONTAINER_NAME: &str = "berth.io/container-name";

/// Errors of the runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime's socket could not be reached.
    #[error("connecting to the container runtime at {socket}")]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// A call failed.
    #[error("CRI {call} {what}: {}", source.message())]
    Call {
        /// The CRI call (`RunPodSandbox`).
        call: &'static str,
        /// What it was about.
        what: String,
        /// The runtime's status.
        #[source]
        source: tonic::Status,
    },
    /// The object does not exist (any more).
    #[error("{what} not found in the container runtime")]
    NotFound {
        /// What was looked for.
        what: String,
    },
}

impl RuntimeError {
    /// Whether the object is gone.
    pub fn is_not_found(&self) -> bool {
        match self {
            RuntimeError::NotFound { .. } => true,
            RuntimeError::Call { source, .. } => source.code() == tonic::Code::NotFound,
            RuntimeError::Connect { .. } => false,
        }
    }
}

/// The result of runtime calls.
pub type Result<T> = std::result::Result<T, RuntimeError>;

/// `/etc/resolv.conf` of a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    /// `nameserver` lines.
    pub servers: Vec<String>,
    /// The `search` line.
    pub searches: Vec<String>,
    /// The `options` line (`ndots:5`).
    pub options: Vec<String>,
}

/// What a pod sandbox is made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxSpec {
    /// The pod's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its uid.
    pub uid: String,
    /// How many sandboxes this pod had before.
    pub attempt: u32,
    /// The hostname.
    pub hostname: String,
    /// Labels (the `berth.io/*` ones are added by the runtime).
    pub labels: BTreeMap<String, String>,
    /// Where the containers' logs go (`<dir>/<container>/<attempt>.log`).
    pub log_directory: PathBuf,
    /// The cgroup parent (cgroup-v2 path).
    pub cgroup_parent: String,
    /// Share the node's network namespace.
    pub host_network: bool,
    /// resolv.conf (`None` with host networking: the node's own).
    pub dns: Option<DnsConfig>,
}

/// A sandbox as the runtime lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxInfo {
    /// The runtime's id.
    pub id: String,
    /// The pod's uid (from the labels).
    pub uid: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The attempt.
    pub attempt: u32,
    /// Running (its network is set up).
    pub ready: bool,
    /// When it was made (ns since the epoch).
    pub created_at: i64,
}

/// A bind mount into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// On the node.
    pub host_path: PathBuf,
    /// In the container.
    pub container_path: String,
    /// Read-only.
    pub readonly: bool,
}

/// What a container is made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    /// Its name in the pod.
    pub name: String,
    /// How many times it was made before (restarts).
    pub attempt: u32,
    /// The (normalised) image reference.
    pub image: String,
    /// Entrypoint override.
    pub command: Vec<String>,
    /// Arguments override.
    pub args: Vec<String>,
    /// Environment, in order.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub working_dir: String,
    /// Mounts.
    pub mounts: Vec<MountSpec>,
    /// CPU limit in millicores (0: none).
    pub cpu_limit_milli: i64,
    /// CPU request in millicores (the cgroup weight).
    pub cpu_request_milli: i64,
    /// Memory limit in bytes (0: none).
    pub memory_limit: i64,
}

/// The state of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContainerState {
    /// Made, not started.
    Created,
    /// Running.
    Running,
    /// Ended.
    Exited,
    /// The runtime does not know.
    Unknown,
}

/// A container as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The runtime's id.
    pub id: String,
    /// Its sandbox.
    pub sandbox_id: String,
    /// Its name in the pod.
    pub name: String,
    /// The attempt.
    pub attempt: u32,
    /// The state.
    pub state: ContainerState,
    /// Made (ns).
    pub created_at: i64,
    /// Started (ns, 0: never).
    pub started_at: i64,
    /// Ended (ns, 0: not yet).
    pub finished_at: i64,
    /// Exit code, when ended.
    pub exit_code: i32,
    /// Why it ended (`Completed`, `Error`, `OOMKilled`).
    pub reason: String,
    /// The image as asked for.
    pub image: String,
    /// The image's id.
    pub image_id: String,
    /// Where its log is.
    pub log_path: String,
}

/// A container as a cheap listing reports it: no exit code, no times
/// (CRI's ListContainers alone, without a ContainerStatus per container).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerBrief {
    /// The runtime's id.
    pub id: String,
    /// Its sandbox.
    pub sandbox_id: String,
    /// The attempt.
    pub attempt: u32,
    /// The state.
    pub state: ContainerState,
}

impl From<&ContainerInfo> for ContainerBrief {
    fn from(c: &ContainerInfo) -> Self {
        Self {
            id: c.id.clone(),
            sandbox_id: c.sandbox_id.clone(),
            attempt: c.attempt,
            state: c.state,
        }
    }
}

/// What a command run in a container did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecResult {
    /// Its exit code.
    pub exit_code: i32,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
}

/// The container runtime, as the agent uses it. Every method is
/// idempotent where CRI is: removing what is gone is not an error.
pub trait Runtime: Send + Sync + 'static {
    /// Whether the runtime and its network are ready.
    fn ready(&self) -> impl Future<Output = Result<bool>> + Send;

    /// The image's id if it is present (nothing is ever pulled).
    fn image_id(&self, image: &str) -> impl Future<Output = Result<Option<String>>> + Send;

    /// Makes and starts a sandbox; returns its id.
    fn run_sandbox(&self, spec: &SandboxSpec) -> impl Future<Output = Result<String>> + Send;

    /// Stops a sandbox (its containers, its network).
    fn stop_sandbox(&self, id: &str) -> impl Future<Output = Result<()>> + Send;

    /// Removes a stopped sandbox.
    fn remove_sandbox(&self, id: &str) -> impl Future<Output = Result<()>> + Send;

    /// The sandbox's addresses, if it runs (`None` if not ready).
    fn sandbox_ips(&self, id: &str) -> impl Future<Output = Result<Option<Vec<String>>>> + Send;

    /// Every sandbox the agent made.
    fn list_sandboxes(&self) -> impl Future<Output = Result<Vec<SandboxInfo>>> + Send;

    /// Makes a container in a sandbox; returns its id.
    fn create_container(
        &self,
        sandbox_id: &str,
        sandbox: &SandboxSpec,
        spec: &ContainerSpec,
    ) -> impl Future<Output = Result<String>> + Send;

    /// Starts a made container.
    fn start_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;

    /// Stops a container: SIGTERM, then SIGKILL after `grace`.
    fn stop_container(&self, id: &str, grace: Duration) -> impl Future<Output = Result<()>> + Send;

    /// Removes a container.
    fn remove_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;

    /// The containers of a sandbox (every sandbox: `None`).
    fn list_containers(
        &self,
        sandbox_id: Option<&str>,
    ) -> impl Future<Output = Result<Vec<ContainerInfo>>> + Send;

    /// Every container the agent made, in one cheap call (ids and states
    /// only: what the agent's periodic relist compares). By default from
    /// [`list_containers`](Runtime::list_containers).
    fn list_container_states(&self) -> impl Future<Output = Result<Vec<ContainerBrief>>> + Send {
        async move {
            Ok(self
                .list_containers(None)
                .await?
                .iter()
                .map(ContainerBrief::from)
                .collect())
        }
    }

    /// Runs `cmd` in a container and waits for it (at most `timeout`).
    fn exec_sync(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> impl Future<Output = Result<ExecResult>> + Send;
}
