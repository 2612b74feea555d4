//! The agent: registers its Node, renews its Lease, reports the node Ready
//! (with its capacity and address), and runs the pods bound to it through
//! the [`Runtime`] ([`pods::PodWorker`]). It keeps no state of its own: on
//! start it lists the runtime's sandboxes and the API's pods and reconciles
//! both, so a restarted agent adopts the containers that run (same ids) and
//! removes those of pods deleted while it was away.

pub mod pods;
pub mod probe;
pub mod spec;
pub mod status;
pub mod volumes;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_api::lease::{LeaseSpec, NODE_LEASE_NAMESPACE};
use berth_api::meta::ConditionStatus;
use berth_api::node::{NodeAddress, NodeAddressType, NodeCondition};
use berth_api::{Lease, Node, ObjectMeta, Pod, Quantity, Time};
use berth_client::cache::Reflector;
use berth_client::runtime::{ObjectRef, Queue};
use berth_client::{Client, ClientError};

use crate::runtime::{ContainerState, Runtime, RuntimeError};
pub use spec::ClusterDns;

/// Errors of the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// An API call failed.
    #[error("{action}")]
    Api {
        /// What was being done.
        action: String,
        /// Why.
        #[source]
        source: ClientError,
    },
    /// A runtime call failed.
    #[error("{action}")]
    Runtime {
        /// What was being done.
        action: String,
        /// Why.
        #[source]
        source: RuntimeError,
    },
}

/// The agent's settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The Node's name.
    pub node_name: String,
    /// The node's address (`InternalIP`; the pods' `hostIP`).
    pub node_ip: String,
    /// Every address of the node, `node_ip` first (a dual-stack node has
    /// one per family): its `InternalIP`s, the pods' `hostIPs`.
    pub node_ips: Vec<String>,
    /// Node labels.
    pub labels: BTreeMap<String, String>,
    /// The cluster DNS the pods' resolv.conf names.
    pub dns: ClusterDns,
    /// Where container logs go (`<dir>/<ns>_<pod>_<uid>/<container>/<n>.log`).
    pub pod_log_dir: PathBuf,
    /// Volumes and other per-pod state.
    pub state_dir: PathBuf,
    /// The cgroup parent of the pods (cgroup-v2 path, empty: the runtime's).
    pub cgroup_parent: String,
    /// How often the lease is renewed (10 s, as kubelet).
    pub lease_period: Duration,
    /// How often the runtime is relisted (one ListPodSandbox and one
    /// ListContainers for all pods); the pods whose sandboxes or
    /// containers changed since are reconciled (exits, restarts).
    pub resync: Duration,
    /// How often every pod is reconciled even without a change.
    pub sync_period: Duration,
    /// The first restart back-off (10 s, doubling to 5 min).
    pub backoff_base: Duration,
    /// Pods reconciled at once (most of a reconcile is waiting on the
    /// runtime, so more than the CPUs).
    pub workers: usize,
}

impl AgentConfig {
    /// Defaults for `node_name`.
    pub fn new(node_name: &str, node_ip: &str) -> Self {
        Self {
            node_name: node_name.to_owned(),
            node_ip: node_ip.to_owned(),
            node_ips: vec![node_ip.to_owned()],
            labels: BTreeMap::new(),
            dns: ClusterDns {
                servers: vec!["10.96.0.10".into()],
                domain: "cluster.local".into(),
            },
            pod_log_dir: "/var/log/berth/pods".into(),
            state_dir: "/var/lib/berth/agent".into(),
            cgroup_parent: String::new(),
            lease_period: Duration::from_secs(10),
            resync: pods::RESYNC,
            sync_period: pods::SYNC_PERIOD,
            backoff_base: Duration::from_secs(10),
            workers: DEFAULT_WORKERS,
        }
    }
}

/// Pods reconciled at once by default.
pub const DEFAULT_WORKERS: usize = 16;

/// The node's CPU count and memory, from /proc.
fn capacity() -> BTreeMap<String, Quantity> {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let mut c = BTreeMap::new();
    for (k, v) in [
        ("cpu", cpus.to_string()),
        ("memory", format!("{mem_kib}Ki")),
        ("pods", "110".to_string()),
    ] {
        if let Ok(q) = Quantity::parse(&v) {
            c.insert(k.to_owned(), q);
        }
    }
    c
}

fn api(action: impl Into<String>) -> impl FnOnce(ClientError) -> AgentError {
    let action = action.into();
    move |source| AgentError::Api { action, source }
}

