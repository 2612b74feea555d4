//! What `berth agent` runs beside the pods: the service proxy (the eBPF
//! data plane following Services and EndpointSlices) and the node's DNS
//! server, a `berth dns` process of its own on a node-local address, so
//! that neither an agent restart nor a crash interrupts name lookups.
//!
//! The DNS process listens on `--dns-address` (169.254.20.10, as
//! NodeLocal DNSCache) on the dummy link `--dns-interface`; `berth server`
//! makes the `kube-system/kube-dns` Service (10.96.0.10) whose endpoint is
//! that address, so a pod's query to the cluster DNS VIP reaches its own
//! node's DNS process through the socket load balancer. A restarted agent
//! finds the process by its pid file and command line and keeps it.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use berth_client::Client;
use berth_dataplane::Lb;
use berth_dataplane::kernel::BpfMaps;
use berth_local::Daemon;
use berth_local::daemon::Started;
use berth_node::podnet::{self, Mode, PodNet, PodNetConfig, ip::IpLinks};
use berth_node::proxy::{DataplaneSettings, Proxy, kernel};
use clap::Args;

use super::agent::AgentArgs;

/// How often the agent looks whether the DNS process still runs.
const DNS_CHECK: Duration = Duration::from_secs(1);

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
    #[arg(long = "dns-upstream", value_name = "ADDR", value_parser = super::dns::parse_upstream)]
    pub dns_upstreams: Vec<SocketAddr>,
    /// Serve the DNS process's /healthz, /readyz and /metrics here.
    #[arg(long, value_name = "IP:PORT")]
    pub dns_metrics_listen: Option<SocketAddr>,
}

/// Attaches (or adopts) the data plane and starts the proxy on it, unless
/// `--no-dataplane`; returns once the start-up sync is done.
pub async fn start_proxy(
    a: &DataplaneArgs,
    client: &Client,
) -> anyhow::Result<Option<Proxy<Lb<BpfMaps>>>> {
    if a.no_dataplane {
        println!("berth agent: --no-dataplane: Services are not programmed on this node");
        return Ok(None);
    }
    let settings = DataplaneSettings {
        bpffs: a.bpffs.clone(),
        cgroup_root: a.cgroup_root.clone(),
        ..DataplaneSettings::default()
    };
    let lb = tokio::task::spawn_blocking(move || kernel::attach(&settings))
        .await?
        .map_err(|e| anyhow::anyhow!(berth_api::error_chain(&e)))
        .context("the service proxy (--no-dataplane runs the node without it)")?;
    let proxy = Proxy::start(client.clone(), lb);
    proxy.ready().await;
    println!(
        "berth agent: service proxy synced (bpffs {})",
        a.bpffs.display()
    );
    Ok(Some(proxy))
}

/// `--pod-network`: a [`Mode`], or `None` for `none`.
#[derive(Debug, Clone, Copy)]
pub struct PodNetwork(pub Option<Mode>);

/// Parses `--pod-network`.
pub fn parse_pod_network(s: &str) -> Result<PodNetwork, String> {
    match s {
        "none" => Ok(PodNetwork(None)),
        _ => s
            .parse()
            .map(|m| PodNetwork(Some(m)))
            .map_err(|e: String| format!("{e} (or none)")),
    }
}

/// Starts routing the other nodes' pod CIDRs (from the Node objects),
/// unless `--pod-network none`.
pub fn start_podnet(a: &AgentArgs, client: &Client, node_name: &str) -> Option<PodNet> {
    let mode = a.pod_network.0?;
    let cfg = PodNetConfig {
        node_name: node_name.to_string(),
        node_ip4: a.node_ip.v4(),
        node_ip6: a.node_ip.v6(),
        mode,
    };
    println!(
        "berth agent: pod network across nodes: {mode:?} (resync {:?})",
        podnet::RESYNC
    );
    Some(PodNet::start(client.clone(), cfg, IpLinks))
}

/// The pods' MTU: the underlay's less VXLAN's overhead when peers may be
/// reached over VXLAN (`--pod-network auto` or `vxlan`), so that a pod's
/// packet fits the overlay; the kernel's default otherwise, and on a
/// loopback node IP (a single-node cluster).
pub fn pod_mtu(a: &AgentArgs) -> Option<u32> {
    use berth_node::podnet::links::NodeLinks as _;
    let ip = a.node_ip.primary();
    match a.pod_network.0 {
        Some(Mode::Auto | Mode::Vxlan) if !ip.is_loopback() => IpLinks.underlay(ip).ok().map(|u| {
            u.mtu
                .saturating_sub(berth_node::podnet::plan::VXLAN_OVERHEAD)
        }),
        _ => None,
    }
}

/// The node DNS daemon for these agent arguments.
pub fn dns_daemon(a: &AgentArgs, me: &std::path::Path) -> Daemon {
    let d = &a.dns;
    let mut args: Vec<String> = vec![
        "dns".into(),
        "--server".into(),
        a.server.clone(),
        "--token-file".into(),
        a.token_file.display().to_string(),
        "--ca-file".into(),
        super::agent::ca_path(&a.token_file, a.ca_file.as_deref())
            .display()
            .to_string(),
        "--listen".into(),
        SocketAddr::new(d.dns_address, 53).to_string(),
        "--domain".into(),
        a.cluster_domain.clone(),
    ];
    if d.dns_upstreams.is_empty() {
        args.push("--no-upstream".into());
    }
    for u in &d.dns_upstreams {
        args.push(format!("--upstream={u}"));
    }
    if let Some(m) = d.dns_metrics_listen {
        args.push(format!("--metrics-listen={m}"));
    }
    Daemon::new(
        "dns",
        me,
        args,
        a.run_dir.join("dns.pid"),
        a.data_dir.join("dns.log"),
    )
}

/// Gives the node its DNS address and starts (or adopts) the DNS process,
/// then keeps it running: a task that starts it again if it exits.
pub async fn start_dns(a: &AgentArgs) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if a.dns.no_dns {
        println!("berth agent: --no-dns: no DNS process on this node");
        return Ok(None);
    }
    let (iface, ip) = (a.dns.dns_interface.clone(), a.dns.dns_address);
    tokio::task::spawn_blocking(move || berth_cni::net::ensure_local_address(&iface, ip))
        .await?
        .with_context(|| {
            format!(
                "--dns-address {}: on link {}",
                a.dns.dns_address, a.dns.dns_interface
            )
        })?;
    let me = std::env::current_exe().context("finding the berth binary")?;
    let daemon = dns_daemon(a, &me);
    match daemon.start()? {
        Started::New(pid) => println!(
            "berth agent: DNS on {}:53 started (pid {pid}, log {})",
            a.dns.dns_address,
            daemon.log().display()
        ),
        Started::Adopted(pid) => println!(
            "berth agent: DNS on {}:53 already running (pid {pid}): kept",
            a.dns.dns_address
        ),
    }
    Ok(Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(DNS_CHECK).await;
            if daemon.running().is_some() {
                continue;
            }
            match daemon.start() {
                Ok(s) => tracing::warn!(
                    pid = s.pid(),
                    "the node's DNS process had exited: started again"
                ),
                Err(e) => {
                    tracing::error!(error = %berth_api::error_chain(&e), "starting the node's DNS process")
                }
            }
        }
    })))
}
