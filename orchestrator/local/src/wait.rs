//! The waits of `berth up`: the server answering, a node Ready, the
//! agent's containerd answering CRI calls, the demo's pods Ready. Each
//! polls until done, fails at once when the daemon it waits on has exited,
//! and gives up after a generous timeout (it only catches hangs).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_api::{Node, Pod};
use berth_client::{Client, ClientConfig, ClientError};
use berth_node::runtime::cri::CriRuntime;
use berth_node::runtime::{ContainerState, Runtime as _, RuntimeError};

use crate::demo;
use berth_node::daemon::Daemon;

/// How long the server may take to serve.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the node (and its containerd) may take to be Ready.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the demo's pods may take to be Ready.
pub const PODS_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a wait ended without what it waited for.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The daemon waited on is gone.
    #[error("berth {daemon} exited; its log: {}", log.display())]
    Exited {
        /// The daemon (`server`, `agent`).
        daemon: String,
        /// Its log.
        log: PathBuf,
    },
    /// The server did not answer a node list in time.
    #[error("berth server did not serve within {within:?}; its log: {}", log.display())]
    Server {
        /// The timeout.
        within: Duration,
        /// The server's log.
        log: PathBuf,
    },
    /// No node became Ready in time.
    #[error("no node Ready within {within:?}; the agent's log: {}", log.display())]
    Node {
        /// The timeout.
        within: Duration,
        /// The agent's log.
        log: PathBuf,
    },
    /// The agent's containerd did not answer in time.
    #[error(
        "containerd did not answer on {} within {within:?}; the agent's log: {}",
        socket.display(),
        log.display()
    )]
    Containerd {
        /// Its socket.
        socket: PathBuf,
        /// The timeout.
        within: Duration,
        /// The agent's log.
        log: PathBuf,
    },
    /// The demo's pods were not Ready in time.
    #[error(
        "the demo's pods were not Ready within {within:?} ({ready} of {replicas} replicas; client Ready: {client_ready})"
    )]
    Pods {
        /// The timeout.
        within: Duration,
        /// Replicas Ready.
        ready: usize,
        /// Replicas wanted.
        replicas: usize,
        /// Whether the client pod was Ready.
        client_ready: bool,
    },
    /// The server refused a list.
    #[error("listing {what} while waiting")]
    List {
        /// What was listed (`nodes`, `pods`).
        what: &'static str,
        /// The server's answer.
        #[source]
        source: ClientError,
    },
    /// containerd refused the container list.
    #[error("listing containers while waiting for the demo's pods")]
    Containers {
        /// The runtime's answer.
        #[source]
        source: RuntimeError,
    },
}

/// The end of one round of a wait: an error if `daemon` has exited, or
/// `late()` once `deadline` has passed; else a pause of `every`.
async fn next_round(
    daemon: &Daemon,
    deadline: Instant,
    every: Duration,
    late: impl FnOnce() -> WaitError,
) -> Result<(), WaitError> {
    if !daemon.is_alive() {
        return Err(WaitError::Exited {
            daemon: daemon.name().to_owned(),
            log: daemon.log().to_path_buf(),
        });
    }
    if Instant::now() > deadline {
        return Err(late());
    }
    tokio::time::sleep(every).await;
    Ok(())
}

/// Waits until the server, with the credentials at `admin`, answers a
/// node list; its client.
pub async fn server(admin: &Path, server: &Daemon) -> Result<Client, WaitError> {
    let deadline = Instant::now() + SERVER_TIMEOUT;
    loop {
        if let Ok(cfg) = ClientConfig::load(admin)
            && let Ok(api) = berth_client::connect(&cfg).await
        {
            let client = Client::remote(api);
            if client.list::<Node>("", "").await.is_ok() {
                return Ok(client);
            }
        }
        next_round(server, deadline, Duration::from_millis(100), || {
            WaitError::Server {
                within: SERVER_TIMEOUT,
                log: server.log().to_path_buf(),
            }
        })
        .await?;
    }
}

