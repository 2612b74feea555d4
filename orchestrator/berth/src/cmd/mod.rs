//! Command line: one subcommand per component.

mod agent;
#[cfg(feature = "bench")]
mod bench;
pub mod cni;
mod dataplane;
mod dns;
mod down;
mod duration;
mod image;
mod kubectl;
mod local;
mod podexec;
mod server;
mod status;
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
    Describe(kubectl::DescribeArgs),
    /// Set a Deployment's replicas.
    Scale(kubectl::ScaleArgs),
    /// `logs POD [-c C] [-f]`: a container's log (on the pod's node).
    Logs(podexec::LogsArgs),
    /// `exec POD [-c C] -- CMD...`: run a command in a container (on the
    /// pod's node); its exit code is berth's.
    Exec(podexec::ExecArgs),
    /// Rollouts of a Deployment (`rollout status deployment/NAME`).
    #[command(subcommand)]
    Rollout(kubectl::RolloutCmd),
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
    /// Nodes' credentials (`node revoke NAME`).
    #[command(subcommand)]
    Node(kubectl::NodeCmd),
    /// The token nodes join with (`bootstrap-token rotate [--ttl D]`).
    #[command(subcommand)]
    BootstrapToken(kubectl::BootstrapCmd),
    /// A cluster on this machine: server, agent, containerd, the demo.
    Up(up::UpArgs),
    /// Stop the cluster `berth up` started (`--purge`: and remove it).
    Down(down::DownArgs),
    /// The running cluster (server, nodes, versions, health, this
    /// machine's daemons) and what Berth does not do yet.
    Status(status::StatusArgs),
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
                | Self::Status(_)
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
        Command::Describe(a) => kubectl::describe(a, &cli.client),
        Command::Scale(a) => kubectl::scale(a, &cli.client),
        Command::Rollout(a) => kubectl::rollout(a, &cli.client),
        Command::Node(c) => kubectl::node(c, &cli.client),
        Command::BootstrapToken(c) => kubectl::bootstrap_token(c, &cli.client),
        Command::Up(a) => up::run(a),
        Command::Down(a) => down::run(a),
        Command::Status(a) => status::run(a, &cli.client),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::{CommandFactory as _, Parser as _};

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn output_is_one_of_its_values_and_an_error_names_flag_and_value() {
        let cli = Cli::try_parse_from(["berth", "get", "pods", "-o", "wide"]).unwrap();
        let Command::Get(g) = cli.command else {
            panic!("not get");
        };
        assert_eq!(g.output, Some(kubectl::get::Output::Wide));
        let e = Cli::try_parse_from(["berth", "get", "pods", "-o", "table"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("'table'") && e.contains("--output"), "{e}");
        assert!(e.contains("wide, yaml, json, name"), "{e}");
    }

    #[test]
    fn credential_commands_parse() {
        let cli = Cli::try_parse_from(["berth", "node", "revoke", "node-2"]).unwrap();
        let Command::Node(kubectl::NodeCmd::Revoke(a)) = cli.command else {
            panic!("not node revoke");
        };
        assert_eq!(a.name, "node-2");
        let cli =
            Cli::try_parse_from(["berth", "bootstrap-token", "rotate", "--ttl", "1h"]).unwrap();
        let Command::BootstrapToken(kubectl::BootstrapCmd::Rotate(a)) = cli.command else {
            panic!("not bootstrap-token rotate");
        };
        assert_eq!(a.ttl, Some(Duration::from_secs(3600)));
        let e = Cli::try_parse_from(["berth", "bootstrap-token", "rotate", "--ttl", "0"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("invalid value '0' for '--ttl <DURATION>': must be greater than 0"),
            "{e}"
        );
    }

    #[test]
    fn rollout_status_is_a_subcommand() {
        // As the README shows it, and the seconds it took before.
        for (text, secs) in [("5m", 300), ("30", 30), ("1m30s", 90)] {
            let cli = Cli::try_parse_from([
                "berth",
                "rollout",
                "status",
                "deploy/web",
                "--timeout",
                text,
            ])
            .unwrap();
            let Command::Rollout(kubectl::RolloutCmd::Status(a)) = cli.command else {
                panic!("not rollout status");
            };
            let want = (vec!["deploy/web".to_string()], Duration::from_secs(secs));
            assert_eq!((a.target, a.timeout), want);
        }
        let e = Cli::try_parse_from([
            "berth",
            "rollout",
            "status",
            "deploy/web",
            "--timeout",
            "5 x",
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("invalid value '5 x' for '--timeout <DURATION>'"),
            "{e}"
        );
        let e = Cli::try_parse_from(["berth", "rollout", "undo", "deploy/web"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("'undo'"), "{e}");
    }
}
