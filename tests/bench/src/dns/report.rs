//! What `berth bench dns` prints and writes: a side-by-side table, and a
//! JSON document `{"rows": [...], "versions": {...}, "settings": {...}}`
//! whose rows are exactly those of the issue.

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use anyhow::Context as _;
use serde::Serialize;

use super::{server::Kind, workload::Mix};

/// Target: berth's QPS at least this fraction of knot's in the same run.
pub const TARGET_QPS_RATIO: f64 = 0.5;

/// One row of the JSON file, exactly as specified.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    pub server: &'static str,
    pub mix: &'static str,
    pub qps: f64,
    pub mean_ms: f64,
    pub p99_ms: f64,
    pub cpu_pct: f64,
    pub rss_mb: f64,
}

/// What one (mix, server) run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    pub qps: f64,
    pub mean_ms: f64,
    /// dnsperf's own average, a cross-check of `mean_ms`.
    pub dnsperf_mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Server CPU time over the run's wall time, in % of one CPU.
    pub cpu_pct: f64,
    /// VmRSS at the end of the run, MiB.
    pub rss_mb: f64,
    pub response_bytes: f64,
    pub sent: u64,
    pub lost: u64,
    /// NXDOMAIN share of the answers, %.
    pub nxdomain_pct: f64,
}

/// Versions of everything measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Versions {
    pub berth: String,
    pub knot: String,
    pub dnsperf: String,
    pub kernel: String,
    pub cpu: String,
}

/// Settings of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Settings {
    pub services: usize,
    pub namespaces: usize,
    pub duration_s: u64,
    pub mixes: Vec<String>,
    pub mix_contents: BTreeMap<String, String>,
    pub client_cpu: usize,
    pub server_cpu: usize,
    pub cpus: usize,
    pub dnsperf: String,
    pub berth: String,
    pub knot: String,
    pub warmup: String,
    pub order: String,
    /// Threads a server had moved off its CPU by itself (pinned back).
    pub repinned: Vec<String>,
    /// Server → milliseconds from spawn to its first NOERROR answer.
    pub ready_ms: BTreeMap<String, f64>,
    /// Load averages at the start and at the end.
    pub load: (String, String),
}

/// Everything measured and checked.
#[derive(Debug, Default)]
pub struct Results {
    /// Runs that passed every check.
    pub measured: BTreeMap<(Mix, Kind), Measured>,
    /// (mix, server) → what went wrong in that run.
    pub failed: BTreeMap<(Mix, Kind), Vec<String>>,
    /// Server → why it was not measured at all (start, answer check).
    pub server_failed: BTreeMap<Kind, Vec<String>>,
}

#[derive(Debug, Serialize)]
struct Document<'a> {
    rows: Vec<Row>,
    versions: &'a Versions,
    settings: &'a Settings,
}

impl Results {
    /// The JSON rows, in table order (mix, then server).
    pub fn rows(&self) -> Vec<Row> {
        self.measured
            .iter()
            .map(|((mix, kind), m)| Row {
                server: kind.name(),
                mix: mix.name(),
                qps: m.qps,
                mean_ms: m.mean_ms,
                p99_ms: m.p99_ms,
                cpu_pct: m.cpu_pct,
                rss_mb: m.rss_mb,
            })
            .collect()
    }

    /// Writes the JSON document to `path`.
    pub fn write_json(&self, path: &Path, v: &Versions, s: &Settings) -> anyhow::Result<()> {
        let doc = Document {
            rows: self.rows(),
            versions: v,
            settings: s,
        };
        let text = serde_json::to_string_pretty(&doc)? + "\n";
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Whether any server or run failed its checks.
    pub fn failed(&self) -> bool {
        !self.failed.is_empty() || !self.server_failed.is_empty()
    }
}

/// Thousands separators: 123456.7 → `123,457`.
fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Server CPU time per answered query, µs: what a query costs the server
/// even when the client is the limit.
fn cpu_us_per_query(m: &Measured) -> f64 {
    if m.qps > 0.0 {
        m.cpu_pct / 100.0 / m.qps * 1e6
    } else {
        0.0
    }
}

/// The human-readable report.
pub fn render(v: &Versions, s: &Settings, r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "berth bench dns: berth dns vs knot, {} services, dnsperf {} s per run",
        thousands(s.services as f64),
        s.duration_s
    );
    let _ = writeln!(
        out,
        "  versions: berth {} · {} · {} · kernel {} · {} ({} CPUs)",
        v.berth, v.knot, v.dnsperf, v.kernel, v.cpu, s.cpus
    );
    let _ = writeln!(out, "  client:   {}", s.dnsperf);
    let _ = writeln!(out, "  berth:    {}", s.berth);
    let _ = writeln!(out, "  knot:     {}", s.knot);
    let _ = writeln!(
        out,
        "  services spread over {} namespaces; {}; {}",
        s.namespaces, s.warmup, s.order
    );
    for note in &s.repinned {
        let _ = writeln!(out, "  pinning: {note}");
    }
    for (mix, what) in &s.mix_contents {
        let _ = writeln!(out, "  mix {mix:<9} {what}");
    }
    let ready: Vec<String> = s
        .ready_ms
        .iter()
        .map(|(k, ms)| format!("{k} {ms:.0} ms"))
        .collect();
    let _ = writeln!(
        out,
        "  start to first answer: {} · load average {} at start, {} at end",
        if ready.is_empty() {
            "-".to_string()
        } else {
            ready.join(", ")
        },
        s.load.0,
        s.load.1
    );

