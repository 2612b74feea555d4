//! [`Runtime`] over containerd's CRI (v1) on its unix socket.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use super::{
    ContainerBrief, ContainerInfo, ContainerSpec, ContainerState, ExecResult, LABEL_CONTAINER_NAME,
    LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID, Result, Runtime, RuntimeError, SandboxInfo,
    SandboxSpec,
};

/// The CRI cgroup weight of one CPU (Kubernetes' `MilliCPUToShares`).
const SHARES_PER_CPU: i64 = 1024;
/// The CFS period the CPU limit is expressed in (100 ms, as kubelet).
const CFS_PERIOD_US: i64 = 100_000;

/// containerd's CRI.
#[derive(Debug, Clone)]
pub struct CriRuntime {
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

fn call(name: &'static str, what: impl Into<String>) -> impl FnOnce(tonic::Status) -> RuntimeError {
    let what = what.into();
    move |source| RuntimeError::Call {
        call: name,
        what,
        source,
    }
}

impl CriRuntime {
    /// Connects to the CRI server at `socket` (lazily: calls fail until it
    /// listens, and reconnect after a restart of containerd).
    pub fn connect(socket: &Path) -> Result<Self> {
        let socket: PathBuf = socket.to_path_buf();
        let s2 = socket.clone();
        // The URI is required but unused: every connection goes to the socket.
        let channel =
            Endpoint::try_from("http://[::1]:0")
                .map_err(|source| RuntimeError::Connect {
                    socket: s2.clone(),
                    source,
                })?
                .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                    let socket = socket.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?))
                    }
                }));
        Ok(Self {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        })
    }
}

fn labels(spec: &SandboxSpec) -> HashMap<String, String> {
    let mut l: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    l.insert(LABEL_POD_UID.into(), spec.uid.clone());
    l.insert(LABEL_POD_NAMESPACE.into(), spec.namespace.clone());
    l.insert(LABEL_POD_NAME.into(), spec.name.clone());
    l
}

/// The CRI sandbox config of `spec` (CreateContainer needs it again).
fn sandbox_config(spec: &SandboxSpec) -> cri::PodSandboxConfig {
    let network = if spec.host_network {
        cri::NamespaceMode::Node
    } else {
        cri::NamespaceMode::Pod
    };
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: spec.name.clone(),
            uid: spec.uid.clone(),
            namespace: spec.namespace.clone(),
            attempt: spec.attempt,
        }),
        hostname: if spec.host_network {
            String::new()
        } else {
            spec.hostname.clone()
        },
        log_directory: spec.log_directory.to_string_lossy().into_owned(),
        dns_config: spec.dns.as_ref().map(|d| cri::DnsConfig {
            servers: d.servers.clone(),
            searches: d.searches.clone(),
            options: d.options.clone(),
        }),
        labels: labels(spec),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: spec.cgroup_parent.clone(),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: network as i32,
                    pid: cri::NamespaceMode::Container as i32,
                    ipc: cri::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn state_of(state: i32) -> ContainerState {
    match cri::ContainerState::try_from(state) {
        Ok(cri::ContainerState::ContainerCreated) => ContainerState::Created,
        Ok(cri::ContainerState::ContainerRunning) => ContainerState::Running,
        Ok(cri::ContainerState::ContainerExited) => ContainerState::Exited,
        _ => ContainerState::Unknown,
    }
}

impl Runtime for CriRuntime {
    async fn ready(&self) -> Result<bool> {
        let st = self
            .runtime
            .clone()
            .status(cri::StatusRequest { verbose: false })
            .await
            .map_err(call("Status", "runtime"))?
            .into_inner();
        let conds = st.status.map(|s| s.conditions).unwrap_or_default();
        let ok = |t: &str| conds.iter().any(|c| c.r#type == t && c.status);
        Ok(ok("RuntimeReady") && ok("NetworkReady"))
    }

    async fn image_id(&self, image: &str) -> Result<Option<String>> {
        let st = self
            .images
            .clone()
            .image_status(cri::ImageStatusRequest {
                image: Some(cri::ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
                verbose: false,
            })
            .await
            .map_err(call("ImageStatus", image))?
            .into_inner();
        Ok(st.image.map(|i| i.id))
    }

    async fn run_sandbox(&self, spec: &SandboxSpec) -> Result<String> {
        let what = format!("pod {}/{}", spec.namespace, spec.name);
        let r = self
            .runtime
            .clone()
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(sandbox_config(spec)),
                runtime_handler: String::new(),
            })
            .await
            .map_err(call("RunPodSandbox", what))?
            .into_inner();
        Ok(r.pod_sandbox_id)
    }

