//! The node's start-up (`berth agent`), as one configured sequence in the
//! manner of linkerd2-proxy: load and validate the configuration, then
//! start, run, and drain on a signal.
//!
//! 1. [`NodeConfig`] (plain data, from the flags) is checked by
//!    [`NodeConfig::validate`] into a [`Startup`]: credentials read, every
//!    value checked ([`ConfigError`] names the flag and the value), nothing
//!    bound or started yet.
//! 2. [`Startup::start`] runs the phases in order, each in a module of its
//!    own: joining ([`join`]: register the Node, wait for its pod CIDRs),
//!    the CNI configuration ([`cni`]), containerd and the sandbox image
//!    ([`containerd`], then berth-cni's GC), the service proxy
//!    ([`dataplane`]), the node's DNS process ([`dns`]), the pod network
//!    across nodes ([`podnet`]) and the agent loop ([`Agent`]). A failed
//!    phase is a [`StartError`].
//! 3. [`RunningNode::run`] waits for the shutdown future (containerd is
//!    supervised meanwhile), then drains: the agent loop, pod network,
//!    proxy and DNS watch stop and the containerd started here stops; the
//!    pods (their shims), the pinned data plane and the DNS process keep
//!    running, so that a restarted agent adopts them.
//!
//! Progress is printed on stdout as `berth agent: ...` lines.

mod cni;
mod config;
mod containerd;
pub mod credential;
mod credentials;
mod dataplane;
mod dns;
mod error;
mod join;
mod podnet;
mod validate;
mod values;

#[cfg(test)]
mod tests;

use std::net::IpAddr;

use berth_client::ClientConfig;
use berth_dataplane::Lb;
use berth_dataplane::kernel::BpfMaps;
use ipnet::IpNet;
use tracing::Instrument as _;

pub use self::cni::LOOPBACK_PLUGIN;
pub use self::config::{
    AgentSettings, CniSettings, ContainerdSettings, NodeConfig, NodeDnsSettings,
};
pub use self::credentials::Credentials;
pub use self::dns::dns_daemon;
pub use self::error::{ConfigError, StartError};
pub use self::join::POD_CIDR_TIMEOUT;
pub use self::values::{NodeIps, PodNetwork, parse_upstream};

use crate::agent::{Agent, AgentConfig, ClusterDns};
use crate::containerd::Supervised;
use crate::podnet::PodNet;
use crate::proxy::Proxy;

/// The runtime version the agent loop reports.
const RUNTIME_VERSION: &str = "containerd://1.6";

/// `--cluster-cidr` parsed: the networks not masqueraded to, or `None`
/// (`none`: no masquerading).
type ClusterNets = Option<Vec<IpNet>>;

/// A validated configuration: ready to [`start`](Startup::start), nothing
/// started yet.
#[derive(Debug)]
pub struct Startup {
    config: NodeConfig,
    client: ClientConfig,
    node_name: String,
    cluster_nets: ClusterNets,
    pod_mtu: Option<u32>,
}

impl Startup {
    /// The Node's name (`--node-name`, or the host name).
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// The pods' MTU written into the CNI configuration (`None`: the
    /// kernel's default).
    pub fn pod_mtu(&self) -> Option<u32> {
        self.pod_mtu
    }

    /// The agent loop's configuration.
    pub fn agent_config(&self) -> AgentConfig {
        let (c, a) = (&self.config, &self.config.agent);
        let mut cfg = AgentConfig::new(&self.node_name, &c.node_ips.primary().to_string());
        cfg.node_ips = c.node_ips.0.iter().map(IpAddr::to_string).collect();
        cfg.lease_period = a.lease_period;
        cfg.dns = ClusterDns {
            servers: vec![a.cluster_dns.clone()],
            domain: a.cluster_domain.clone(),
        };
        cfg.pod_log_dir = a.pod_log_dir.clone();
        cfg.state_dir = c.data_dir.join("pods-state");
        cfg.cgroup_parent = a.cgroup_parent.clone();
        cfg
    }

    /// Runs the phases in order and returns the running node.
    pub async fn start(self) -> Result<RunningNode, StartError> {
        let span = tracing::info_span!("node_start", node = %self.node_name);
        self.start_phases().instrument(span).await
    }

    async fn start_phases(self) -> Result<RunningNode, StartError> {
        let cfg = self.agent_config();
        let Self {
            config,
            client,
            node_name,
            cluster_nets,
            pod_mtu,
        } = self;
        let bootstrap = client;
        let issued = credential::obtain(&bootstrap, &config.data_dir, &node_name).await?;
        let (client, cidrs) = join::join(&issued.client, &cfg).await?;
        let rotation = credential::rotate(client.clone(), bootstrap, node_name.clone(), issued);
        let conflist = cni::write_config(&config, &cidrs, &cluster_nets, pod_mtu)?;
        let (containerd, runtime) = containerd::start(&config).await?;
        cni::gc(&conflist, runtime.as_ref()).await?;
        // The data plane before the pods: a restarted agent adopts the
        // pinned maps and links, so service traffic never stops.
        let proxy = dataplane::start(
            config.dataplane.as_ref(),
            &client,
            &node_name,
            &config.node_ips.0,
        )
        .await?;
        let dns = dns::start(&config).await?;
        let podnet = podnet::start(&config, &client, &node_name);
        let agent = Agent::start(client, runtime, cfg, RUNTIME_VERSION)
            .await
            .map_err(|source| StartError::Agent {
                node: node_name.clone(),
                source: Box::new(source),
            })?;
        println!(
            "berth agent: node {node_name} ({}), pod CIDRs {}, containerd at {}",
            config.node_ips,
            cidrs.join(","),
            containerd.socket().display()
        );
        Ok(RunningNode {
            rotation,
            agent,
            proxy,
            dns,
            podnet,
            containerd: Supervised::spawn(containerd),
        })
    }
}

/// The started node: the agent loop and what runs beside it.
#[derive(Debug)]
pub struct RunningNode {
    /// Rotates the node credential.
    rotation: tokio::task::JoinHandle<()>,
    agent: Agent,
    proxy: Option<Proxy<Lb<BpfMaps>>>,
    dns: Option<tokio::task::JoinHandle<()>>,
    podnet: Option<PodNet>,
    containerd: Supervised,
}

impl RunningNode {
    /// Runs until `shutdown` ends, then drains: stops the agent loop, what
    /// follows the API and the containerd started here; the pods, the data
    /// plane and the DNS process keep running.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        shutdown.await;
        println!("berth agent: stopping (pods, the data plane and DNS keep running)");
        self.drain()
            .instrument(tracing::info_span!("node_drain"))
            .await;
    }

    async fn drain(self) {
        self.rotation.abort();
        if let Some(d) = self.dns {
            d.abort();
        }
        self.agent.stop().await;
        if let Some(p) = self.podnet {
            p.stop();
        }
        if let Some(p) = self.proxy {
            p.stop().await;
        }
        // Dropping the containerd started here stops it (not its shims).
        let _ = self.containerd.stop().await;
    }
}