    let _ = writeln!(
        out,
        "\n{:<10}{:<7}{:>10}{:>9}{:>9}{:>9}{:>7}{:>9}{:>8}{:>7}{:>7}",
        "mix",
        "server",
        "QPS",
        "mean ms",
        "p50 ms",
        "p99 ms",
        "CPU %",
        "RSS MiB",
        "resp B",
        "NX %",
        "lost"
    );
    let mut verdicts = Vec::new();
    let mixes: Vec<Mix> = s.mixes.iter().filter_map(|m| m.parse().ok()).collect();
    for mix in mixes {
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            let label = if i == 0 { mix.name() } else { "" };
            let line = match r.measured.get(&(mix, kind)) {
                Some(m) => format!(
                    "{:>10}{:>9.3}{:>9.3}{:>9.3}{:>7.1}{:>8.2}{:>9.1}{:>8.0}{:>7.1}{:>7}",
                    thousands(m.qps),
                    m.mean_ms,
                    m.p50_ms,
                    m.p99_ms,
                    m.cpu_pct,
                    cpu_us_per_query(m),
                    m.rss_mb,
                    m.response_bytes,
                    m.nxdomain_pct,
                    m.lost
                ),
                None if r.failed.contains_key(&(mix, kind))
                    || r.server_failed.contains_key(&kind) =>
                {
                    format!("{:>10}", "FAILED")
                }
                None => format!("{:>10}", "-"),
            };
            let _ = writeln!(out, "{label:<10}{:<7}{line}", kind.name());
        }
        if let (Some(b), Some(k)) = (
            r.measured.get(&(mix, Kind::Berth)),
            r.measured.get(&(mix, Kind::Knot)),
        ) && k.qps > 0.0
        {
            let ratio = b.qps / k.qps;
            let met = ratio >= TARGET_QPS_RATIO;
            verdicts.push(met);
            let _ = writeln!(
                out,
                "{:<10}berth/knot QPS {ratio:.2}× · target ≥ {TARGET_QPS_RATIO:.2}× ({} QPS): {}",
                "",
                thousands(k.qps * TARGET_QPS_RATIO),
                if met { "met" } else { "MISSED" }
            );
        }
    }
    let _ = writeln!(
        out,
        "  QPS and lost: dnsperf's statistics; mean/p50/p99: every answered query (dnsperf -v);\n  \
         CPU: the server's utime+stime over the run's wall time (100% = one CPU); µs/q: server CPU time per query;\n  \
         RSS: VmRSS at the end of the run"
    );
    if !verdicts.is_empty() {
        let met = verdicts.iter().filter(|m| **m).count();
        let _ = writeln!(out, "  {met} of {} targets met", verdicts.len());
    }

    if r.failed() {
        let _ = writeln!(out, "\nFAILED checks:");
        for (kind, problems) in &r.server_failed {
            for p in problems {
                let _ = writeln!(out, "  {}: {p}", kind.name());
            }
        }
        for ((mix, kind), problems) in &r.failed {
            for p in problems {
                let _ = writeln!(out, "  {} {}: {p}", kind.name(), mix.name());
            }
        }
    } else {
        let _ = writeln!(
            out,
            "\nChecks passed: sampled answers (A, SRV with its additional A, NXDOMAIN with the SOA) before measuring;\n\
             every answered query had the rcode its name must get; under 1% lost; the servers ran to the end"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(qps: f64) -> Measured {
        Measured {
            qps,
            mean_ms: 0.5,
            dnsperf_mean_ms: 0.5,
            p50_ms: 0.4,
            p99_ms: 1.25,
            cpu_pct: 99.5,
            rss_mb: 20.0,
            response_bytes: 67.0,
            sent: 1000,
            lost: 0,
            nxdomain_pct: 0.0,
        }
    }

    #[test]
    fn rows_have_the_specified_shape() {
        let mut r = Results::default();
        r.measured
            .insert((Mix::Srv, Kind::Knot), measured(170_000.0));
        r.measured.insert((Mix::A, Kind::Knot), measured(160_000.0));
        r.measured.insert((Mix::A, Kind::Berth), measured(90_000.0));
        let v = serde_json::to_value(r.rows()).unwrap();
        assert_eq!(
            v[0],
            serde_json::json!({"server": "berth", "mix": "a", "qps": 90000.0, "mean_ms": 0.5,
                "p99_ms": 1.25, "cpu_pct": 99.5, "rss_mb": 20.0})
        );
        assert_eq!(v[1]["server"], "knot");
        assert_eq!(v[2]["mix"], "srv");
        assert!(!r.failed());

        r.failed.insert(
            (Mix::Srv, Kind::Berth),
            vec!["3 answers with the wrong rcode".into()],
        );
        let s = Settings {
            mixes: vec!["a".into(), "srv".into()],
            ..Settings::default()
        };
        let text = render(&Versions::default(), &s, &r);
        assert!(text.contains("berth/knot QPS 0.56×"), "{text}");
        assert!(text.contains("(80,000 QPS): met"), "{text}");
        assert!(text.contains("FAILED"), "{text}");
        assert!(
            text.contains("berth srv: 3 answers with the wrong rcode"),
            "{text}"
        );
        assert!(text.contains(" 90,000"), "{text}");
    }

    #[test]
    fn json_document() {
        let dir = std::env::temp_dir().join(format!("berth-bench-dns-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.json");
        let mut r = Results::default();
        r.measured.insert((Mix::A, Kind::Berth), measured(1.0));
        let v = Versions {
            knot: "knotd (Knot DNS), version 3.2.6".into(),
            ..Versions::default()
        };
        r.write_json(&path, &v, &Settings::default()).unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(doc["rows"].as_array().unwrap().len(), 1);
        assert_eq!(doc["versions"]["knot"], "knotd (Knot DNS), version 3.2.6");
        assert!(doc["settings"]["duration_s"].is_number());
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(12.0), "12");
    }
}