/// Creates or takes over the Node and reports it Ready.
pub async fn register(
    client: &Client,
    config: &AgentConfig,
    runtime_version: &str,
) -> Result<Node, AgentError> {
    let name = &config.node_name;
    let mut node = Node {
        metadata: ObjectMeta::named("", name),
        ..Node::default()
    };
    node.metadata.labels = config.labels.clone();
    node.metadata
        .labels
        .insert("kubernetes.io/hostname".into(), name.clone());
    node.metadata
        .labels
        .insert("kubernetes.io/os".into(), "linux".into());
    let node = match client.create(&node).await {
        Ok(n) => n,
        Err(e) if e.is_already_exists() => client
            .get::<Node>("", name)
            .await
            .map_err(api(format!("reading node {name}")))?
            .unwrap_or(node),
        Err(e) => return Err(api(format!("registering node {name}"))(e)),
    };
    report_ready(client, config, node, runtime_version).await
}

async fn report_ready(
    client: &Client,
    config: &AgentConfig,
    mut node: Node,
    runtime_version: &str,
) -> Result<Node, AgentError> {
    let name = config.node_name.clone();
    loop {
        let now = Time::now().truncated();
        let cap = capacity();
        node.status.capacity = cap.clone();
        node.status.allocatable = cap;
        node.status.addresses = config
            .node_ips
            .iter()
            .map(|ip| NodeAddress {
                type_: NodeAddressType::InternalIP,
                address: ip.clone(),
            })
            .chain(std::iter::once(NodeAddress {
                type_: NodeAddressType::Hostname,
                address: name.clone(),
            }))
            .collect();
        let was_ready = node.is_ready();
        let transition = node
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready" && was_ready)
            .and_then(|c| c.last_transition_time)
            .unwrap_or(now);
        node.status.conditions.retain(|c| c.type_ != "Ready");
        node.status.conditions.push(NodeCondition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            last_heartbeat_time: Some(now),
            last_transition_time: Some(transition),
            reason: "KubeletReady".into(),
            message: "berth agent is posting ready status".into(),
        });
        node.status.node_info.kubelet_version = format!("berth-{}", env!("CARGO_PKG_VERSION"));
        node.status.node_info.container_runtime_version = runtime_version.to_owned();
        node.status.node_info.operating_system = "linux".into();
        node.status.node_info.architecture = std::env::consts::ARCH.replace("x86_64", "amd64");
        node.status.node_info.kernel_version =
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default();
        match client.update_status(&node).await {
            Ok(n) => return Ok(n),
            Err(e) if e.is_conflict() => {
                node = client
                    .get::<Node>("", &name)
                    .await
                    .map_err(api(format!("reading node {name}")))?
                    .unwrap_or(node);
            }
            Err(e) => return Err(api(format!("reporting node {name} ready"))(e)),
        }
    }
}

/// Renews (or creates) the node's Lease once.
pub async fn renew_lease(client: &Client, config: &AgentConfig) -> Result<(), AgentError> {
    let name = &config.node_name;
    let now = Time::now();
    let found = client
        .get::<Lease>(NODE_LEASE_NAMESPACE, name)
        .await
        .map_err(api(format!("reading the lease of node {name}")))?;
    match found {
        Some(mut l) => {
            l.spec.renew_time = Some(now);
            l.spec.holder_identity = name.clone();
            client
                .update(&l)
                .await
                .map(|_| ())
                .map_err(api(format!("renewing the lease of node {name}")))
        }
        None => {
            let l = Lease {
                metadata: ObjectMeta::named(NODE_LEASE_NAMESPACE, name),
                spec: LeaseSpec {
                    holder_identity: name.clone(),
                    lease_duration_seconds: Some(40),
                    acquire_time: Some(now),
                    renew_time: Some(now),
                    lease_transitions: None,
                },
                ..Lease::default()
            };
            match client.create(&l).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_already_exists() => Ok(()),
                Err(e) => Err(api(format!("creating the lease of node {name}"))(e)),
            }
        }
    }
}

/// What the relist compares per pod: its sandboxes (id, ready) and their
/// containers (id, attempt, state), sorted.
type Fingerprint = (Vec<(String, bool)>, Vec<(String, u32, ContainerState)>);

/// One listing of the runtime, per pod (namespace, name).
async fn relist<R: Runtime>(runtime: &R) -> Result<HashMap<ObjectRef, Fingerprint>, RuntimeError> {
    let sandboxes = runtime.list_sandboxes().await?;
    let containers = runtime.list_container_states().await?;
    let mut of_sandbox: HashMap<&str, ObjectRef> = HashMap::new();
    let mut out: HashMap<ObjectRef, Fingerprint> = HashMap::new();
    for sb in &sandboxes {
        let key = ObjectRef::new(&sb.namespace, &sb.name);
        of_sandbox.insert(&sb.id, key.clone());
        out.entry(key)
            .or_default()
            .0
            .push((sb.id.clone(), sb.ready));
    }
    for c in containers {
        if let Some(key) = of_sandbox.get(c.sandbox_id.as_str())
            && let Some(fp) = out.get_mut(key)
        {
            fp.1.push((c.id, c.attempt, c.state));
        }
    }
    for fp in out.values_mut() {
        fp.0.sort();
        fp.1.sort();
    }
    Ok(out)
}

