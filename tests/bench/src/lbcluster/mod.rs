//! `berth bench lb --cluster`: the latency of `berth bench lb` with the
//! backends on the client's node and on another node of a two-node pod
//! network (see [`topo`]), for Berth's VIP, the direct pod address and
//! kube-proxy-style iptables-legacy and nftables rules, at each service
//! count. Rows as `berth bench lb`'s latency rows plus `"env"` and
//! `"placement"`; also a Markdown table and an SVG plot of p50 latency
//! against the number of services.
//!
//! With `--vm` ([`vm`]), the same rows with `"env": "vm"` across virtual
//! machines: a Berth cluster (server, agents, containerd, pods) in N
//! guests on Debian's 6.1 kernel, a Service per node, measured from
//! guest 1 (VIP and pod address; the peers' rules are not loaded there).
//!
//! Order of the runs, as in `berth bench lb`: Berth (vip and direct
//! interleaved) at every N and placement, then nftables, then
//! iptables-legacy (its nat table stays registered once loaded); each
//! peer's rules sit in the client pod's namespace (nat OUTPUT), as in the
//! single-node benchmark.

mod plot;
mod report;
pub mod topo;
pub mod vm;
pub mod vmnode;

use std::path::Path;

use anyhow::Context as _;
use berth_dataplane::Limits;

use crate::{
    inproc::InProc,
    interrupt,
    lb::{LbConfig, peer_at, progress, series},
    measure::Targets,
    peers::{self, Peer},
    report::Results,
    services::{self, BERTH_VIPS, SERVICE_PORT},
    sysinfo,
};
pub use report::ClusterRow;
use topo::{ClusterTopo, Placement};

/// Default service counts of `--cluster` (points of the plot).
pub const DEFAULT_SERVICES: [usize; 3] = [1, 1_000, 10_000];

/// Runs the cluster benchmark; prints the Markdown table, writes the JSON
/// rows to `--json` and the plot next to it (or to `--plot`).
pub fn run(cfg: &LbConfig) -> anyhow::Result<()> {
    sysinfo::require_root("berth bench lb --cluster")?;
    let peer_counts: Vec<usize> = cfg
        .services
        .iter()
        .copied()
        .filter(|n| *n <= cfg.peers_max)
        .collect();
    if !peer_counts.is_empty() {
        peers::require_binaries(&[Peer::Iptables, Peer::Nftables])?;
    }
    interrupt::install()?;
    sysinfo::remove_leftovers();
    let load_before = sysinfo::loadavg();
    let mut per: Vec<(Placement, Results)> = Placement::ALL
        .iter()
        .map(|p| (*p, Results::default()))
        .collect();
    let mut described = String::new();
    let mut outcome = run_all(cfg, &peer_counts, &mut per, &mut described);
    let mut rows = report::rows("netns", &per);
    let mut settings = report::settings(cfg, &described, &load_before);
    if let (Some(vm), Ok(())) = (&cfg.vm, &outcome) {
        progress(format_args!(
            "vm: {} guests, {} requests per target",
            vm.nodes, vm.samples
        ));
        match vm::run(vm) {
            Ok((vm_rows, about)) => {
                rows.extend(vm_rows);
                settings.push(format!(
                    "vm: {about}; sample: connect + HTTP/1.0 GET to busybox httpd + close from vm-1's root cgroup, {} per target, VIP and pod interleaved",
                    vm.samples
                ));
            }
            Err(e) => outcome = Err(e.context("the VM cluster")),
        }
    }
    let table = report::markdown(&settings, &rows);
    print!("{table}");
    report::print_failures(&per);
    let plot_path = cfg
        .plot
        .clone()
        .or_else(|| cfg.json.as_ref().map(|j| j.with_extension("svg")));
    if let Some(path) = &cfg.json {
        let text = serde_json::to_string_pretty(&rows)? + "\n";
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        let md = path.with_extension("md");
        std::fs::write(&md, &table).with_context(|| format!("writing {}", md.display()))?;
        println!("\nJSON: {}\nMarkdown: {}", path.display(), md.display());
    }
    match &plot_path {
        Some(path) => {
            write_plot(path, &rows)?;
            println!("Plot: {}", path.display());
        }
        None => println!("\n(no plot: give --json FILE or --plot FILE.svg)"),
    }
    outcome?;
    let failed: usize = per.iter().map(|(_, r)| r.failed.len()).sum();
    anyhow::ensure!(failed == 0, "{failed} run(s) failed: see FAILED above");
    Ok(())
}

fn write_plot(path: &Path, rows: &[ClusterRow]) -> anyhow::Result<()> {
    let svg = plot::svg(rows);
    std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))
}

fn run_all(
    cfg: &LbConfig,
    peer_counts: &[usize],
    per: &mut [(Placement, Results)],
    described: &mut String,
) -> anyhow::Result<()> {
    let k = cfg.backends;
    let max_n = *cfg.services.last().unwrap_or(&1);
    progress(format_args!(
        "creating two nodes in namespaces: node-1 with the clients and {k} backends, node-2 with {k}"
    ));
    let topo = ClusterTopo::new(k)?;
    *described = topo.describe();
    let limits = Limits {
        frontends: u32::try_from(max_n + 16)?,
        backends: u32::try_from(max_n * k + 64)?,
        backends_per_frontend: 64,
        ..Limits::default()
    };
    let mut dp = InProc::start(limits)?;
    for &n in &cfg.services {
        for (placement, res) in per.iter_mut() {
            interrupt::check()?;
            let view = topo.view(*placement);
            let backends = view.backends();
            progress(format_args!(
                "berth: {n} services, backends {}",
                placement.name()
            ));
            dp.lb()
                .reconcile(&services::berth_services(n, &backends))
                .with_context(|| format!("programming {n} services"))?;
            let client = view.client;
            series(
                cfg,
                &view,
                n,
                &[
                    (
                        "vip",
                        client,
                        Targets::Vips {
                            base: BERTH_VIPS,
                            count: n,
                            port: SERVICE_PORT,
                        },
                    ),
                    ("direct", client, Targets::List(backends)),
                ],
                res,
            )?;
        }
    }
    dp.lb().reconcile(&[]).context("emptying the data plane")?;
    for peer in [Peer::Nftables, Peer::Iptables] {
        for &n in peer_counts {
            for (placement, res) in per.iter_mut() {
                interrupt::check()?;
                progress(format_args!(
                    "{}: backends {}",
                    peer.mode(),
                    placement.name()
                ));
                peer_at(cfg, &topo.view(*placement), peer, n, res)?;
            }
        }
    }
    progress(format_args!("cleaning up"));
    drop(dp);
    drop(topo);
    Ok(())
}
