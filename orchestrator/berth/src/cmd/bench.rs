//! `berth bench lb|nodeport|cni|api|dns|pods|demo`: wiring only; the harness is `berth_bench`.

use std::path::PathBuf;

use berth_bench::{api, cni, dns, lb, nodeport, pods};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Connection latency through a VIP vs direct vs kube-proxy-style
    /// iptables-legacy and nftables rules; programming time, backend change
    /// time and map memory (needs root).
    Lb(LbArgs),
    /// CNI ADD and DEL latency, sequential and 8 at a time: berth-cni vs
    /// the reference bridge + host-local plugins on the same config, with
    /// correctness checks (needs root and containernetworking-plugins).
    Cni(CniArgs),
    /// The API server under load: mutating-call and watch latency, server
    /// RSS, and controller latency (Deployment created → pods bound on fake
    /// nodes), embedded store vs etcd (started here on loopback).
    Api(ApiArgs),
    /// Queries per second, mean and p99 latency, CPU and memory of `berth
    /// dns` vs Knot DNS serving the same services, under dnsperf on
    /// loopback, the client and the server pinned to one CPU each (needs
    /// dnsperf and knot).
    Dns(DnsArgs),
    /// Pod start-up latency, apply → Running and Ready (p50/p99), on a
    /// node set up in this process: berth server, containerd, berth-cni,
    /// locally built images and the agent; per readiness-probe mode, with
    /// where the time goes (needs root, containerd, runc, busybox-static
    /// and containernetworking-plugins).
    Pods(PodsArgs),
    /// Connection latency from outside a node: through Berth's per-packet
    /// path on node ports vs straight to the backend vs kube-proxy's
    /// iptables NodePort rules (needs root and iptables-legacy).
    Nodeport(NodePortArgs),
    /// A short demonstration of the data plane on a LAN of network
    /// namespaces (needs root).
    Demo,
    #[command(hide = true)]
    VmNode(VmNodeArgs),
}

#[derive(Debug, Args)]
pub struct LbArgs {
    /// Service counts N to measure at, comma-separated [default:
    /// 1,10000,100000; with --cluster 1,1000,10000].
    #[arg(long, value_delimiter = ',')]
    pub services: Vec<usize>,
    /// Write the results as a JSON array to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Connections measured per mode and N (after a warm-up).
    #[arg(long, default_value_t = lb::DEFAULT_SAMPLES)]
    pub samples: usize,
    /// Unmeasured connections before each run.
    #[arg(long, default_value_t = lb::DEFAULT_WARMUP)]
    pub warmup: usize,
    /// Largest N the iptables and nftables peers run at (loading 100,000
    /// services into iptables takes minutes).
    #[arg(long, default_value_t = lb::DEFAULT_PEERS_MAX)]
    pub peers_max: usize,
    /// Backends per service (K).
    #[arg(long, default_value_t = lb::DEFAULT_BACKENDS)]
    pub backends: usize,
    /// Two nodes with the pod network between them: latency with the
    /// backends on the client's node and on the other (rows with "env"
    /// and "placement"), a Markdown table (FILE.md beside --json) and an
    /// SVG plot against the number of services.
    #[arg(long)]
    pub cluster: bool,
    /// With --cluster: where the SVG plot goes [default: the --json FILE
    /// with extension .svg].
    #[arg(long, value_name = "FILE", requires = "cluster")]
    pub plot: Option<PathBuf>,
    /// With --cluster: also across virtual machines (rows with "env":
    /// "vm"): a Berth cluster in --vm-nodes qemu guests on Debian's 6.1
    /// kernel (needs qemu-system-x86, kmod, apt-get; KVM where a guest
    /// boots under it, TCG otherwise).
    #[arg(long, requires = "cluster")]
    pub vm: bool,
    /// Guests of --vm.
    #[arg(long, default_value_t = 2, requires = "vm")]
    pub vm_nodes: usize,
    /// Where --vm keeps the guest kernel and initramfs (on the host's root
    /// file system).
    #[arg(long, default_value = "/var/cache/berth/vm", requires = "vm")]
    pub vm_cache: PathBuf,
    /// Requests per target in the guests (each takes milliseconds under
    /// TCG).
    #[arg(long, default_value_t = 300, requires = "vm")]
    pub vm_samples: usize,
}

/// `berth bench vm-node`: a guest's part in `berth bench lb --cluster
/// --vm` (run inside the guests; not for use by hand).
#[derive(Debug, Args)]
pub struct VmNodeArgs {
    /// `server` (guest 1) or `peer`.
    #[arg(long)]
    pub role: String,
    /// This guest's number (1-based).
    #[arg(long)]
    pub index: usize,
    /// Guests in the cluster.
    #[arg(long)]
    pub nodes: usize,
    /// The directory shared with the host and the other guests.
    #[arg(long)]
    pub share: PathBuf,
    /// Requests per target (guest 1).
    #[arg(long)]
    pub samples: usize,
}

