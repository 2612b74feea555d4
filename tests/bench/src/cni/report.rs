//! What `berth bench cni` prints and writes: the JSON rows of the spec and
//! a side-by-side table.

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use anyhow::Context as _;
use serde::Serialize;

use super::plugin::Kind;

/// The concurrencies measured, in table order.
pub const CONCURRENCY: [usize; 2] = [1, 8];
/// Target: berth's ADD p50 at most this fraction of the reference's.
pub const TARGET_ADD_RATIO: f64 = 1.0 / 3.0;
/// Target: berth's DEL p50 at most this fraction of the reference's.
pub const TARGET_DEL_RATIO: f64 = 1.0;

/// `add` or `del`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Add,
    Del,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Del => "del",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Op::Add => "ADD",
            Op::Del => "DEL",
        }
    }
    fn target(self) -> f64 {
        match self {
            Op::Add => TARGET_ADD_RATIO,
            Op::Del => TARGET_DEL_RATIO,
        }
    }
}

/// One row of the JSON file, exactly as specified.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    pub plugin: &'static str,
    pub op: &'static str,
    pub concurrency: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Latency of one (plugin, op, concurrency), over the calls that succeeded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Versions and settings of a run.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub kernel: String,
    pub cpus: usize,
    pub pods: usize,
    pub berth_version: String,
    pub berth: String,
    pub berth_cni_versions: String,
    pub reference: String,
    pub reference_cni_versions: String,
    /// The berth configuration (the reference's differs in `type` only).
    pub conf: String,
    pub load: (String, String),
}

/// Everything measured and checked.
#[derive(Debug, Default)]
pub struct Results {
    /// Runs whose calls all succeeded and whose checks passed.
    pub latency: BTreeMap<(Kind, Op, usize), Latency>,
    /// (plugin, concurrency) → what went wrong (empty: all checks passed).
    pub checks: BTreeMap<(Kind, usize), Vec<String>>,
}

impl Results {
    /// The JSON rows, in a stable order (plugin, op, concurrency).
    pub fn rows(&self) -> Vec<Row> {
        self.latency
            .iter()
            .map(|((k, op, c), l)| Row {
                plugin: k.name(),
                op: op.name(),
                concurrency: *c,
                p50_ms: l.p50_ms,
                p99_ms: l.p99_ms,
            })
            .collect()
    }

    /// Writes the rows to `path` as a JSON array.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(&self.rows())? + "\n";
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Whether every run completed with all its checks passed.
    pub fn failed(&self) -> bool {
        self.checks.values().any(|p| !p.is_empty())
    }
}

const LABEL: usize = 20;
const COL: usize = 22;

fn conc_label(c: usize) -> String {
    if c == 1 {
        "sequential".to_string()
    } else {
        format!("{c} at a time")
    }
}

fn cell(l: Option<&Latency>, failed: bool) -> String {
    match l {
        Some(l) => format!("{:7.2} / {:7.2}", l.p50_ms, l.p99_ms),
        None if failed => "FAILED".to_string(),
        None => "-".to_string(),
    }
}

