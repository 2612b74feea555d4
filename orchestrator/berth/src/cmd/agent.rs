//! `berth agent`: the node agent. Maps its flags onto berth-node's
//! [`NodeConfig`] and runs that start-up ([`berth_node::startup`]):
//! registers the Node, waits for its pod CIDR, writes the CNI configuration
//! for berth-cni, starts (or adopts) its own containerd unless
//! `--container-runtime-endpoint` names one, imports a pause image built
//! here if missing, starts the service proxy, the node's DNS process and
//! the pod network, and runs the pods bound to the node until
//! SIGINT/SIGTERM. Stopping the agent leaves the pods running: a restarted
//! agent adopts them.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context as _;
use berth_node::podnet::netlink::NetlinkLinks;
use berth_node::proxy::DataplaneSettings;
use berth_node::startup::{
    AgentSettings, CniSettings, ContainerdSettings, Credentials, NodeConfig, NodeDnsSettings,
    NodeIps, PodNetwork, parse_upstream,
};
use clap::Args;

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The API server (`https://HOST:6443`).
    #[arg(long)]
    pub server: String,
    /// The node token (the server's `<data-dir>/node-token`).
    #[arg(long, value_name = "FILE")]
    pub token_file: PathBuf,
    /// The cluster CA (default: `ca.crt` next to the token file).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// The Node's name (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// The node's addresses (InternalIPs): one, or an IPv4 and an IPv6 one
    /// separated by a comma for a dual-stack node (kubelet's form). The
    /// first is the pods' hostIP; the pod network reaches other nodes'
    /// pods of each family through the address of that family.
    #[arg(long, default_value = "127.0.0.1", value_parser = clap::value_parser!(NodeIps))]
    pub node_ip: NodeIps,
    /// Use this containerd (its CRI socket) instead of starting one.
    #[arg(long, value_name = "SOCKET")]
    pub container_runtime_endpoint: Option<PathBuf>,
    /// Persistent state: containerd's root, CNI reservations, volumes.
    #[arg(long, default_value = "/var/lib/berth/agent")]
    pub data_dir: PathBuf,
    /// Runtime state: containerd's state and socket.
    #[arg(long, default_value = "/run/berth")]
    pub run_dir: PathBuf,
    /// CNI plugin binaries (berth-cni is linked here if missing).
    #[arg(long, default_value = "/opt/cni/bin")]
    pub cni_bin_dir: PathBuf,
    /// CNI configuration (the agent writes 10-berth.conflist).
    #[arg(long, default_value = "/etc/cni/net.d")]
    pub cni_conf_dir: PathBuf,
    /// The pods' bridge.
    #[arg(long, default_value = "berth0")]
    pub bridge: String,
    /// The cluster's pod CIDRs (the server's --cluster-cidr), comma
    /// separated: pods' traffic to them keeps its source address, traffic
    /// leaving them is masqueraded to the node's address. `none`: no
    /// masquerading.
    #[arg(long, default_value = "10.244.0.0/16,fd00:10:244::/56")]
    pub cluster_cidr: String,
    /// The sandbox (pause) image; built here from busybox-static and
    /// imported when missing.
    #[arg(long, default_value = "berth.local/pause:3.9")]
    pub sandbox_image: String,
    /// The cluster DNS address pods' resolv.conf names.
    #[arg(long, default_value = "10.96.0.10")]
    pub cluster_dns: String,
    /// The cluster domain.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Where container logs go.
    #[arg(long, default_value = "/var/log/berth/pods")]
    pub pod_log_dir: PathBuf,
    /// The pods' cgroup parent (cgroup-v2 path; empty: containerd's).
    #[arg(long, default_value = "")]
    pub cgroup_parent: String,
    /// How other nodes' pods are reached: `auto` (a direct route where a
    /// node shares a subnet with this one, as flannel's host-gw, VXLAN
    /// otherwise), `host-gw`, `vxlan`, or `none` (single node, or another
    /// tool routes the pod CIDRs).
    #[arg(long, default_value = "auto", value_parser = clap::value_parser!(PodNetwork))]
    pub pod_network: PodNetwork,
    /// How often the node's Lease is renewed (kubelet's 10 s; the
    /// server's --node-monitor-grace-period must be well above it).
    #[arg(long, default_value = "10s", value_parser = super::duration::positive)]
    pub node_lease_period: std::time::Duration,
    #[command(flatten)]
    pub dataplane: DataplaneArgs,
    #[command(flatten)]
    pub dns: NodeDnsArgs,
}