/// The running agent.
#[derive(Debug)]
pub struct Agent {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    queue: Queue<ObjectRef>,
    worker: Option<tokio::task::JoinHandle<()>>,
}

impl Agent {
    /// Registers the node and starts everything.
    pub async fn start<R: Runtime>(
        client: Client,
        runtime: Arc<R>,
        config: AgentConfig,
        runtime_version: &str,
    ) -> Result<Self, AgentError> {
        register(&client, &config, runtime_version).await?;
        renew_lease(&client, &config).await?;
        let config = Arc::new(config);
        let queue: Queue<ObjectRef> = Queue::new();
        let mut pods = Reflector::<Pod>::new(client.clone(), "");
        let me = config.node_name.clone();
        let q = queue.clone();
        let written = pods::Written::default();
        let w2 = written.clone();
        pods.on_change(move |n| {
            let ours = [&n.old, &n.new]
                .into_iter()
                .flatten()
                .any(|p| p.spec.node_name == me);
            let echo = matches!((&n.old, &n.new), (Some(o), Some(p)) if w2.is_echo(o, p));
            if ours && !echo {
                q.add(ObjectRef::of(n.object().as_ref()));
            }
        });
        let cache = pods.cache();
        let mut tasks = vec![pods.spawn()];
        // The lease, and the Ready status now and then.
        let (c, cfg, version) = (client.clone(), config.clone(), runtime_version.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u32;
            loop {
                tokio::time::sleep(cfg.lease_period).await;
                if let Err(e) = renew_lease(&c, &cfg).await {
                    tracing::warn!(error = %berth_api::error_chain(&e), "lease");
                }
                n += 1;
                // Every ~minute (or after NotReady), say Ready again.
                let stale = match c.get::<Node>("", &cfg.node_name).await {
                    Ok(Some(node)) => !node.is_ready() || n.is_multiple_of(6),
                    _ => false,
                };
                if stale && let Err(e) = register(&c, &cfg, &version).await {
                    tracing::warn!(error = %berth_api::error_chain(&e), "node status");
                }
            }
        }));
        // The relist: every `resync`, one listing of the runtime's
        // sandboxes and containers; a pod whose sandboxes or containers
        // changed since the last one (an exit, a restart, a sandbox that
        // died, one of a pod deleted while the agent was away: the first
        // relist sees them all) is reconciled. Every `sync_period` every
        // pod is.
        let (rt2, q, cache2, cfg) = (
            runtime.clone(),
            queue.clone(),
            cache.clone(),
            config.clone(),
        );
        tasks.push(tokio::spawn(async move {
            cache2.synced().await;
            let mut seen: HashMap<ObjectRef, Fingerprint> = HashMap::new();
            let mut synced_at: Option<tokio::time::Instant> = None;
            let mut failing = false;
            loop {
                if synced_at.is_none_or(|t| t.elapsed() >= cfg.sync_period) {
                    for p in cache2.filter(|p| p.spec.node_name == cfg.node_name) {
                        q.add(ObjectRef::of(p.as_ref()));
                    }
                    synced_at = Some(tokio::time::Instant::now());
                }
                match relist(rt2.as_ref()).await {
                    Ok(now) => {
                        if failing {
                            tracing::info!("the container runtime answers again");
                            failing = false;
                        }
                        for (key, fp) in &now {
                            if seen.get(key) != Some(fp) {
                                q.add(key.clone());
                            }
                        }
                        for key in seen.keys().filter(|k| !now.contains_key(*k)) {
                            q.add(key.clone());
                        }
                        seen = now;
                    }
                    Err(e) => {
                        if !failing {
                            tracing::warn!(error = %e, "relisting the container runtime");
                            failing = true;
                        }
                    }
                }
                tokio::time::sleep(cfg.resync).await;
            }
        }));
        let worker = Arc::new(pods::PodWorker::new(
            client,
            runtime,
            cache,
            config.clone(),
            written,
        ));
        let w = tokio::spawn(berth_client::runtime::run(
            worker,
            queue.clone(),
            config.workers,
        ));
        Ok(Self {
            tasks,
            queue,
            worker: Some(w),
        })
    }

    /// Pod reconciles ended so far: proof that the agent looked at its
    /// pods (a test that expects "nothing changed" waits for it first).
    pub fn reconciled(&self) -> u64 {
        self.queue.done_count()
    }

    /// Whether no pod waits to be reconciled and none is being.
    pub fn idle(&self) -> bool {
        self.queue.is_idle()
    }

    /// Stops reconciling (the pods keep running: this is an agent restart,
    /// not a drain).
    pub async fn stop(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        self.queue.close();
        if let Some(w) = self.worker.take() {
            let _ = w.await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        self.queue.close();
    }
}
