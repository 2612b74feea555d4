//! `berth status`: the running cluster as this machine sees it — the API
//! server (through the CLI's credentials), its nodes with their versions
//! and health, the workloads, the daemons `berth up` runs here — and what
//! Berth does not do yet, from [`NOT_YET`], the one list of it.

use std::collections::BTreeMap;
use std::time::Instant;

use berth_api::{Node, Pod, Time};
use clap::Args;

use super::kubectl::{ClientArgs, client, runtime};
use super::local::LocalArgs;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Where `berth up` keeps this machine's cluster (its daemons are
    /// looked for there).
    #[command(flatten)]
    pub local: LocalArgs,
}

/// What Berth does not do yet: the one list `berth status` prints and
/// README.md, docs/README.md and docs/architecture.md point to.
pub const NOT_YET: &[&str] = &[
    "node ports in XDP (tc serves NodePort and externalIPs), hostPort, the healthCheckNodePort server, internalTrafficPolicy Local, DSR",
    "LoadBalancer address pools and L2 announcement",
    "NetworkPolicy",
    "the Kubernetes REST API (kubectl, client libraries); berth logs/exec through the server",
    "rollout history/undo/pause; StatefulSets, Jobs, DaemonSets; CustomResourceDefinitions",
    "VXLAN over an IPv6 underlay (IPv6 pods ride the IPv4 overlay)",
];

pub fn run(a: StatusArgs, client_args: &ClientArgs) -> anyhow::Result<()> {
    println!("berth {}", env!("CARGO_PKG_VERSION"));
    println!("\nThe cluster (through the CLI's credentials):");
    runtime()?.block_on(cluster(client_args));
    println!(
        "\nOn this machine (berth up, {}):",
        a.local.state_dir.display()
    );
    local_daemons(&a.local.config());
    println!("\nNot yet:");
    for n in NOT_YET {
        println!("  - {n}");
    }
    Ok(())
}

/// The API server, nodes and workloads, through the CLI's credentials.
async fn cluster(client_args: &ClientArgs) {
    let started = Instant::now();
    let api = match client(client_args).await {
        Ok(api) => berth_client::Client::remote(api),
        Err(e) => {
            println!("  server     not reachable: {e:#}");
            return;
        }
    };
    let nodes = match api.list::<Node>("", "").await {
        Ok(l) => l.items,
        Err(e) => {
            println!("  server     not answering: {e}");
            return;
        }
    };
    println!(
        "  server     answers ({} ms for the node list)",
        started.elapsed().as_millis()
    );
    println!("  nodes      {}", nodes.len());
    let now = Time::now().unix_seconds();
    for n in &nodes {
        println!("    {}", node_line(n, now));
    }
    match api.list::<Pod>("", "").await {
        Ok(pods) => {
            let mut by_phase: BTreeMap<String, usize> = BTreeMap::new();
            for p in &pods.items {
                *by_phase.entry(format!("{:?}", p.status.phase)).or_default() += 1;
            }
            let phases: Vec<String> = by_phase.iter().map(|(k, v)| format!("{v} {k}")).collect();
            println!("  pods       {} ({})", pods.items.len(), phases.join(", "));
        }
        Err(e) => println!("  pods       not listed: {e}"),
    }
}

/// `NAME Ready|NotReady  kubelet, runtime  IPs  heartbeat Ns ago`.
fn node_line(n: &Node, now: i64) -> String {
    let ready = n.status.conditions.iter().find(|c| c.type_ == "Ready");
    let state = if n.is_ready() { "Ready" } else { "NotReady" };
    let beat = ready
        .and_then(|c| c.last_heartbeat_time)
        .map(|t| format!("heartbeat {} s ago", (now - t.unix_seconds()).max(0)))
        .unwrap_or_else(|| "no heartbeat".into());
    let ips: Vec<&str> = n.internal_ips().collect();
    let info = &n.status.node_info;
    format!(
        "{:<14} {:<9} {}, {}  {}  {beat}",
        n.metadata.name,
        state,
        info.kubelet_version,
        info.container_runtime_version,
        ips.join(",")
    )
}

/// `berth up`'s daemons on this machine: running (pid) or not.
fn local_daemons(local: &berth_local::Config) {
    let Ok(me) = std::env::current_exe() else {
        return;
    };
    let dns_pid = local.run_dir.join("dns.pid");
    let daemons = [
        ("server", local.server_daemon(&me).running()),
        ("agent", local.agent_daemon(&me).running()),
        (
            "dns",
            std::fs::read_to_string(&dns_pid)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .filter(|pid| berth_node::daemon::alive(*pid)),
        ),
    ];
    for (name, pid) in daemons {
        match pid {
            Some(pid) => println!("  {name:<10} running (pid {pid})"),
            None => println!("  {name:<10} not running"),
        }
    }
}