#[derive(Debug, Args)]
pub struct NodePortArgs {
    /// Service counts (comma-separated): one node port and one distinct
    /// backend each.
    #[arg(long, value_delimiter = ',', default_values_t = nodeport::DEFAULT_SERVICES)]
    pub services: Vec<usize>,
    /// Connections measured per mode and count.
    #[arg(long, default_value_t = nodeport::DEFAULT_SAMPLES)]
    pub samples: usize,
    /// Write the rows and settings as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CniArgs {
    /// Pods (one ADD and one DEL each) per plugin and concurrency.
    #[arg(long, default_value_t = cni::DEFAULT_PODS)]
    pub pods: usize,
    /// Write the results as a JSON array to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Services created.
    #[arg(long, default_value_t = api::DEFAULT_SERVICES)]
    pub services: usize,
    /// Endpoints created, in EndpointSlices of 100.
    #[arg(long, default_value_t = api::DEFAULT_ENDPOINTS)]
    pub endpoints: usize,
    /// Concurrent watchers.
    #[arg(long, default_value_t = api::DEFAULT_WATCHERS)]
    pub watchers: usize,
    /// Updates whose delivery to every watcher is timed.
    #[arg(long, default_value_t = api::DEFAULT_UPDATES)]
    pub updates: usize,
    /// Fake nodes (in the bench process) for the `schedule` row (0: no
    /// such row).
    #[arg(long, default_value_t = api::DEFAULT_NODES)]
    pub nodes: usize,
    /// Replicas of the Deployment whose pods' binding is timed.
    #[arg(long, default_value_t = api::DEFAULT_REPLICAS)]
    pub replicas: usize,
    /// Run the servers with `--disable-controllers` (the API alone; no
    /// `schedule` row): what the controllers cost the API.
    #[arg(long)]
    pub without_controllers: bool,
    /// Stores to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "embedded,etcd")]
    pub stores: Vec<String>,
    /// Write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DnsArgs {
    /// Services (each an A and an SRV record) both servers serve.
    #[arg(long, default_value_t = dns::DEFAULT_SERVICES)]
    pub services: usize,
    /// How long dnsperf runs per mix and server, in whole seconds
    /// (`30`, `30s`, `1m`).
    #[arg(long, value_name = "DURATION", default_value_t = dns::DEFAULT_DURATION, value_parser = super::duration::whole_seconds)]
    pub duration: u64,
    /// Query mixes: a (existing A names), nxdomain (30% nonexistent names),
    /// srv (50% SRV, 50% A), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "a,nxdomain,srv")]
    pub mixes: Vec<dns::Mix>,
    /// Write the rows, versions and settings as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PodsArgs {
    /// Pods per probe mode (at most 200: the node's pod CIDR is a /24).
    #[arg(long, default_value_t = pods::DEFAULT_PODS)]
    pub pods: usize,
    /// Pods not yet Ready at a time (the next is created as one becomes
    /// Ready).
    #[arg(long, default_value_t = pods::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Readiness-probe modes, measured in this order: tcp (tcpSocket on
    /// 8080, periodSeconds 1), none.
    #[arg(long, value_delimiter = ',', default_value = "tcp,none")]
    pub probes: Vec<pods::Probe>,
    /// Split CNI ADD out of RunPodSandbox: berth-cni runs through a shell
    /// wrapper that logs each call's start and end (a few ms more per
    /// sandbox).
    #[arg(long)]
    pub time_cni: bool,
    /// Services for the service_programmed row (Service created → first
    /// connection through its VIP); 0 leaves it out.
    #[arg(long, default_value_t = pods::DEFAULT_SERVICES)]
    pub services: usize,
    /// Write the rows, versions and settings as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Lb(a) => lb::run(&lb::LbConfig {
            services: match (a.services.is_empty(), a.cluster) {
                (false, _) => a.services,
                (true, false) => lb::LbConfig::default().services,
                (true, true) => berth_bench::lbcluster::DEFAULT_SERVICES.to_vec(),
            },
            json: a.json,
            samples: a.samples,
            warmup: a.warmup,
            peers_max: a.peers_max,
            backends: a.backends,
            cluster: a.cluster,
            plot: a.plot,
            vm: a.vm.then_some(berth_bench::lbcluster::vm::VmConfig {
                nodes: a.vm_nodes,
                cache: a.vm_cache,
                samples: a.vm_samples,
            }),
        }),
        BenchCmd::Nodeport(a) => nodeport::run(&nodeport::NodePortConfig {
            services: a.services,
            samples: a.samples,
            json: a.json,
        }),
        BenchCmd::Cni(a) => cni::run(&cni::CniConfig {
            pods: a.pods,
            json: a.json,
        }),
        BenchCmd::Api(a) => api::run(&api::ApiConfig {
            services: a.services,
            endpoints: a.endpoints,
            watchers: a.watchers,
            updates: a.updates,
            nodes: a.nodes,
            replicas: a.replicas,
            controllers: !a.without_controllers,
            stores: a.stores,
            json: a.json,
        }),
        BenchCmd::Dns(a) => dns::run(&dns::DnsConfig {
            services: a.services,
            duration: a.duration,
            mixes: a.mixes,
            json: a.json,
        }),
        BenchCmd::Pods(a) => pods::run(&pods::PodsConfig {
            pods: a.pods,
            concurrency: a.concurrency,
            probes: a.probes,
            time_cni: a.time_cni,
            services: a.services,
            json: a.json,
        }),
        BenchCmd::Demo => berth_bench::demo::run(),
        BenchCmd::VmNode(a) => {
            use berth_bench::lbcluster::vmnode;
            let me = std::env::current_exe()?;
            match a.role.as_str() {
                "server" => vmnode::server(&me, &a.share, a.nodes, a.samples),
                "peer" => vmnode::peer(&me, &a.share, a.index),
                other => anyhow::bail!("--role {other:?}: server or peer"),
            }
        }
    }
}
