//! `berth bench nodeport`: TCP connect + 1-byte request + close from a
//! client namespace outside the node, interleaved one connection at a time
//! ([`crate::measure::run`]), to each service's backend straight (routed
//! through the node: the baseline with no Berth code in the path), through
//! Berth's tc program on the node's node ports, and through kube-proxy's
//! iptables `KUBE-NODEPORTS` rules on the node's other address. Each
//! service has its own backend address ([`topo`]). Rows:
//! `{"mode", "services", "p50_us", "p99_us", "rps"}` (rps: serial
//! connections per second, 1 / mean).
//!
//! Not measured yet: XDP (the per-packet path runs in tc), and the
//! nftables peer.

mod rules;
mod topo;

use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use serde::Serialize;

use crate::{
    interrupt,
    measure::{self, Set, Targets},
    peers::{self, Peer},
    stats, sysinfo,
};
use topo::{BERTH_ADDR, Berth, PEER_ADDR, Topo, backend, node_port};

/// Default service counts.
pub const DEFAULT_SERVICES: [usize; 2] = [1, 10_000];
/// Default samples per row.
pub const DEFAULT_SAMPLES: usize = 10_000;

#[derive(Debug, Clone)]
pub struct NodePortConfig {
    pub services: Vec<usize>,
    pub samples: usize,
    pub json: Option<PathBuf>,
}

/// One row of the results.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub mode: &'static str,
    pub services: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub rps: f64,
    pub samples: usize,
}

const MODES: [&str; 3] = ["direct", "berth-tc", "iptables"];

pub fn run(cfg: &NodePortConfig) -> anyhow::Result<()> {
    sysinfo::require_root("berth bench nodeport")?;
    peers::require_binaries(&[Peer::Iptables])?;
    anyhow::ensure!(
        cfg.services.iter().all(|n| (1..=50_000).contains(n)),
        "--services: each count must be 1-50000"
    );
    interrupt::install()?;
    let load_before = sysinfo::loadavg();
    let mut topo = Topo::new().context("building the namespaces")?;
    let mut berth = Berth::start(&topo)?;
    let mut rows = Vec::new();
    for &n in &cfg.services {
        topo.backends(n)?;
        berth.program(n)?;
        Peer::Iptables.load(&topo.node, &rules::iptables(n))?;
        let targets = [
            Targets::List((0..n).map(backend).collect()),
            Targets::List((0..n).map(|i| (BERTH_ADDR, node_port(i)).into()).collect()),
            Targets::List((0..n).map(|i| (PEER_ADDR, node_port(i)).into()).collect()),
        ];
        let sets: Vec<Set<'_>> = targets
            .iter()
            .map(|t| Set {
                ns: &topo.client,
                targets: t,
            })
            .collect();
        let warmup = (cfg.samples / 10).max(n.min(2_000));
        let runs = measure::run(&sets, warmup, cfg.samples)?;
        for (mode, mut r) in MODES.into_iter().zip(runs) {
            anyhow::ensure!(
                r.failures == 0,
                "{mode} at {n} services: {} connections failed: {:?}",
                r.failures,
                r.errors
            );
            let mean = r.samples.iter().sum::<Duration>().as_secs_f64() / r.samples.len() as f64;
            let p = stats::percentiles(&mut r.samples).context("no samples")?;
            rows.push(Row {
                mode,
                services: n,
                p50_us: p.p50_us,
                p99_us: p.p99_us,
                rps: 1.0 / mean,
                samples: r.samples.len(),
            });
        }
        Peer::Iptables.clear(&topo.node)?;
        interrupt::check()?;
    }
    drop(berth);
    print!("{}", render(&rows, &settings(cfg, &load_before)));
    if let Some(path) = &cfg.json {
        let doc = serde_json::json!({
            "rows": rows,
            "settings": settings(cfg, &load_before),
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn settings(cfg: &NodePortConfig, load_before: &str) -> Vec<String> {
    vec![
        format!(
            "date {}; kernel {}; {} CPUs ({}); load before {load_before}",
            jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
            sysinfo::kernel_release(),
            sysinfo::cpus(),
            sysinfo::cpu_model()
        ),
        format!(
            "command: berth bench nodeport --services {} --samples {}",
            cfg.services
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(","),
            cfg.samples
        ),
        "client netns -> node netns (veth) -> pod netns (veth); one distinct backend address per service; sample: socket, connect, 1-byte request and reply, close; the three modes interleaved connection by connection".into(),
        "direct: to the backend's address, routed by the node's kernel (no Berth code, no NAT); berth-tc: the node's tc ingress program, SNAT to the node (externalTrafficPolicy Cluster), redirect via FIB lookup; iptables: kube-proxy's KUBE-NODEPORTS layout (mark, DNAT, MASQUERADE --random-fully) on the node's second address".into(),
        format!("iptables: {}", Peer::Iptables.version()),
    ]
}

fn render(rows: &[Row], settings: &[String]) -> String {
    let mut out = String::from(
        "\n| services | mode | p50 µs | p99 µs | conn/s | vs direct p50 | vs direct p99 |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let direct = rows
            .iter()
            .find(|d| d.services == r.services && d.mode == "direct");
        let vs = |f: fn(&Row) -> f64| {
            direct.map_or_else(String::new, |d| {
                format!("{:+.1}%", (f(r) / f(d) - 1.0) * 100.0)
            })
        };
        out.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {:.0} | {} | {} |\n",
            r.services,
            r.mode,
            r.p50_us,
            r.p99_us,
            r.rps,
            vs(|x| x.p50_us),
            vs(|x| x.p99_us)
        ));
    }
    for s in settings {
        out.push_str(&format!("\n- {s}"));
    }
    out.push('\n');
    out
}
