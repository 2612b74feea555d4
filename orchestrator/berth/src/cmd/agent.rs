//! `berth agent`: the node agent. Registers the Node, waits for its pod
//! CIDR, writes the CNI configuration for berth-cni, starts (or adopts) its
//! own containerd unless `--container-runtime-endpoint` names one, imports a
//! pause image built here if missing, and runs the pods bound to the node
//! until SIGINT/SIGTERM. Stopping the agent leaves the pods (and its
//! containerd) running: a restarted agent adopts them.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use berth_client::{Client, ClientConfig};
use berth_cni::containerd::{ConflistSpec, ContainerdConfig};
use berth_node::agent::{self, Agent, AgentConfig};
use berth_node::containerd::Containerd;
use berth_node::image::{self, BUSYBOX_STATIC};
use berth_node::runtime::Runtime as _;
use berth_node::runtime::cri::CriRuntime;
use clap::Args;
use ipnet::IpNet;

/// How long the agent waits for the server to give the node a pod CIDR.
const POD_CIDR_TIMEOUT: Duration = Duration::from_secs(60);
/// The CNI loopback plugin containerd's CRI always calls.
const LOOPBACK_PLUGIN: &str = "/usr/lib/cni/loopback";

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
    #[arg(long, default_value = "127.0.0.1", value_parser = parse_node_ips)]
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
    #[arg(long, default_value = "auto", value_parser = super::nodenet::parse_pod_network)]
    pub pod_network: super::nodenet::PodNetwork,
    /// How often the node's Lease is renewed (kubelet's 10 s; the
    /// server's --node-monitor-grace-period must be well above it).
    #[arg(long, default_value = "10s", value_parser = |s: &str| berth_control::controllers::parse_duration("--node-lease-period", s))]
    pub node_lease_period: std::time::Duration,
    #[command(flatten)]
    pub dataplane: super::nodenet::DataplaneArgs,
    #[command(flatten)]
    pub dns: super::nodenet::NodeDnsArgs,
}

/// `--node-ip`: one address, or one of each family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIps(pub Vec<IpAddr>);

impl NodeIps {
    /// The first: the pods' hostIP, and how the node is shown.
    pub fn primary(&self) -> IpAddr {
        self.0[0]
    }

    /// The IPv4 one, if any.
    pub fn v4(&self) -> Option<std::net::Ipv4Addr> {
        self.0.iter().find_map(|ip| match ip {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        })
    }

    /// The IPv6 one, if any.
    pub fn v6(&self) -> Option<std::net::Ipv6Addr> {
        self.0.iter().find_map(|ip| match ip {
            IpAddr::V6(v6) => Some(*v6),
            IpAddr::V4(_) => None,
        })
    }
}

impl std::fmt::Display for NodeIps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s: Vec<String> = self.0.iter().map(IpAddr::to_string).collect();
        f.write_str(&s.join(","))
    }
}

