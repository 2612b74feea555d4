//! `berth down [--purge]`: stops the local cluster `berth up` started. The
//! agent first (so that it recreates nothing), then every pod through
//! containerd's CRI (StopPodSandbox runs CNI DEL: addresses released,
//! veths and network namespaces gone), containerd and its shims, the
//! server, any process left that names the cluster's directories (the
//! node's DNS process); the data plane's pins are removed (its programs
//! detach) and the bridge deleted. `--purge` also removes the state, the
//! CNI configuration and the credentials copy: nothing of Berth's stays.
//! Without it a later `berth up` resumes the same cluster (same objects;
//! the pods are started again).

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use berth_local::Config;
use berth_local::leftovers::{self, Leftover};
use berth_node::containerd::Containerd;
use berth_node::runtime::Runtime as _;
use berth_node::runtime::cri::CriRuntime;
use clap::{Args, Parser};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::agent::AgentArgs;
use super::local::LocalArgs;

/// How long the agent and the server may take to stop on SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// How long a containerd started for the teardown may take to serve CRI.
const CRI_READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub local: LocalArgs,
    /// Also remove the cluster's state (store, containerd root, logs), its
    /// CNI configuration and the credentials copy.
    #[arg(long)]
    pub purge: bool,
}

/// `berth agent`'s arguments as the agent parses them.
#[derive(Debug, Parser)]
struct AgentCli {
    #[command(flatten)]
    agent: AgentArgs,
}

pub fn run(a: DownArgs) -> anyhow::Result<()> {
    down(&a.local.config(), a.purge)
}

/// The agent's arguments as `berth up` gives them.
fn agent_args(local: &Config) -> anyhow::Result<AgentArgs> {
    Ok(AgentCli::try_parse_from(
        std::iter::once("berth-agent".to_owned()).chain(local.agent_argv()),
    )
    .context("the agent's arguments")?
    .agent)
}

/// Tears the pods down through the agent's containerd (adopted, or
/// started on its configuration when it does not run), then purges it.
fn remove_pods(args: &AgentArgs) -> anyhow::Result<usize> {
    if !args.data_dir.join("containerd").exists() {
        return Ok(0);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let config = args.node_config()?;
    rt.block_on(async {
        let mut containerd =
            Containerd::start(&config.containerd_dir(), config.containerd_config()).await?;
        let runtime = CriRuntime::connect(containerd.socket())?;
        // A containerd started just now answers CRI once its plugin is up.
        let deadline = std::time::Instant::now() + CRI_READY_TIMEOUT;
        while !runtime.ready().await.unwrap_or(false) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let sandboxes = runtime.list_sandboxes().await?;
        let mut failures = Vec::new();
        for s in &sandboxes {
            if let Err(e) = runtime.stop_sandbox(&s.id).await {
                failures.push(format!("stopping sandbox {}: {e}", s.id));
            }
            if let Err(e) = runtime.remove_sandbox(&s.id).await {
                failures.push(format!("removing sandbox {}: {e}", s.id));
            }
        }
        let purged = containerd.purge().await;
        if !failures.is_empty() {
            eprintln!("berth down: {}", failures.join("; "));
        }
        purged?;
        anyhow::Ok(sandboxes.len())
    })
}

fn remove_path(p: &Path) {
    let r = if p.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    };
    match r {
        Ok(()) => println!("  removed {}", p.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => eprintln!("berth down: removing {}: {e}", p.display()),
    }
}

/// Deletes the interface `name` over netlink, if it is there.
fn delete_link(name: &str) {
    use berth_cni::net::{Netlink, link};
    let deleted = Netlink::open().and_then(|nl| {
        let h = nl.host();
        nl.block_on(link::delete_by_name(&h, name))
    });
    match deleted {
        Ok(true) => println!("  deleted interface {name}"),
        Ok(false) => {}
        Err(e) => eprintln!("berth down: deleting interface {name}: {e}"),
    }
}

/// Stops the cluster; with `purge`, removes all of it.
pub fn down(local: &Config, purge: bool) -> anyhow::Result<()> {
    let me = std::env::current_exe().context("finding the berth binary")?;
    let layout = local.layout();
    println!(
        "berth down{}: state {}",
        if purge { " --purge" } else { "" },
        layout.state_dir.display()
    );
    if let Some(pid) = local.agent_daemon(&me).stop(STOP_GRACE)? {
        println!("  agent (pid {pid}): stopped");
    }
    let agent_args = agent_args(local)?;
    let pods = remove_pods(&agent_args)?;
    println!("  {pods} pod sandbox(es) removed; containerd and its shims stopped");
    if let Some(pid) = local.server_daemon(&me).stop(STOP_GRACE)? {
        println!("  server (pid {pid}): stopped");
    }
    // What else still names the cluster's directories (the node's DNS
    // process, which runs apart from the agent): SIGTERM, then SIGKILL.
    for round in [Signal::SIGTERM, Signal::SIGKILL] {
        let procs: Vec<(u32, String)> = leftovers::scan(&layout, &leftovers::Expect::default())
            .into_iter()
            .filter_map(|l| match l {
                Leftover::Process { pid, cmdline } => Some((pid, cmdline)),
                _ => None,
            })
            .collect();
        for (pid, cmdline) in &procs {
            println!("  {round}: pid {pid} ({cmdline})");
            let _ = kill(Pid::from_raw(*pid as i32), round);
        }
        if procs.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    // Unpinning the links detaches the programs; unpinning the maps frees
    // them once nothing holds them.
    remove_path(&layout.bpffs);
    delete_link(&local.bridge);
    delete_link(&agent_args.dns.dns_interface);
    if purge {
        remove_path(&layout.state_dir);
        remove_path(&layout.run_dir);
        remove_path(&local.cni_conf_dir.join("10-berth.conflist"));
        let creds = local.credentials_path();
        remove_path(&creds);
        for link in ["berth-cni", "loopback"] {
            let p = local.cni_bin_dir.join(link);
            if p.is_symlink() {
                remove_path(&p);
            }
        }
    }
    println!("berth down: done");
    Ok(())
}