    async fn stop_sandbox(&self, id: &str) -> Result<()> {
        match self
            .runtime
            .clone()
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(call("StopPodSandbox", id)(s)),
        }
    }

    async fn remove_sandbox(&self, id: &str) -> Result<()> {
        match self
            .runtime
            .clone()
            .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(call("RemovePodSandbox", id)(s)),
        }
    }

    async fn sandbox_ips(&self, id: &str) -> Result<Option<Vec<String>>> {
        let st = match self
            .runtime
            .clone()
            .pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: id.into(),
                verbose: false,
            })
            .await
        {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == tonic::Code::NotFound => return Ok(None),
            Err(s) => return Err(call("PodSandboxStatus", id)(s)),
        };
        let Some(status) = st.status else {
            return Ok(None);
        };
        if status.state != cri::PodSandboxState::SandboxReady as i32 {
            return Ok(None);
        }
        let mut ips = Vec::new();
        if let Some(n) = status.network {
            if !n.ip.is_empty() {
                ips.push(n.ip);
            }
            ips.extend(n.additional_ips.into_iter().map(|i| i.ip));
        }
        Ok(Some(ips))
    }

    async fn list_sandboxes(&self) -> Result<Vec<SandboxInfo>> {
        let r = self
            .runtime
            .clone()
            .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
            .await
            .map_err(call("ListPodSandbox", "all"))?
            .into_inner();
        Ok(r.items
            .into_iter()
            .filter_map(|s| {
                let uid = s.labels.get(LABEL_POD_UID)?.clone();
                let meta = s.metadata.unwrap_or_default();
                Some(SandboxInfo {
                    id: s.id,
                    uid,
                    namespace: meta.namespace,
                    name: meta.name,
                    attempt: meta.attempt,
                    ready: s.state == cri::PodSandboxState::SandboxReady as i32,
                    created_at: s.created_at,
                })
            })
            .collect())
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        sandbox: &SandboxSpec,
        spec: &ContainerSpec,
    ) -> Result<String> {
        let mut labels = labels(sandbox);
        labels.insert(LABEL_CONTAINER_NAME.into(), spec.name.clone());
        let resources = cri::LinuxContainerResources {
            cpu_period: if spec.cpu_limit_milli > 0 {
                CFS_PERIOD_US
            } else {
                0
            },
            cpu_quota: if spec.cpu_limit_milli > 0 {
                (spec.cpu_limit_milli * CFS_PERIOD_US / 1000).max(1000)
            } else {
                0
            },
            cpu_shares: (spec.cpu_request_milli * SHARES_PER_CPU / 1000).max(2),
            memory_limit_in_bytes: spec.memory_limit,
            ..Default::default()
        };
        let config = cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: spec.name.clone(),
                attempt: spec.attempt,
            }),
            image: Some(cri::ImageSpec {
                image: spec.image.clone(),
                ..Default::default()
            }),
            command: spec.command.clone(),
            args: spec.args.clone(),
            working_dir: spec.working_dir.clone(),
            envs: spec
                .env
                .iter()
                .map(|(k, v)| cri::KeyValue {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            mounts: spec
                .mounts
                .iter()
                .map(|m| cri::Mount {
                    container_path: m.container_path.clone(),
                    host_path: m.host_path.to_string_lossy().into_owned(),
                    readonly: m.readonly,
                    ..Default::default()
                })
                .collect(),
            labels,
            log_path: format!("{}/{}.log", spec.name, spec.attempt),
            linux: Some(cri::LinuxContainerConfig {
                resources: Some(resources),
                security_context: Some(cri::LinuxContainerSecurityContext {
                    namespace_options: Some(cri::NamespaceOption {
                        network: if sandbox.host_network {
                            cri::NamespaceMode::Node as i32
                        } else {
                            cri::NamespaceMode::Pod as i32
                        },
                        pid: cri::NamespaceMode::Container as i32,
                        ipc: cri::NamespaceMode::Pod as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        let what = format!(
            "container {} of pod {}/{}",
            spec.name, sandbox.namespace, sandbox.name
        );
        let r = self
            .runtime
            .clone()
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: sandbox_id.into(),
                config: Some(config),
                sandbox_config: Some(sandbox_config(sandbox)),
            })
            .await
            .map_err(call("CreateContainer", what))?
            .into_inner();
        Ok(r.container_id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        self.runtime
            .clone()
            .start_container(cri::StartContainerRequest {
                container_id: id.into(),
            })
            .await
            .map_err(call("StartContainer", id))?;
        Ok(())
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        match self
            .runtime
            .clone()
            .stop_container(cri::StopContainerRequest {
                container_id: id.into(),
                timeout: grace.as_secs() as i64,
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(call("StopContainer", id)(s)),
        }
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        match self
            .runtime
            .clone()
            .remove_container(cri::RemoveContainerRequest {
                container_id: id.into(),
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(call("RemoveContainer", id)(s)),
        }
    }

    async fn list_containers(&self, sandbox_id: Option<&str>) -> Result<Vec<ContainerInfo>> {
        let filter = sandbox_id.map(|s| cri::ContainerFilter {
            pod_sandbox_id: s.into(),
            ..Default::default()
        });
        let list = self
            .runtime
            .clone()
            .list_containers(cri::ListContainersRequest { filter })
            .await
            .map_err(call("ListContainers", sandbox_id.unwrap_or("all")))?
            .into_inner();
        let mut out = Vec::with_capacity(list.containers.len());
        for c in list.containers {
            if !c.labels.contains_key(LABEL_POD_UID) {
                continue;
            }
            // Exit codes and times are in the status only.
            let st = match self
                .runtime
                .clone()
                .container_status(cri::ContainerStatusRequest {
                    container_id: c.id.clone(),
                    verbose: false,
                })
                .await
            {
                Ok(r) => r.into_inner().status,
                Err(s) if s.code() == tonic::Code::NotFound => continue,
                Err(s) => return Err(call("ContainerStatus", c.id.clone())(s)),
            };
            let Some(st) = st else { continue };
            let meta = c.metadata.unwrap_or_default();
            out.push(ContainerInfo {
                id: c.id,
                sandbox_id: c.pod_sandbox_id,
                name: meta.name,
                attempt: meta.attempt,
                state: state_of(st.state),
                created_at: st.created_at,
                started_at: st.started_at,
                finished_at: st.finished_at,
                exit_code: st.exit_code,
                reason: st.reason,
                image: st.image.map(|i| i.image).unwrap_or_default(),
                image_id: st.image_ref,
                log_path: st.log_path,
            });
        }
        Ok(out)
    }

    async fn list_container_states(&self) -> Result<Vec<ContainerBrief>> {
        let list = self
            .runtime
            .clone()
            .list_containers(cri::ListContainersRequest { filter: None })
            .await
            .map_err(call("ListContainers", "all"))?
            .into_inner();
        Ok(list
            .containers
            .into_iter()
            .filter(|c| c.labels.contains_key(LABEL_POD_UID))
            .map(|c| ContainerBrief {
                attempt: c.metadata.map(|m| m.attempt).unwrap_or_default(),
                id: c.id,
                sandbox_id: c.pod_sandbox_id,
                state: state_of(c.state),
            })
            .collect())
    }

    async fn exec_sync(&self, id: &str, cmd: &[String], timeout: Duration) -> Result<ExecResult> {
        let r = self
            .runtime
            .clone()
            .exec_sync(cri::ExecSyncRequest {
                container_id: id.into(),
                cmd: cmd.to_vec(),
                // 0: no limit.
                timeout: timeout.as_secs() as i64,
            })
            .await
            .map_err(call("ExecSync", id))?
            .into_inner();
        Ok(ExecResult {
            exit_code: r.exit_code,
            stdout: r.stdout,
            stderr: r.stderr,
        })
    }
}
