//! [`NodeConfig`]: everything the node's start-up is given, grouped by the
//! phase that uses it. Plain data, checked by
//! [`NodeConfig::validate`](super::NodeConfig::validate) before anything
//! is started.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use berth_cni::containerd::ContainerdConfig;

use super::credentials::Credentials;
use super::values::{NodeIps, PodNetwork};
use crate::proxy::DataplaneSettings;

/// The node's whole start-up configuration (`berth agent`'s flags).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// How the node joins the cluster.
    pub credentials: Credentials,
    /// The Node's name; `None`: the host name (`--node-name`).
    pub node_name: Option<String>,
    /// The node's addresses, its InternalIPs (`--node-ip`).
    pub node_ips: NodeIps,
    /// The berth binary: linked into the CNI bin dir as `berth-cni`, run
    /// as the node's DNS process.
    pub berth_binary: PathBuf,
    /// Persistent state: containerd's root, CNI reservations, volumes
    /// (`--data-dir`).
    pub data_dir: PathBuf,
    /// Runtime state: containerd's state and socket, pid files
    /// (`--run-dir`).
    pub run_dir: PathBuf,
    /// The pods' CNI configuration.
    pub cni: CniSettings,
    /// The container runtime.
    pub containerd: ContainerdSettings,
    /// The service proxy's data plane; `None`: no proxy on this node
    /// (`--no-dataplane`).
    pub dataplane: Option<DataplaneSettings>,
    /// The node's DNS process; `None`: none (`--no-dns`).
    pub dns: Option<NodeDnsSettings>,
    /// How other nodes' pods are reached (`--pod-network`).
    pub pod_network: PodNetwork,
    /// What the agent loop gives the pods and the Node.
    pub agent: AgentSettings,
}

/// The CNI configuration the agent writes for berth-cni.
#[derive(Debug, Clone)]
pub struct CniSettings {
    /// CNI plugin binaries; berth-cni and loopback are linked here
    /// (`--cni-bin-dir`).
    pub bin_dir: PathBuf,
    /// Where `10-berth.conflist` is written (`--cni-conf-dir`).
    pub conf_dir: PathBuf,
    /// The pods' bridge (`--bridge`).
    pub bridge: String,
    /// The cluster's pod CIDRs, comma separated, or `none`
    /// (`--cluster-cidr`): traffic to them is not masqueraded.
    pub cluster_cidr: String,
}

/// The containerd the pods run on.
#[derive(Debug, Clone)]
pub struct ContainerdSettings {
    /// A containerd someone else runs (its CRI socket); `None`: the agent
    /// starts (or adopts) its own (`--container-runtime-endpoint`).
    pub endpoint: Option<PathBuf>,
    /// The sandbox (pause) image, built and imported when missing
    /// (`--sandbox-image`).
    pub sandbox_image: String,
}

/// The node's DNS process (`berth dns` on a node-local address).
#[derive(Debug, Clone)]
pub struct NodeDnsSettings {
    /// The address it listens on, port 53 (`--dns-address`).
    pub address: IpAddr,
    /// The dummy link that carries the address (`--dns-interface`).
    pub interface: String,
    /// Upstream resolvers; none: names outside the cluster are REFUSED
    /// (`--dns-upstream`).
    pub upstreams: Vec<SocketAddr>,
    /// Where it serves /healthz, /readyz and /metrics
    /// (`--dns-metrics-listen`).
    pub metrics_listen: Option<SocketAddr>,
}

/// The agent loop's settings.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// The cluster DNS address pods' resolv.conf names (`--cluster-dns`).
    pub cluster_dns: String,
    /// The cluster domain (`--cluster-domain`).
    pub cluster_domain: String,
    /// Where container logs go (`--pod-log-dir`).
    pub pod_log_dir: PathBuf,
    /// The pods' cgroup parent; empty: containerd's (`--cgroup-parent`).
    pub cgroup_parent: String,
    /// How often the node's Lease is renewed (`--node-lease-period`).
    pub lease_period: Duration,
}

impl NodeConfig {
    /// The configuration of the containerd the agent starts: its root
    /// under the data dir, its state and socket under the run dir.
    pub fn containerd_config(&self) -> ContainerdConfig {
        ContainerdConfig::new(
            self.data_dir.join("containerd"),
            self.run_dir.join("containerd"),
            self.containerd_socket(),
            &self.containerd.sandbox_image,
            &self.cni.bin_dir,
            &self.cni.conf_dir,
        )
    }

    /// Where that containerd's config.toml and log go.
    pub fn containerd_dir(&self) -> PathBuf {
        self.data_dir.join("containerd-config")
    }

    /// The socket of the containerd the agent starts.
    pub fn containerd_socket(&self) -> PathBuf {
        self.run_dir.join("containerd").join("containerd.sock")
    }
}