/// The proxy's settings.
#[derive(Debug, Args, Clone)]
pub struct DataplaneArgs {
    /// Where the data plane's maps and links are pinned (kept across agent
    /// restarts; `berth down` removes them).
    #[arg(long, default_value = berth_dataplane::kernel::DEFAULT_BPFFS)]
    pub bpffs: PathBuf,
    /// The cgroup-v2 directory the socket hooks attach to (default: the
    /// cgroup-v2 root, so every pod and host process is covered).
    #[arg(long, value_name = "DIR")]
    pub cgroup_root: Option<PathBuf>,
    /// Do not run the service proxy (no eBPF data plane on this node).
    #[arg(long)]
    pub no_dataplane: bool,
    #[command(flatten)]
    pub nodeport: super::dataplane::NodePortArgs,
}

/// The node DNS process's settings.
#[derive(Debug, Args, Clone)]
pub struct NodeDnsArgs {
    /// Do not run the node's DNS process.
    #[arg(long)]
    pub no_dns: bool,
    /// The node-local address it listens on (port 53, UDP and TCP): the
    /// endpoint of the kube-dns Service.
    #[arg(long, default_value = "169.254.20.10")]
    pub dns_address: IpAddr,
    /// The dummy link that carries that address.
    #[arg(long, default_value = "berth-dns")]
    pub dns_interface: String,
    /// Upstream resolver for names outside the cluster (`IP` or `IP:PORT`,
    /// repeatable). None by default: such names are REFUSED, and nothing
    /// is sent off this machine.
    #[arg(long = "dns-upstream", value_name = "ADDR", value_parser = parse_upstream)]
    pub dns_upstreams: Vec<SocketAddr>,
    /// Serve the DNS process's /healthz, /readyz and /metrics here.
    #[arg(long, value_name = "IP:PORT")]
    pub dns_metrics_listen: Option<SocketAddr>,
}

impl AgentArgs {
    /// The per-packet path, when `--nodeport-devices` names devices: SNAT
    /// to the node's addresses unless `--snat-ipv4`/`--snat-ipv6` say otherwise, and
    /// the replies of SNATed flows caught where they come back (the pods'
    /// bridge, the overlay) besides the devices named.
    fn nodeport(&self) -> Option<berth_dataplane::kernel::NodePort> {
        let mut np = self.dataplane.nodeport.settings()?;
        if np.snat4.is_none() {
            np.snat4 = self.node_ip.v4();
        }
        if np.snat6.is_none() {
            np.snat6 = self.node_ip.0.iter().find_map(|a| match a {
                std::net::IpAddr::V6(a) => Some(*a),
                std::net::IpAddr::V4(_) => None,
            });
        }
        for dev in [self.bridge.as_str(), berth_node::podnet::plan::VXLAN_DEV] {
            if !np.devices.iter().any(|d| d == dev) {
                np.devices.push(dev.to_owned());
            }
        }
        Some(np)
    }

