//! `cargo xtask`: setup, build, test, up. Everything a fresh Debian machine
//! needs is installed by `setup`, which every other command runs first.

mod build;
mod clean;
mod cluster;
mod setup;
mod test;
mod up;
mod util;
mod vm;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Install what is missing (Debian packages, rust-src, bpf-linker),
    /// mount bpffs, add the host's safety routes. Idempotent.
    Setup,
    /// Build everything, the eBPF programs included, into target/release/berth.
    Build,
    /// setup + build + the tests (all tiers unless --tier).
    Test {
        #[arg(long, value_enum)]
        tier: Option<Tier>,
    },
    /// setup + build + run what exists of Berth, and say what does not yet.
    Up,
    /// Remove what killed earlier test runs left behind (only Berth's).
    Clean,
    /// A multi-node cluster in network namespaces, left running.
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// setup + build, then CMD (or a look around) in a guest on Debian's
    /// 6.1 kernel under qemu, with this machine's root shared read-only.
    Vm {
        /// N guests as a cluster on a private bridge (server and agents,
        /// services on every node, LB latency across VMs) instead of CMD.
        #[arg(long, value_name = "N")]
        nodes: Option<usize>,
        /// The command, run from the workspace root in the guest.
        #[arg(last = true, conflicts_with = "nodes")]
        cmd: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ClusterAction {
    /// setup + build, then a server and N nodes (agent, containerd, pods)
    /// in network namespaces on one underlay bridge.
    Up {
        #[arg(long, default_value_t = 3)]
        nodes: usize,
    },
    /// Remove it (and anything else a gone process of Berth's left).
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Tier {
    /// Unprivileged tests with fakes, plus fmt and clippy.
    Unit,
    /// Real kernel: eBPF programs, network namespaces, veths, cgroups.
    Netns,
    /// Virtual machines (qemu).
    Vm,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let root = util::workspace_root()?;
    std::env::set_current_dir(&root)?;
    match cli.cmd {
        Cmd::Setup => setup::run(),
        Cmd::Build => {
            setup::run()?;
            build::run()
        }
        Cmd::Test { tier } => test::run(tier),
        Cmd::Up => up::run(),
        Cmd::Clean => clean::run(),
        Cmd::Cluster { action } => match action {
            ClusterAction::Up { nodes } => cluster::up(nodes),
            ClusterAction::Down => cluster::down(),
        },
        Cmd::Vm { nodes, cmd } => {
            setup::run()?;
            build::run()?;
            match nodes {
                Some(n) => vm::cluster(&std::fs::canonicalize("target/release/berth")?, n),
                None => vm::run(&cmd),
            }
        }
    }
}