/// Parses `--node-ip`.
pub fn parse_node_ips(s: &str) -> Result<NodeIps, String> {
    let ips = s
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<IpAddr>()
                .map_err(|_| format!("invalid value {p:?}: not an IP address"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    match ips.as_slice() {
        [_] => Ok(NodeIps(ips)),
        [a, b] if a.is_ipv4() != b.is_ipv4() => Ok(NodeIps(ips)),
        [_, _] => Err(format!(
            "invalid value {s:?}: two addresses must be one IPv4 and one IPv6"
        )),
        _ => Err(format!(
            "invalid value {s:?}: one address, or one IPv4 and one IPv6"
        )),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// The cluster CA `--ca-file` names, or `ca.crt` next to the token file.
pub fn ca_path(token_file: &Path, ca_file: Option<&Path>) -> PathBuf {
    ca_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| token_file.parent().unwrap_or(Path::new(".")).join("ca.crt"))
}

/// Credentials from `--server`, `--token-file` and `--ca-file`.
pub fn node_credentials(
    server: &str,
    token_file: &Path,
    ca_file: Option<&Path>,
) -> anyhow::Result<ClientConfig> {
    let token = std::fs::read_to_string(token_file)
        .with_context(|| format!("--token-file: reading {}", token_file.display()))?
        .trim()
        .to_owned();
    ensure!(
        !token.is_empty(),
        "--token-file: {} is empty",
        token_file.display()
    );
    let ca_path = ca_path(token_file, ca_file);
    let ca = std::fs::read_to_string(&ca_path)
        .with_context(|| format!("--ca-file: reading {}", ca_path.display()))?;
    ensure!(
        server.starts_with("https://"),
        "--server: invalid value {server:?}: expected https://HOST:PORT"
    );
    Ok(ClientConfig {
        server: server.to_owned(),
        certificate_authority: ca,
        token,
    })
}

/// The configuration of the containerd the agent starts (its root under
/// the data dir, its state and socket under the run dir).
pub fn containerd_config(a: &AgentArgs) -> ContainerdConfig {
    ContainerdConfig::new(
        a.data_dir.join("containerd"),
        a.run_dir.join("containerd"),
        a.run_dir.join("containerd").join("containerd.sock"),
        &a.sandbox_image,
        &a.cni_bin_dir,
        &a.cni_conf_dir,
    )
}

/// Where that containerd's config.toml and log go.
pub fn containerd_dir(a: &AgentArgs) -> PathBuf {
    a.data_dir.join("containerd-config")
}

/// `--cluster-cidr`: the networks pods reach without masquerading, or
/// `None` for `none`. A node CIDR outside them is added (and warned about:
/// the flag likely differs from the server's).
fn masquerade_except(flag: &str, node_cidrs: &[String]) -> anyhow::Result<Option<Vec<IpNet>>> {
    if flag.trim() == "none" {
        return Ok(None);
    }
    let mut nets: Vec<IpNet> = flag
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|c| {
            c.parse::<IpNet>()
                .map(|n| n.trunc())
                .with_context(|| format!("--cluster-cidr: {c:?} is not a CIDR (or `none`)"))
        })
        .collect::<anyhow::Result<_>>()?;
    for c in node_cidrs {
        let Ok(node) = c.parse::<IpNet>() else {
            continue;
        };
        if !nets.iter().any(|n| n.contains(&node)) {
            tracing::warn!(node_cidr = %node, cluster_cidr = flag, "the node's pod CIDR is outside --cluster-cidr; not masquerading to it either");
            nets.push(node.trunc());
        }
    }
    Ok(Some(nets))
}

/// Links berth-cni (this binary) and loopback into the CNI bin dir.
fn install_cni(a: &AgentArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.cni_bin_dir)
        .with_context(|| format!("--cni-bin-dir: creating {}", a.cni_bin_dir.display()))?;
    let me = std::env::current_exe().context("finding the berth binary")?;
    for (name, target) in [
        ("berth-cni", me.as_path()),
        ("loopback", Path::new(LOOPBACK_PLUGIN)),
    ] {
        let link = a.cni_bin_dir.join(name);
        if link.exists() {
            continue;
        }
        ensure!(
            target.exists(),
            "{} is missing (Debian package containernetworking-plugins)",
            target.display()
        );
        std::os::unix::fs::symlink(target, &link)
            .with_context(|| format!("linking {} to {}", link.display(), target.display()))?;
    }
    Ok(())
}

pub fn run(a: AgentArgs) -> anyhow::Result<()> {
    let config = node_credentials(&a.server, &a.token_file, a.ca_file.as_deref())?;
    let node_name = a.node_name.clone().unwrap_or_else(hostname);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let client = Client::remote(berth_client::connect(&config).await?);
        let mut cfg = AgentConfig::new(&node_name, &a.node_ip.primary().to_string());
        cfg.node_ips = a.node_ip.0.iter().map(IpAddr::to_string).collect();
        cfg.lease_period = a.node_lease_period;
        cfg.dns.servers = vec![a.cluster_dns.clone()];
        cfg.dns.domain = a.cluster_domain.clone();
        cfg.pod_log_dir = a.pod_log_dir.clone();
        cfg.state_dir = a.data_dir.join("pods-state");
        cfg.cgroup_parent = a.cgroup_parent.clone();
        // The node first: the server gives it its pod CIDR.
        agent::register(&client, &cfg, "containerd").await?;
        let deadline = Instant::now() + POD_CIDR_TIMEOUT;
        let cidrs = loop {
            let node = client
                .get::<berth_api::Node>("", &node_name)
                .await?
                .context("the node vanished after registering")?;
            if !node.spec.pod_cidrs.is_empty() {
                break node.spec.pod_cidrs;
            }
            if Instant::now() > deadline {
                bail!("the server gave node {node_name} no pod CIDR within {POD_CIDR_TIMEOUT:?} (do its controllers run?)");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        install_cni(&a)?;
        std::fs::create_dir_all(&a.cni_conf_dir)
            .with_context(|| format!("--cni-conf-dir: creating {}", a.cni_conf_dir.display()))?;
        let spec = ConflistSpec {
            name: "berth".into(),
            bridge: a.bridge.clone(),
            subnets: cidrs
                .iter()
                .map(|c| c.parse())
                .collect::<Result<_, _>>()
                .with_context(|| format!("the node's pod CIDRs {cidrs:?}"))?,
            data_dir: a.data_dir.join("cni"),
            mtu: super::nodenet::pod_mtu(&a),
            masquerade_except: masquerade_except(&a.cluster_cidr, &cidrs)?,
        };
        let conflist_path = a.cni_conf_dir.join(spec.file_name());
        std::fs::write(&conflist_path, spec.to_json())?;
        let mut containerd = match &a.container_runtime_endpoint {
            Some(sock) => Containerd::adopt(sock).await?,
            None => Containerd::start(&containerd_dir(&a), containerd_config(&a)).await?,
        };
        let runtime = Arc::new(CriRuntime::connect(containerd.socket())?);
        if runtime.image_id(&a.sandbox_image).await?.is_none() {
            let archive = a.data_dir.join("pause.oci.tar");
            image::pause_image(Path::new(BUSYBOX_STATIC), &a.sandbox_image)?.write(&archive)?;
            image::import(containerd.socket(), &archive, containerd.snapshotter()).await?;
        }
        // berth-cni GC: free every address (and host veth) whose sandbox
        // is gone (a crash between CNI ADD and the sandbox's record, or
        // sandboxes removed while the agent was away).
        let valid: Vec<(String, String)> = runtime
            .list_sandboxes()
            .await?
            .into_iter()
            .map(|s| (s.id, "eth0".to_owned()))
            .collect();
        let conf = berth_cni::containerd::plugin_net_conf(&std::fs::read(&conflist_path)?)
            .with_context(|| format!("reading {}", conflist_path.display()))?;
        let freed = tokio::task::spawn_blocking(move || berth_cni::gc(&conf, &valid))
            .await?
            .map_err(|e| anyhow::anyhow!("berth-cni GC: {e}"))?;
        if !freed.is_empty() {
            println!("berth agent: CNI GC freed {} stale address(es)", freed.len());
        }
        // The data plane before the pods: a restarted agent adopts the
        // pinned maps and links, so service traffic never stops.
        let proxy = super::nodenet::start_proxy(&a.dataplane, &client).await?;
        let dns = super::nodenet::start_dns(&a).await?;
        let podnet = super::nodenet::start_podnet(&a, &client, &node_name);
        let agent = Agent::start(client, runtime, cfg, "containerd://1.6").await?;
        println!(
            "berth agent: node {node_name} ({}), pod CIDRs {}, containerd at {}",
            a.node_ip,
            cidrs.join(","),
            containerd.socket().display()
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let supervised = tokio::spawn(async move {
            containerd
                .supervise(async {
                    let _ = rx.await;
                })
                .await;
            containerd
        });
        super::server::shutdown_signal().await;
        println!("berth agent: stopping (pods, the data plane and DNS keep running)");
        if let Some(d) = dns {
            d.abort();
        }
        agent.stop().await;
        if let Some(p) = podnet {
            p.stop();
        }
        if let Some(p) = proxy {
            p.stop().await;
        }
        let _ = tx.send(());
        let _ = supervised.await;
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_cidrs_are_not_masqueraded_and_none_turns_masquerading_off() {
        let nets = masquerade_except("10.244.0.0/16, fd00:10:244::/56", &["10.244.3.0/24".into()])
            .unwrap()
            .unwrap();
        assert_eq!(
            nets,
            vec![
                "10.244.0.0/16".parse::<IpNet>().unwrap(),
                "fd00:10:244::/56".parse().unwrap()
            ]
        );
        // A node CIDR outside the flag's is added, not masqueraded to.
        let nets = masquerade_except("10.244.0.0/16", &["10.250.1.0/24".into()])
            .unwrap()
            .unwrap();
        assert_eq!(nets.len(), 2);
        assert_eq!(masquerade_except("none", &[]).unwrap(), None);
        let e = masquerade_except("10.244.0.0/16,pods", &[]).unwrap_err();
        assert!(
            format!("{e:#}").contains("--cluster-cidr: \"pods\""),
            "{e:#}"
        );
    }

    #[test]
    fn node_ips_are_one_address_or_one_of_each_family() {
        let one = parse_node_ips("192.168.1.2").unwrap();
        assert_eq!((one.v4().is_some(), one.v6()), (true, None));
        let dual = parse_node_ips("fd00::2,192.168.1.2").unwrap();
        assert_eq!(dual.primary().to_string(), "fd00::2");
        assert_eq!(dual.v4().unwrap().to_string(), "192.168.1.2");
        assert_eq!(dual.to_string(), "fd00::2,192.168.1.2");
        let e = parse_node_ips("10.0.0.1,10.0.0.2").unwrap_err();
        assert!(
            e.contains("\"10.0.0.1,10.0.0.2\"") && e.contains("one IPv4 and one IPv6"),
            "{e}"
        );
        let e = parse_node_ips("10.0.0.1,node").unwrap_err();
        assert!(e.contains("\"node\""), "{e}");
        assert!(parse_node_ips("10.0.0.1,fd00::1,fd00::2").is_err());
    }
}