    /// The start-up configuration these flags say (the berth binary is
    /// this one).
    pub fn node_config(&self) -> anyhow::Result<NodeConfig> {
        let berth_binary = std::env::current_exe().context("finding the berth binary")?;
        let (d, n) = (&self.dataplane, &self.dns);
        Ok(NodeConfig {
            credentials: Credentials {
                server: self.server.clone(),
                token_file: self.token_file.clone(),
                ca_file: self.ca_file.clone(),
            },
            node_name: self.node_name.clone(),
            node_ips: self.node_ip.clone(),
            berth_binary,
            data_dir: self.data_dir.clone(),
            run_dir: self.run_dir.clone(),
            cni: CniSettings {
                bin_dir: self.cni_bin_dir.clone(),
                conf_dir: self.cni_conf_dir.clone(),
                bridge: self.bridge.clone(),
                cluster_cidr: self.cluster_cidr.clone(),
            },
            containerd: ContainerdSettings {
                endpoint: self.container_runtime_endpoint.clone(),
                sandbox_image: self.sandbox_image.clone(),
            },
            dataplane: (!d.no_dataplane).then(|| DataplaneSettings {
                bpffs: d.bpffs.clone(),
                cgroup_root: d.cgroup_root.clone(),
                nodeport: self.nodeport(),
                ..DataplaneSettings::default()
            }),
            dns: (!n.no_dns).then(|| NodeDnsSettings {
                address: n.dns_address,
                interface: n.dns_interface.clone(),
                upstreams: n.dns_upstreams.clone(),
                metrics_listen: n.dns_metrics_listen,
            }),
            pod_network: self.pod_network,
            agent: AgentSettings {
                cluster_dns: self.cluster_dns.clone(),
                cluster_domain: self.cluster_domain.clone(),
                pod_log_dir: self.pod_log_dir.clone(),
                cgroup_parent: self.cgroup_parent.clone(),
                lease_period: self.node_lease_period,
            },
        })
    }
}

pub fn run(a: AgentArgs) -> anyhow::Result<()> {
    // Everything is read and checked before anything starts.
    let startup = a.node_config()?.validate(&NetlinkLinks)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let node = startup.start().await?;
        node.run(super::server::shutdown_signal()).await;
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        agent: AgentArgs,
    }

    fn config(flags: &[&str]) -> NodeConfig {
        let base = [
            "berth-agent",
            "--server",
            "https://h:6443",
            "--token-file",
            "/t/tok",
        ];
        let argv = base.iter().chain(flags);
        Cli::try_parse_from(argv)
            .unwrap()
            .agent
            .node_config()
            .unwrap()
    }

    #[test]
    fn the_defaults_map_onto_the_node_config() {
        let c = config(&[]);
        assert_eq!(c.credentials.ca_path(), PathBuf::from("/t/ca.crt"));
        assert_eq!(c.node_ips.to_string(), "127.0.0.1");
        assert_eq!(
            c.containerd_socket(),
            PathBuf::from("/run/berth/containerd/containerd.sock")
        );
        assert_eq!(
            c.containerd_dir(),
            PathBuf::from("/var/lib/berth/agent/containerd-config")
        );
        assert_eq!(
            (c.cni.bridge.as_str(), c.cni.bin_dir.to_str()),
            ("berth0", Some("/opt/cni/bin"))
        );
        assert_eq!(c.cni.cluster_cidr, "10.244.0.0/16,fd00:10:244::/56");
        assert_eq!(c.containerd.endpoint, None);
        assert_eq!(
            c.dataplane.unwrap().bpffs,
            PathBuf::from(berth_dataplane::kernel::DEFAULT_BPFFS)
        );
        let dns = c.dns.unwrap();
        assert_eq!(
            (dns.address.to_string(), dns.interface),
            ("169.254.20.10".into(), "berth-dns".into())
        );
        assert!(dns.upstreams.is_empty());
        assert_eq!(
            c.pod_network,
            PodNetwork(Some(berth_node::podnet::Mode::Auto))
        );
        assert_eq!(c.agent.lease_period, std::time::Duration::from_secs(10));
        assert_eq!(c.agent.cluster_domain, "cluster.local");
    }

    #[test]
    fn the_off_switches_and_bad_values() {
        let c = config(&[
            "--no-dataplane",
            "--no-dns",
            "--pod-network",
            "none",
            "--dns-upstream",
            "9.9.9.9",
        ]);
        assert!(c.dataplane.is_none() && c.dns.is_none() && c.pod_network.0.is_none());
        for (flag, value) in [
            ("--node-ip", "10.0.0.1,10.0.0.2"),
            ("--pod-network", "flat"),
            ("--dns-upstream", "dns.example"),
        ] {
            let e = Cli::try_parse_from([
                "berth-agent",
                "--server",
                "https://h",
                "--token-file",
                "/t",
                flag,
                value,
            ])
            .unwrap_err()
            .to_string();
            assert!(e.contains(flag) && e.contains(value), "{e}");
        }
    }
}