/// The human-readable report.
pub fn render(s: &Settings, r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "berth bench cni: berth-cni vs the reference bridge + host-local plugins"
    );
    let _ = writeln!(
        out,
        "  kernel {} · {} CPUs · {} pods per run, each in its own netns · load average {} at start, {} at end",
        s.kernel, s.cpus, s.pods, s.load.0, s.load.1
    );
    let _ = writeln!(
        out,
        "  berth     {}: {} · VERSION: {}",
        s.berth_version, s.berth, s.berth_cni_versions
    );
    let _ = writeln!(
        out,
        "  reference {} · VERSION: {}",
        s.reference, s.reference_cni_versions
    );
    let _ = writeln!(
        out,
        "  config (the reference's has \"type\": \"bridge\"): {}",
        s.conf
    );
    let _ = writeln!(
        out,
        "  sample: wall time of one plugin process, spawn to exit, exec'd as a runtime does (CNI_* environment,\n  \
         config on stdin) inside a node netns that holds the bridge; one fresh node netns and IPAM directory per plugin and run"
    );

    let failed = |k: Kind, c: usize| r.checks.get(&(k, c)).is_some_and(|p| !p.is_empty());
    let _ = writeln!(
        out,
        "\n{:<LABEL$}│{:^COL$}│{:^COL$}│{:^COL$}│ target (p50)",
        "", "berth-cni", "bridge + host-local", "berth / reference"
    );
    let _ = writeln!(
        out,
        "{:<LABEL$}│{:^COL$}│{:^COL$}│{:^COL$}│",
        "Latency (ms)", "p50  /  p99", "p50  /  p99", "p50    p99"
    );
    let mut verdicts = Vec::new();
    for op in [Op::Add, Op::Del] {
        for c in CONCURRENCY {
            let b = r.latency.get(&(Kind::Berth, op, c));
            let f = r.latency.get(&(Kind::Reference, op, c));
            let ratio = match (b, f) {
                (Some(b), Some(f)) if f.p50_ms > 0.0 && f.p99_ms > 0.0 => {
                    format!("{:.2}×   {:.2}×", b.p50_ms / f.p50_ms, b.p99_ms / f.p99_ms)
                }
                _ => "-".to_string(),
            };
            let target = match (b, f) {
                (Some(b), Some(f)) => {
                    let met = b.p50_ms <= f.p50_ms * op.target();
                    verdicts.push(met);
                    format!(
                        "{} ≤ {:.2} ms: {}",
                        if op == Op::Add { "1/3 ref" } else { "ref" },
                        f.p50_ms * op.target(),
                        if met { "met" } else { "MISSED" }
                    )
                }
                _ => "-".to_string(),
            };
            let _ = writeln!(
                out,
                "{:<LABEL$}│{:^COL$}│{:^COL$}│{:^COL$}│ {target}",
                format!("{} {}", op.label(), conc_label(c)),
                cell(b, failed(Kind::Berth, c)),
                cell(f, failed(Kind::Reference, c)),
                ratio,
            );
        }
    }
    let _ = writeln!(
        out,
        "  targets: ADD p50 at most a third of the reference's in the same run; DEL no slower than the reference's\n  \
         sequential runs interleave the two plugins call by call; the 8-at-a-time runs (8 calls always in flight)\n  \
         run berth first, then the reference"
    );
    if !verdicts.is_empty() {
        let met = verdicts.iter().filter(|m| **m).count();
        let _ = writeln!(out, "  {met} of {} targets met", verdicts.len());
    }

    let _ = writeln!(
        out,
        "\nChecks per run: every ADD succeeded and returned an address in the subnet, all addresses unique, one veth\n\
         per pod in the node netns after the ADDs; every DEL succeeded; afterwards no veth left and no reservation\n\
         in the run's IPAM directory"
    );
    for k in [Kind::Berth, Kind::Reference] {
        let mut parts = Vec::new();
        for c in CONCURRENCY {
            let state = match r.checks.get(&(k, c)) {
                Some(p) if p.is_empty() => "passed".to_string(),
                Some(p) => format!("FAILED ({} problems)", p.len()),
                None => "not run".to_string(),
            };
            parts.push(format!("{}: {state}", conc_label(c)));
        }
        let _ = writeln!(out, "  {:<10} {}", k.name(), parts.join(" · "));
    }
    for ((k, c), problems) in &r.checks {
        for p in problems {
            let _ = writeln!(out, "  {} {}: {p}", k.name(), conc_label(*c));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_have_the_specified_shape() {
        let mut r = Results::default();
        let l = |p50_ms, p99_ms| Latency { p50_ms, p99_ms };
        r.latency
            .insert((Kind::Reference, Op::Add, 1), l(12.0, 20.0));
        r.latency.insert((Kind::Berth, Op::Add, 1), l(3.0, 5.0));
        r.latency.insert((Kind::Berth, Op::Del, 8), l(20.0, 40.0));
        r.checks.insert((Kind::Berth, 1), vec![]);
        r.checks
            .insert((Kind::Reference, 8), vec!["ADD pod 3 failed".into()]);
        let v = serde_json::to_value(r.rows()).unwrap();
        assert_eq!(
            v,
            serde_json::json!([
                {"plugin": "berth", "op": "add", "concurrency": 1, "p50_ms": 3.0, "p99_ms": 5.0},
                {"plugin": "berth", "op": "del", "concurrency": 8, "p50_ms": 20.0, "p99_ms": 40.0},
                {"plugin": "reference", "op": "add", "concurrency": 1, "p50_ms": 12.0, "p99_ms": 20.0},
            ])
        );
        assert!(r.failed());
        let text = render(&Settings::default(), &r);
        assert!(text.contains("0.25×"), "{text}");
        assert!(text.contains("≤ 4.00 ms: met"), "{text}");
        assert!(text.contains("FAILED"), "{text}");
        assert!(text.contains("ADD pod 3 failed"), "{text}");
    }
}
