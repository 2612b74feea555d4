//! Rows, settings and the Markdown table of `berth bench lb --cluster`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::topo::Placement;
use crate::{
    lb::LbConfig,
    peers::Peer,
    report::{Results, clean_mode},
    sysinfo,
};

/// The latency modes of the cluster rows, in table order.
pub const MODES: [&str; 4] = ["vip", "direct", "nftables", "iptables"];

/// One JSON row: `berth bench lb`'s latency row plus where it ran and
/// where the backends were.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterRow {
    /// `netns` or `vm`.
    pub env: String,
    /// `same-node` or `cross-node`.
    pub placement: String,
    pub mode: String,
    pub services: usize,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
}

/// The rows of each placement's results, in a stable order; a peer's run
/// also yields its baseline (direct connections from a namespace without
/// rules, interleaved with it) as mode `<peer>:baseline`.
pub fn rows(env: &str, per: &[(Placement, Results)]) -> Vec<ClusterRow> {
    let mut out = Vec::new();
    for (placement, res) in per {
        let modes = MODES
            .iter()
            .copied()
            .chain([clean_mode("nftables"), clean_mode("iptables")]);
        for mode in modes {
            for ((m, n), p) in &res.latency {
                if *m == mode {
                    out.push(ClusterRow {
                        env: env.to_string(),
                        placement: placement.name().to_string(),
                        mode: mode.to_string(),
                        services: *n,
                        p50_us: p.p50_us,
                        p90_us: p.p90_us,
                        p99_us: p.p99_us,
                    });
                }
            }
        }
    }
    out
}

/// Versions and settings, one line each.
pub fn settings(cfg: &LbConfig, topo: &str, load_before: &str) -> Vec<String> {
    vec![
        format!(
            "kernel {} · {} · {} · berth {} · {} CPUs",
            sysinfo::kernel_release(),
            Peer::Iptables.version(),
            Peer::Nftables.version(),
            env!("CARGO_PKG_VERSION"),
            sysinfo::cpus()
        ),
        format!(
            "{} samples per run after {} warm-up · {} backends per service · peers up to {} services",
            cfg.samples, cfg.warmup, cfg.backends, cfg.peers_max
        ),
        format!("topology: {topo}"),
        format!(
            "load average {load_before} at start, {} at end",
            sysinfo::loadavg()
        ),
        "sample: socket + connect + 1-byte request/response + close from the client pod on node-1 \
         to a random one of the N services; peers' rules in the client pod's netns (nat OUTPUT)"
            .to_string(),
    ]
}

/// The Markdown table: one line per row, with each VIP or peer p50
/// against the direct (or baseline) p50 of the same run.
pub fn markdown(settings: &[String], rows: &[ClusterRow]) -> String {
    let mut out = String::from("## berth bench lb --cluster\n\n");
    for s in settings {
        let _ = writeln!(out, "- {s}");
    }
    out.push_str(
        "\n| env | placement | mode | services | p50 µs | p90 µs | p99 µs | p50 vs direct |\n\
         |---|---|---|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let base = match r.mode.as_str() {
            "vip" => Some("direct".to_string()),
            "iptables" | "nftables" => Some(clean_mode(&r.mode).to_string()),
            _ => None,
        };
        let versus = base
            .and_then(|b| {
                rows.iter().find(|o| {
                    o.env == r.env
                        && o.placement == r.placement
                        && o.services == r.services
                        && o.mode == b
                })
            })
            .filter(|b| b.p50_us > 0.0)
            .map_or("".to_string(), |b| {
                format!("{:+.1}%", (r.p50_us / b.p50_us - 1.0) * 100.0)
            });
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {versus} |",
            r.env, r.placement, r.mode, r.services, r.p50_us, r.p90_us, r.p99_us
        );
    }
    out
}

/// The failed runs, if any (their numbers are in no row).
pub fn print_failures(per: &[(Placement, Results)]) {
    for (placement, res) in per {
        for ((mode, n), f) in &res.failed {
            println!(
                "FAILED: {mode} at {n} services, backends {}: {} failed, {} succeeded; {}",
                placement.name(),
                f.failures,
                f.succeeded,
                f.problems.join("; ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Percentiles;

    fn p(v: f64) -> Percentiles {
        Percentiles {
            p50_us: v,
            p90_us: v + 1.0,
            p99_us: v + 2.0,
        }
    }

    #[test]
    fn rows_carry_env_and_placement_and_the_table_compares_with_direct() {
        let mut same = Results::default();
        same.latency.insert(("vip", 10), p(110.0));
        same.latency.insert(("direct", 10), p(100.0));
        let mut cross = Results::default();
        cross.latency.insert(("iptables", 10), p(300.0));
        cross.latency.insert(("iptables:baseline", 10), p(150.0));
        let rows = rows(
            "netns",
            &[(Placement::SameNode, same), (Placement::CrossNode, cross)],
        );
        let v = serde_json::to_value(&rows[0]).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"env": "netns", "placement": "same-node", "mode": "vip",
                "services": 10, "p50_us": 110.0, "p90_us": 111.0, "p99_us": 112.0})
        );
        assert_eq!(rows.len(), 4);
        let md = markdown(&["s".into()], &rows);
        assert!(
            md.contains("| netns | same-node | vip | 10 | 110.0 | 111.0 | 112.0 | +10.0% |"),
            "{md}"
        );
        assert!(
            md.contains("| netns | cross-node | iptables | 10 | 300.0 | 301.0 | 302.0 | +100.0% |"),
            "{md}"
        );
    }
}
