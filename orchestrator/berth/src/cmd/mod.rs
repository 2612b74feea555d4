//! Command line: one subcommand per component.

mod agent;
#[cfg(feature = "bench")]
mod bench;
pub mod cni;
mod dataplane;
mod dns;
mod down;
mod image;
mod kubectl;
mod kubectl_more;
mod nodenet;
mod podexec;
mod server;
mod up;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "Berth: a compact container orchestrator with an eBPF data plane"
)]
pub struct Cli {
    /// More logging (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(flatten)]
    pub client: kubectl::ClientArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The socket-level service load balancer (kube-proxy replacement).
    #[command(subcommand)]
    Dataplane(dataplane::DataplaneCmd),
    /// Cluster DNS: the cluster zone and a forwarder for the rest.
    Dns(dns::DnsArgs),
    /// The API server (embedded store by default, or etcd).
    Server(server::ServerArgs),
    /// The node agent: pods bound to this node on containerd (over CRI).
    Agent(Box<agent::AgentArgs>),
    /// Create or update objects from manifests (files, directories, `-`).
    Apply(kubectl::ApplyArgs),
    /// List objects, or show one.
    Get(kubectl::GetArgs),
    /// Delete one object.
    Delete(kubectl::DeleteArgs),
    /// Show one object in detail, with its Events.
    Describe(kubectl_more::DescribeArgs),
    /// Set a Deployment's replicas.
    Scale(kubectl_more::ScaleArgs),
    /// `logs POD [-c C] [-f]`: a container's log (on the pod's node).
    Logs(podexec::LogsArgs),
    /// `exec POD [-c C] -- CMD...`: run a command in a container (on the
    /// pod's node); its exit code is berth's.
    Exec(podexec::ExecArgs),
    /// `rollout status deployment/NAME`: wait until it is rolled out.
    Rollout(kubectl_more::RolloutArgs),
    /// OCI image archives without a registry: build, import into containerd.
    #[command(subcommand)]
    Image(image::ImageCmd),
    /// Benchmarks, side by side with the peers users would otherwise use.
    #[cfg(feature = "bench")]
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Benchmarks: not in this build (the `bench` feature: `cargo xtask
    /// build`, or `cargo build --release -p berth --features bench`).
    #[cfg(not(feature = "bench"))]
    #[command(hide = true)]
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// A cluster on this machine: server, agent, containerd, the demo.
    Up(up::UpArgs),
    /// Stop the cluster `berth up` started (`--purge`: and remove it).
    Down(down::DownArgs),
    /// What is not built yet, and where it is tracked.
    Status,
}

impl Command {
    /// Whether this is a short-lived command whose output is often piped
    /// into `head` or `grep` (and which holds no connection worth keeping).
    pub fn prints_for_a_pipe(&self) -> bool {
        matches!(
            self,
            Self::Apply(_)
                | Self::Get(_)
                | Self::Delete(_)
                | Self::Describe(_)
                | Self::Scale(_)
                | Self::Logs(_)
                | Self::Exec(_)
                | Self::Rollout(_)
                | Self::Status
        )
    }
}

pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Dataplane(c) => dataplane::run(c),
        #[cfg(feature = "bench")]
        Command::Bench(c) => bench::run(c),
        #[cfg(not(feature = "bench"))]
        Command::Bench { .. } => anyhow::bail!(
            "this berth was built without the benchmarks: build it with `cargo xtask build` \
             (or `cargo build --release -p berth --features bench`)"
        ),
        Command::Image(c) => image::run(c),
        Command::Dns(a) => dns::run(a),
        Command::Server(a) => server::run(a),
        Command::Agent(a) => agent::run(*a),
        Command::Logs(a) => podexec::logs(a, &cli.client),
        Command::Exec(a) => podexec::exec(a, &cli.client),
        Command::Apply(a) => kubectl::apply(a, &cli.client),
        Command::Get(a) => kubectl::get(a, &cli.client),
        Command::Delete(a) => kubectl::delete(a, &cli.client),
        Command::Describe(a) => kubectl_more::describe(a, &cli.client),
        Command::Scale(a) => kubectl_more::scale(a, &cli.client),
        Command::Rollout(a) => kubectl_more::rollout(a, &cli.client),
        Command::Up(a) => up::run(a),
        Command::Down(a) => down::run(a),
        Command::Status => {
            print!("{}", STATUS);
            Ok(())
        }
    }
}

/// What exists and what does not, printed by `berth status` and `cargo xtask up`.
pub const STATUS: &str = "\
Berth components:
  dataplane  ready    eBPF socket-level service load balancer (berth dataplane run|list|down)
  bench      ready    berth bench lb|cni|dns|api|demo: side by side with kube-proxy rules, the reference
                      CNI plugins, knot, and etcd
  cni        ready    berth-cni (berth invoked by that name): CNI 1.1.0 bridge plugin, own IPAM,
                      ipMasq, GC/STATUS; containerd config generation (berth bench cni)
  dns        ready    berth dns --server URL (list+watch of the API) or --static FILE; the cluster zone
                      per the Kubernetes DNS spec; forwarder with cache and health checks; autopath;
                      /metrics. In a cluster: one process per node on 169.254.20.10 behind kube-dns
  server     ready    berth server (embedded redb or etcd store, TLS, tokens, service IP and node port
                      allocation) and the CLI: apply, get, describe, delete, scale, rollout status
  controllers ready   inside berth server: Deployment (ReplicaSet revisions, rolling update, Recreate),
                      ReplicaSet, EndpointSlice, node lifecycle (pod CIDRs, leases, NotReady, eviction),
                      scheduler (resources, nodeSelector, taints; least allocated, spread), Events
  image      ready    berth image build (--rootfs DIR | --binary FILE | --busybox | --pause) and
                      berth image import: OCI archives without a registry, into containerd
  agent      ready    berth agent: pods on its own (or an existing) containerd over CRI, berth-cni,
                      probes, restarts, volumes, adoption after a restart; the service proxy (eBPF
                      data plane from Services and EndpointSlices); the node's DNS process; berth
                      logs/exec on the pod's node. Not yet: logs/exec through the server
  up         ready    berth up [--detach] / berth down [--purge]: a one-node cluster with the demo
  nodes      partial  berth agent --pod-network auto|host-gw|vxlan: other nodes' pod CIDRs routed from
                      the Node objects, overlay MTU, masquerade leaving --cluster-cidr; cargo xtask
                      cluster up|down: N nodes in network namespaces; berth bench lb --cluster [--vm].
                      Not yet: IPv6 pod CIDRs across nodes
  vm         ready    cargo xtask vm [-- CMD]: a guest on Debian's 6.1 kernel (qemu, KVM or TCG)
                      running this build; cargo xtask vm --nodes N: a Berth cluster of N guests;
                      cargo xtask test --tier vm runs the data plane suites and a 2-VM cluster
";
