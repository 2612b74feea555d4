//! What `berth bench lb` prints and writes: the JSON rows of the spec and
//! a human-readable table, side by side per service count.

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use anyhow::Context as _;
use serde::Serialize;

use crate::stats::Percentiles;

/// The latency modes, in table order.
pub const MODES: [&str; 6] = [
    "vip",
    "vip-affinity",
    "vip-maglev",
    "direct",
    "iptables",
    "nftables",
];
/// Name of the direct connections from the client namespace (rules
/// loaded) interleaved with a peer's run.
pub fn control_mode(peer: &str) -> &'static str {
    match peer {
        "iptables" => "iptables:direct",
        "nftables" => "nftables:direct",
        _ => "other:direct",
    }
}

/// Name of the direct connections from the control namespace (no rules)
/// interleaved with a peer's run.
pub fn clean_mode(peer: &str) -> &'static str {
    match peer {
        "iptables" => "iptables:baseline",
        "nftables" => "nftables:baseline",
        _ => "other:baseline",
    }
}

/// The programming implementations, in table order.
pub const IMPLS: [&str; 3] = ["berth", "iptables", "nftables"];

/// Targets, printed next to the figures (never asserted).
pub const TARGET_VIP_VS_DIRECT_PCT: f64 = 5.0;
pub const TARGET_VIP_AT: usize = 100_000;
pub const TARGET_PROGRAM_MS: f64 = 50.0;
pub const TARGET_PROGRAM_AT: usize = 10_000;
pub const TARGET_UPDATE_MS: f64 = 1.0;

/// One row of the JSON file, exactly as specified.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Row {
    Latency {
        mode: &'static str,
        services: usize,
        p50_us: f64,
        p90_us: f64,
        p99_us: f64,
    },
    Program {
        mode: &'static str,
        #[serde(rename = "impl")]
        implementation: &'static str,
        services: usize,
        ms: f64,
    },
    UpdateOne {
        mode: &'static str,
        services: usize,
        ms: f64,
    },
    MapBytes {
        mode: &'static str,
        services: usize,
        bytes: f64,
    },
}

/// Versions and settings of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub kernel: String,
    pub iptables: String,
    pub nft: String,
    pub berth: String,
    pub cpus: usize,
    pub samples: usize,
    pub warmup: usize,
    pub backends: usize,
    pub peers_max: usize,
    pub services: Vec<usize>,
    /// Load averages at the start and at the end of the run.
    pub load: (String, String),
}

/// A run whose connections failed: its numbers are not reported.
#[derive(Debug, Clone)]
pub struct Failed {
    pub failures: u64,
    pub succeeded: u64,
    pub problems: Vec<String>,
}

/// Backend changes at one service count.
#[derive(Debug, Clone, Copy)]
pub struct Update {
    pub median_ms: f64,
    pub max_ms: f64,
    pub ops: usize,
}

