//! The figures: JSON rows and the text report.

use super::*;

/// Versions of what was measured.
#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    pub berth: String,
    pub containerd: String,
    pub runc: String,
    pub busybox: String,
    pub kernel: String,
    pub cpu: String,
}

/// Settings of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub pods: usize,
    pub concurrency: usize,
    pub creation: String,
    pub binding: String,
    pub measured: String,
    pub probes: Vec<&'static str>,
    pub probe_tcp: String,
    pub command: String,
    pub image: String,
    pub grace_period_s: u32,
    pub warmup: String,
    pub server: String,
    pub cluster_cidr: String,
    pub cni: String,
    pub time_cni: bool,
    pub snapshotter: String,
    pub agent: String,
    pub stages: Vec<(String, String)>,
    pub cpus: usize,
    /// Load averages at the start and at the end.
    pub load: (String, String),
}

pub(super) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

pub(super) fn p(samples: &[Duration]) -> (f64, f64) {
    let mut v = samples.to_vec();
    percentiles(&mut v)
        .map(|p| ((p.p50_us).round() / 1e3, (p.p99_us).round() / 1e3))
        .unwrap_or((0.0, 0.0))
}

pub(super) fn rows(results: &[Measured]) -> Vec<Row> {
    let mut rows = Vec::new();
    for m in results {
        let (p50, p99) = p(&m.ready);
        rows.push(Row::Ready {
            metric: "pod_ready",
            probe: m.probe.name(),
            pods: m.ready.len(),
            p50_ms: p50,
            p99_ms: p99,
            max_ms: m.ready.iter().max().map_or(0.0, |d| ms(*d)),
            wall_ms: ms(m.wall),
        });
    }
    for m in results {
        let (p50, p99) = p(&m.running);
        rows.push(Row::Ready {
            metric: "pod_running",
            probe: m.probe.name(),
            pods: m.running.len(),
            p50_ms: p50,
            p99_ms: p99,
            max_ms: m.running.iter().max().map_or(0.0, |d| ms(*d)),
            wall_ms: ms(m.running_wall),
        });
    }
    for m in results {
        let cni = [
            ("sandbox.before_cni", &m.before_cni),
            ("sandbox.cni_add", &m.cni_add),
        ];
        let stages = m
            .stages
            .iter()
            .map(|(s, v)| (*s, v))
            .chain(cni.into_iter().filter(|(_, v)| !v.is_empty()));
        for (stage, samples) in stages {
            let (p50, p99) = p(samples);
            rows.push(Row::Stage {
                metric: "pod_stage",
                probe: m.probe.name(),
                stage,
                p50_ms: p50,
                p99_ms: p99,
            });
        }
    }
    for m in results {
        for (call, samples) in &m.calls {
            let (p50, p99) = p(samples);
            rows.push(Row::Call {
                metric: "cri_call",
                probe: m.probe.name(),
                call,
                count: samples.len(),
                p50_ms: p50,
                p99_ms: p99,
            });
        }
    }
    for m in results {
        rows.push(Row::Teardown {
            metric: "teardown",
            probe: m.probe.name(),
            pods: m.ready.len(),
            wall_ms: ms(m.teardown),
        });
    }
    rows
}