/// Waits until a node is Ready; that node.
pub async fn node(client: &Client, agent: &Daemon) -> Result<Node, WaitError> {
    let deadline = Instant::now() + NODE_TIMEOUT;
    loop {
        let nodes = client
            .list::<Node>("", "")
            .await
            .map_err(|source| WaitError::List {
                what: "nodes",
                source,
            })?
            .items;
        if let Some(n) = nodes.into_iter().find(|n| n.is_ready()) {
            return Ok(n);
        }
        next_round(agent, deadline, Duration::from_millis(200), || {
            WaitError::Node {
                within: NODE_TIMEOUT,
                log: agent.log().to_path_buf(),
            }
        })
        .await?;
    }
}

/// Waits until the agent's containerd at `socket` answers CRI calls.
pub async fn containerd(socket: &Path, agent: &Daemon) -> Result<CriRuntime, WaitError> {
    let deadline = Instant::now() + NODE_TIMEOUT;
    loop {
        if socket.exists()
            && let Ok(runtime) = CriRuntime::connect(socket)
            && runtime.ready().await.unwrap_or(false)
        {
            return Ok(runtime);
        }
        next_round(agent, deadline, Duration::from_millis(200), || {
            WaitError::Containerd {
                socket: socket.to_path_buf(),
                within: NODE_TIMEOUT,
                log: agent.log().to_path_buf(),
            }
        })
        .await?;
    }
}

/// Whether every container the pod's status names runs in `running` (a
/// status written before `berth down` names containers that are gone).
fn status_is_current(pod: &Pod, running: &HashSet<String>) -> bool {
    !pod.status.container_statuses.is_empty()
        && pod.status.container_statuses.iter().all(|c| {
            c.container_id
                .strip_prefix("containerd://")
                .is_some_and(|id| running.contains(id))
        })
}

/// Waits until the demo's [`demo::REPLICAS`] web pods and its client pod
/// are Ready with containers that run now; the web pods.
pub async fn demo_pods(
    client: &Client,
    runtime: &CriRuntime,
    agent: &Daemon,
) -> Result<Vec<Pod>, WaitError> {
    let deadline = Instant::now() + PODS_TIMEOUT;
    loop {
        let running: HashSet<String> = runtime
            .list_container_states()
            .await
            .map_err(|source| WaitError::Containers { source })?
            .into_iter()
            .filter(|c| c.state == ContainerState::Running)
            .map(|c| c.id)
            .collect();
        let pods: Vec<Pod> = client
            .list::<Pod>(demo::NAMESPACE, "")
            .await
            .map_err(|source| WaitError::List {
                what: "pods",
                source,
            })?
            .items
            .into_iter()
            .filter(|p| status_is_current(p, &running))
            .collect();
        let web: Vec<Pod> = pods
            .iter()
            .filter(|p| p.metadata.labels.get("app").map(String::as_str) == Some(demo::SERVICE))
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .cloned()
            .collect();
        let ready = web.iter().filter(|p| p.is_ready()).count();
        let client_ready = pods
            .iter()
            .any(|p| p.metadata.name == demo::CLIENT && p.is_ready());
        if ready == demo::REPLICAS && web.len() == demo::REPLICAS && client_ready {
            return Ok(web);
        }
        next_round(agent, deadline, Duration::from_millis(200), || {
            WaitError::Pods {
                within: PODS_TIMEOUT,
                ready,
                replicas: demo::REPLICAS,
                client_ready,
            }
        })
        .await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_from_before_a_restart_is_not_current() {
        let mut pod = Pod::default();
        let running: HashSet<String> = ["c1".to_owned()].into();
        assert!(!status_is_current(&pod, &running), "no statuses yet");
        pod.status.container_statuses = vec![Default::default()];
        pod.status.container_statuses[0].container_id = "containerd://c1".into();
        assert!(status_is_current(&pod, &running));
        pod.status.container_statuses[0].container_id = "containerd://gone".into();
        assert!(!status_is_current(&pod, &running));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_wait_on_an_exited_daemon_names_it_and_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let d = Daemon::new(
            "agent",
            Path::new("/bin/true"),
            Vec::<String>::new(),
            dir.join("agent.pid"),
            dir.join("agent.log"),
        );
        let e = next_round(&d, Instant::now(), Duration::from_secs(1), || {
            unreachable!("exited comes first")
        })
        .await
        .unwrap_err();
        assert!(matches!(e, WaitError::Exited { ref daemon, .. } if daemon == "agent"));
        assert!(e.to_string().contains("agent.log"), "{e}");
    }
}