/// Everything measured so far.
#[derive(Debug, Default)]
pub struct Results {
    /// (mode, N) → percentiles of a clean run.
    pub latency: BTreeMap<(&'static str, usize), Percentiles>,
    /// (mode, N) → connections per backend in that run.
    pub spread: BTreeMap<(&'static str, usize), Vec<u64>>,
    /// (mode, N) → why the run is not reported.
    pub failed: BTreeMap<(&'static str, usize), Failed>,
    /// (impl, N) → milliseconds.
    pub program: BTreeMap<(&'static str, usize), f64>,
    pub update: BTreeMap<usize, Update>,
    pub map_bytes: BTreeMap<usize, u64>,
    /// Map memory of the empty data plane (limits sized for the largest N).
    pub empty_map_bytes: Option<u64>,
}

impl Results {
    /// The JSON rows, in a stable order.
    pub fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        let counts: std::collections::BTreeSet<usize> = self
            .latency
            .keys()
            .map(|(_, n)| *n)
            .chain(self.program.keys().map(|(_, n)| *n))
            .chain(self.update.keys().copied())
            .chain(self.map_bytes.keys().copied())
            .collect();
        for n in counts {
            for mode in MODES {
                if let Some(p) = self.latency.get(&(mode, n)) {
                    rows.push(Row::Latency {
                        mode,
                        services: n,
                        p50_us: p.p50_us,
                        p90_us: p.p90_us,
                        p99_us: p.p99_us,
                    });
                }
            }
            for implementation in IMPLS {
                if let Some(ms) = self.program.get(&(implementation, n)) {
                    rows.push(Row::Program {
                        mode: "program",
                        implementation,
                        services: n,
                        ms: *ms,
                    });
                }
            }
            if let Some(u) = self.update.get(&n) {
                rows.push(Row::UpdateOne {
                    mode: "update_one",
                    services: n,
                    ms: u.median_ms,
                });
            }
            if let Some(b) = self.map_bytes.get(&n) {
                rows.push(Row::MapBytes {
                    mode: "map_bytes",
                    services: n,
                    bytes: *b as f64,
                });
            }
        }
        rows
    }

    /// Writes the rows to `path` as a JSON array.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(&self.rows())? + "\n";
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}

const LABEL: usize = 36;
const COL: usize = 24;

fn header(out: &mut String, title: &str, counts: &[usize]) {
    let _ = write!(out, "\n{title:<LABEL$}");
    for n in counts {
        let _ = write!(out, "│{:^COL$}", format!("N = {n}"));
    }
    out.push('\n');
}

fn human_bytes(b: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if b as f64 >= MIB {
        format!("{:.1} MiB", b as f64 / MIB)
    } else {
        format!("{:.1} KiB", b as f64 / 1024.0)
    }
}

fn mode_label(mode: &str) -> &'static str {
    match mode {
        "vip" => "  vip      (Berth eBPF, VIP)",
        "vip-affinity" => "  vip-affinity (ClientIP, 10800 s)",
        "vip-maglev" => "  vip-maglev (Maglev, 16381)",
        "direct" => "  direct   (backend address)",
        "iptables" => "  iptables (legacy, kube-proxy)",
        "nftables" => "  nftables (vmap, kube-proxy)",
        _ => "  ?",
    }
}

fn impl_label(i: &str) -> &'static str {
    match i {
        "berth" => "  berth    (Lb::reconcile)",
        "iptables" => "  iptables (iptables-legacy-restore)",
        "nftables" => "  nftables (nft -f)",
        _ => "  ?",
    }
}

/// The human-readable report.
pub fn render(s: &Settings, r: &Results) -> String {
    let mut out = String::new();
    intro(&mut out, s);
    latency(&mut out, s, r);
    programming(&mut out, s, r);
    updates(&mut out, s, r);
    memory(&mut out, s, r);
    notes(&mut out, s, r);
    out
}

/// What was measured, how, and on what.
fn intro(out: &mut String, s: &Settings) {
    let _ = writeln!(
        out,
        "berth bench lb: Berth's eBPF socket load balancer vs kube-proxy-style rules"
    );
    let _ = writeln!(
        out,
        "  kernel {} · {} · {} · berth {} · {} CPUs",
        s.kernel, s.iptables, s.nft, s.berth, s.cpus
    );
    let _ = writeln!(
        out,
        "  {} samples per run after {} warm-up · {} backends per service · peers up to {} services (--peers-max)",
        s.samples, s.warmup, s.backends, s.peers_max
    );
    let _ = writeln!(
        out,
        "  load average {} at start, {} at end (other work on these CPUs shows up in the tails)",
        s.load.0, s.load.1
    );
    let _ = writeln!(
        out,
        "  sample: socket + connect + 1-byte request/response + close, from the client netns, to a random one of the N services"
    );
}

/// Connection latency per mode and N, and each mode against its baseline.
fn latency(out: &mut String, s: &Settings, r: &Results) {
    let counts = &s.services;
    header(out, "Latency (µs)        p50 / p90 / p99", counts);
    let peer_skipped = |mode: &str, n: usize| {
        (mode.starts_with("iptables") || mode.starts_with("nftables")) && n > s.peers_max
    };
    for mode in MODES {
        let mut rows = vec![(mode, mode_label(mode))];
        if mode == "iptables" || mode == "nftables" {
            rows.push((clean_mode(mode), "    direct, netns without rules"));
            rows.push((control_mode(mode), "    direct, this netns, rules loaded"));
        }
        for (key, label) in rows {
            let _ = write!(out, "{label:<LABEL$}");
            for &n in counts {
                let cell = if let Some(p) = r.latency.get(&(key, n)) {
                    format!("{:.1} / {:.1} / {:.1}", p.p50_us, p.p90_us, p.p99_us)
                } else if r.failed.contains_key(&(key, n)) {
                    "FAILED".to_string()
                } else if peer_skipped(key, n) {
                    "skipped (--peers-max)".to_string()
                } else {
                    "-".to_string()
                };
                let _ = write!(out, "│{cell:^COL$}");
            }
            out.push('\n');
        }
    }
    for (mode, base) in [
        ("vip", "direct"),
        ("vip-affinity", "direct"),
        ("vip-maglev", "direct"),
        ("iptables", clean_mode("iptables")),
        ("nftables", clean_mode("nftables")),
    ] {
        let _ = write!(out, "{:<LABEL$}", format!("  {mode} p50 vs direct p50"));
        for &n in counts {
            let cell = match (r.latency.get(&(mode, n)), r.latency.get(&(base, n))) {
                (Some(v), Some(d)) if d.p50_us > 0.0 => {
                    format!("{:+.1}%", (v.p50_us / d.p50_us - 1.0) * 100.0)
                }
                _ => "-".to_string(),
            };
            let _ = write!(out, "│{cell:^COL$}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "  Each comparison is between connections interleaved one by one. vip and direct run first, from\n  \
         the client netns before any rules exist; each peer runs later with its rules in the client netns,\n  \
         interleaved with direct connections from a netns without rules (its baseline) and from the client\n  \
         netns (what all other traffic pays for the rules)."
    );
    let _ = writeln!(
        out,
        "  target: vip p50 within {TARGET_VIP_VS_DIRECT_PCT}% of direct at {TARGET_VIP_AT} services"
    );
    let _ = writeln!(
        out,
        "  vip-affinity and vip-maglev: the same N services (Maglev: at most 1024, each with a 16381-entry\n  \
         table) beside the plain ones, interleaved with vip and direct. One client netns: affinity answers\n  \
         from its entry after each service's first connection, Maglev from the table slot of its hash."
    );
}

/// Time to program N services, Berth and the peers.
fn programming(out: &mut String, s: &Settings, r: &Results) {
    let counts = &s.services;
    header(out, "Programming N services (ms)", counts);
    for i in IMPLS {
        let _ = write!(out, "{:<LABEL$}", impl_label(i));
        for &n in counts {
            let cell = match r.program.get(&(i, n)) {
                Some(ms) => format!("{ms:.1}"),
                None if i != "berth" && n > s.peers_max => "skipped (--peers-max)".to_string(),
                None => "-".to_string(),
            };
            let _ = write!(out, "│{cell:^COL$}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "  target: berth under {TARGET_PROGRAM_MS} ms for {TARGET_PROGRAM_AT} services"
    );
}

/// Time to change one service's backends.
fn updates(out: &mut String, s: &Settings, r: &Results) {
    let counts = &s.services;
    header(out, "Change one service's backends (ms)", counts);
    let _ = write!(out, "{:<LABEL$}", "  berth set_backends: median (max)");
    for &n in counts {
        let cell = match r.update.get(&n) {
            Some(u) => format!("{:.3} ({:.3})", u.median_ms, u.max_ms),
            None => "-".to_string(),
        };
        let _ = write!(out, "│{cell:^COL$}");
    }
    let ops = r.update.values().next().map_or(0, |u| u.ops);
    let _ = writeln!(
        out,
        "\n  {ops} changes per N, each replacing one backend · target: under {TARGET_UPDATE_MS} ms"
    );
}

/// Kernel memory of the maps.
fn memory(out: &mut String, s: &Settings, r: &Results) {
    let counts = &s.services;
    header(out, "Kernel memory of the BPF maps", counts);
    let _ = write!(out, "{:<LABEL$}", "  total");
    for &n in counts {
        let cell = r
            .map_bytes
            .get(&n)
            .map_or("-".to_string(), |b| human_bytes(*b));
        let _ = write!(out, "│{cell:^COL$}");
    }
    let _ = write!(out, "\n{:<LABEL$}", "  above the empty data plane");
    for &n in counts {
        let cell = match (r.map_bytes.get(&n), r.empty_map_bytes) {
            (Some(b), Some(e)) => human_bytes(b.saturating_sub(e)),
            _ => "-".to_string(),
        };
        let _ = write!(out, "│{cell:^COL$}");
    }
    out.push('\n');
    if let Some(e) = r.empty_map_bytes {
        let _ = writeln!(
            out,
            "  empty: {} (fixed by the limits: hash buckets, reverse-NAT LRU maps, per-CPU counters)",
            human_bytes(e)
        );
    }
}

/// What was skipped, the spread per backend, and failed runs.
fn notes(out: &mut String, s: &Settings, r: &Results) {
    let counts = &s.services;
    let skipped: Vec<String> = counts
        .iter()
        .filter(|n| **n > s.peers_max)
        .map(usize::to_string)
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(
            out,
            "\nSkipped: iptables and nftables at N = {} (above --peers-max {}; loading that many kube-proxy rules takes minutes).",
            skipped.join(", "),
            s.peers_max
        );
    }
    if !r.spread.is_empty() {
        let _ = writeln!(out, "\nConnections per backend (warm-up included):");
        for ((mode, n), v) in &r.spread {
            let parts: Vec<String> = v.iter().map(u64::to_string).collect();
            let _ = writeln!(out, "  {mode:<18} N = {n:<7} {}", parts.join(" / "));
        }
    }
    if !r.failed.is_empty() {
        let _ = writeln!(out, "\nFAILED runs (not reported above, not in the JSON):");
        for ((mode, n), f) in &r.failed {
            let _ = writeln!(
                out,
                "  {mode} N = {n}: {} failed, {} succeeded",
                f.failures, f.succeeded
            );
            for p in &f.problems {
                let _ = writeln!(out, "    {p}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_have_the_specified_shape() {
        let mut r = Results::default();
        r.latency.insert(
            ("vip", 10),
            Percentiles {
                p50_us: 1.0,
                p90_us: 2.0,
                p99_us: 3.0,
            },
        );
        r.program.insert(("berth", 10), 0.5);
        r.update.insert(
            10,
            Update {
                median_ms: 0.1,
                max_ms: 0.2,
                ops: 2,
            },
        );
        r.map_bytes.insert(10, 4096);
        let v = serde_json::to_value(r.rows()).unwrap();
        assert_eq!(
            v,
            serde_json::json!([
                {"mode": "vip", "services": 10, "p50_us": 1.0, "p90_us": 2.0, "p99_us": 3.0},
                {"mode": "program", "impl": "berth", "services": 10, "ms": 0.5},
                {"mode": "update_one", "services": 10, "ms": 0.1},
                {"mode": "map_bytes", "services": 10, "bytes": 4096.0},
            ])
        );
        let s = Settings {
            kernel: "k".into(),
            iptables: "i".into(),
            nft: "n".into(),
            berth: "b".into(),
            cpus: 2,
            samples: 1,
            warmup: 0,
            backends: 3,
            peers_max: 5,
            services: vec![10],
            load: ("0.1".into(), "0.2".into()),
        };
        let text = render(&s, &r);
        assert!(text.contains("1.0 / 2.0 / 3.0"), "{text}");
        assert!(text.contains("skipped (--peers-max)"), "{text}");
    }
}