pub(super) fn render(v: &Versions, s: &Settings, results: &[Measured]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "berth bench pods: {} pods per mode, apply → Running and Ready",
        s.pods
    );
    let _ = writeln!(
        out,
        "  versions: berth {} · {} · {} · {} · kernel {} · {} ({} CPUs)",
        v.berth, v.containerd, v.runc, v.busybox, v.kernel, v.cpu, s.cpus
    );
    let _ = writeln!(out, "  pods:     {}; {}", s.creation, s.binding);
    let _ = writeln!(out, "  measured: {}", s.measured);
    let _ = writeln!(out, "  probe:    tcp = {}", s.probe_tcp);
    let _ = writeln!(
        out,
        "  node:     {}; {}; {}; snapshotter {}",
        s.server, s.cni, s.agent, s.snapshotter
    );
    let _ = writeln!(
        out,
        "  {} · load average {} at start, {} at end",
        s.warmup, s.load.0, s.load.1
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<10} {:>5} {:>9} {:>9} {:>9} {:>9} {:>11}",
        "probe", "pods", "p50 ms", "p99 ms", "max ms", "wall s", "teardown s"
    );
    for m in results {
        let (p50, p99) = p(&m.ready);
        let _ = writeln!(
            out,
            "{:<10} {:>5} {:>9.1} {:>9.1} {:>9.1} {:>9.2} {:>11.2}",
            m.probe.name(),
            m.ready.len(),
            p50,
            p99,
            m.ready.iter().max().map_or(0.0, |d| ms(*d)),
            m.wall.as_secs_f64(),
            m.teardown.as_secs_f64()
        );
    }
    let running: Vec<String> = results
        .iter()
        .map(|m| {
            let (p50, p99) = p(&m.running);
            format!("{} {p50:.1} / {p99:.1}", m.probe.name())
        })
        .collect();
    let _ = writeln!(
        out,
        "create → Running (Ready or not; the Kubernetes SLI's end point), p50 / p99 ms: {}",
        running.join(", ")
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "where the time goes (ms, p50 / p99 per pod):");
    let _ = write!(out, "{:<12}", "stage");
    for m in results {
        let _ = write!(out, " {:>19}", m.probe.name());
    }
    let _ = writeln!(out, "   what");
    for (i, (stage, what)) in measure::STAGES.iter().enumerate() {
        let _ = write!(out, "{stage:<12}");
        for m in results {
            let (p50, p99) = p(&m.stages[i].1);
            let _ = write!(out, " {:>19}", format!("{p50:.1} / {p99:.1}"));
        }
        let _ = writeln!(out, "   {what}");
        if *stage == "sandbox" && results.iter().any(|m| !m.cni_add.is_empty()) {
            for (sub, what, pick) in [
                (
                    "  before CNI",
                    "RunPodSandbox called → CNI ADD begins",
                    0usize,
                ),
                (
                    "  CNI ADD",
                    "berth-cni ADD (and its wrapper's sh and date)",
                    1,
                ),
            ] {
                let _ = write!(out, "{sub:<12}");
                for m in results {
                    let v = if pick == 0 { &m.before_cni } else { &m.cni_add };
                    let (p50, p99) = p(v);
                    let _ = write!(out, " {:>19}", format!("{p50:.1} / {p99:.1}"));
                }
                let _ = writeln!(out, "   {what}");
            }
        }
    }
    for m in results {
        let _ = writeln!(
            out,
            "  {}: {} of {} pods Ready in their first status write",
            m.probe.name(),
            m.ready_at_first_running,
            m.ready.len()
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "CRI calls while the pods started (count, p50 / p99 ms):"
    );
    for m in results {
        let calls: Vec<String> = m
            .calls
            .iter()
            .map(|(c, v)| {
                let (p50, p99) = p(v);
                format!("{c} {} × {p50:.1} / {p99:.1}", v.len())
            })
            .collect();
        let _ = writeln!(out, "  {}: {}", m.probe.name(), calls.join(", "));
    }
    let _ = writeln!(out);
    let verdicts: Vec<String> = results
        .iter()
        .map(|m| {
            let (_, p99) = p(&m.ready);
            format!(
                "{} p99 {p99:.0} ms {}",
                m.probe.name(),
                if p99 < TARGET_P99_MS {
                    "(met)"
                } else {
                    "(MISSED)"
                }
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "target: pod_ready p99 < {TARGET_P99_MS:.0} ms with local images (Kubernetes SLO: 5 s): {}",
        verdicts.join(", ")
    );
    out
}

pub(super) fn programmed_row(samples: &[Duration]) -> Row {
    let (p50, p99) = p(samples);
    Row::Programmed {
        metric: "service_programmed",
        services: samples.len(),
        p50_ms: p50,
        p99_ms: p99,
        max_ms: samples.iter().max().map_or(0.0, |d| ms(*d)),
        from: "host (root cgroup; the hooks the pods' sockets pass too)",
    }
}

pub(super) fn render_programmed(samples: &[Duration]) -> String {
    if samples.is_empty() {
        return String::new();
    }
    let (p50, p99) = p(samples);
    format!(
        "\nservice_programmed: {} Services, each created → first TCP connection through its VIP \
         (berth-node's service proxy on the eBPF data plane, one backend pod; a connect tried every 1 ms):\n  \
         p50 {p50:.1} ms, p99 {p99:.1} ms, max {:.1} ms\n\
         target: service_programmed p99 < {TARGET_PROGRAMMED_P99_MS:.0} ms (kube-proxy nftables: 1.5 s p50 on 100 nodes): {}\n",
        samples.len(),
        samples.iter().max().map_or(0.0, |d| ms(*d)),
        if p99 < TARGET_PROGRAMMED_P99_MS {
            "met"
        } else {
            "MISSED"
        }
    )
}
