//! `berth bench pods`: pod start-up latency on a real node, apply →
//! Running and Ready (issue 7): the Kubernetes pod start-up SLO is p99
//! under 5 s; the target here, with local images, is p99 under 1 s.
//!
//! Everything runs in this process and `<temp dir>/berth-bench-pods-<pid>`
//! ([`world`]): an in-process `berth server` (embedded store, controllers,
//! cluster CIDR 10.244.230.0/24), a containerd of its own calling
//! berth-cni (this binary) on a `btb<pid>-<n>` bridge, pause and busybox
//! images built locally, and one agent (`bench-node`) whose CRI runtime
//! is wrapped to time each call ([`timed`]).
//!
//! Per probe mode ([`measure`]): N Pods (busybox, `httpd -f -p 8080` from
//! a shell), `spec.nodeName` set at create (the agent's path alone; the
//! scheduler's share is `bench api`'s `schedule` row), created with at
//! most 8 not yet Ready at a time; each timed from its create call to the
//! watch event showing it Running with Ready=True. Mode `tcp` has a
//! readinessProbe `tcpSocket :8080, periodSeconds 1`: its first run comes
//! right after the container starts, and when httpd is not listening yet
//! the agent tries again after 100 ms, doubling up to the period (until
//! the first pass; kubelet waits a full period); mode `none` has no probe
//! (Ready once the container runs).
//! One unmeasured warm-up pod comes first. Afterwards the pods are
//! deleted and timed until gone (the agent tears the sandboxes down).
//!
//! At the end the agent stops, containerd is purged, the bridge deleted,
//! the server stopped and the work directory removed; the command fails
//! if any process, mount or interface of the run is left.

mod measure;
mod programmed;
mod timed;
mod world;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use nix::sys::signal::{SigHandler, Signal, signal};
use serde::Serialize;

use self::measure::Measured;
use self::world::World;
use crate::stats::percentiles;
use crate::{interrupt, sysinfo, workdir::WorkDir};

/// Defaults of the command line.
pub const DEFAULT_PODS: usize = 50;
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Services measured for `service_programmed`.
pub const DEFAULT_SERVICES: usize = 20;
/// The target: p99 of service_programmed under this.
pub const TARGET_PROGRAMMED_P99_MS: f64 = 100.0;
/// The node's pod CIDR is one /24 (253 pod addresses): room to spare.
pub const MAX_PODS: usize = 200;
/// The target: p99 of pod_ready under this (local images).
pub const TARGET_P99_MS: f64 = 1000.0;
/// `<temp dir>/berth-bench-pods-<pid>`.
const WORKDIR_PREFIX: &str = "berth-bench-pods-";

/// The readiness probe of the pods of one mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Probe {
    /// `readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}`.
    Tcp,
    /// No readiness probe.
    None,
}

impl Probe {
    pub fn name(self) -> &'static str {
        match self {
            Probe::Tcp => "tcpSocket",
            Probe::None => "none",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Probe::Tcp => "tcp",
            Probe::None => "none",
        }
    }
}

impl std::str::FromStr for Probe {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tcp" | "tcpSocket" => Ok(Probe::Tcp),
            "none" => Ok(Probe::None),
            other => Err(format!("{other:?}: expected tcp or none")),
        }
    }
}

/// Settings of `berth bench pods`.
#[derive(Debug, Clone)]
pub struct PodsConfig {
    pub pods: usize,
    /// Pods not yet Ready at a time.
    pub concurrency: usize,
    /// Modes, measured in this order.
    pub probes: Vec<Probe>,
    /// Run berth-cni through a wrapper that logs each call, to split CNI
    /// ADD out of RunPodSandbox.
    pub time_cni: bool,
    /// Services for the `service_programmed` row (0: none).
    pub services: usize,
    pub json: Option<PathBuf>,
}

impl Default for PodsConfig {
    fn default() -> Self {
        Self {
            pods: DEFAULT_PODS,
            concurrency: DEFAULT_CONCURRENCY,
            probes: vec![Probe::Tcp, Probe::None],
            time_cni: false,
            services: DEFAULT_SERVICES,
            json: None,
        }
    }
}

impl PodsConfig {
    fn check(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=MAX_PODS).contains(&self.pods),
            "--pods must be 1..={MAX_PODS} (got {}): the node's pod CIDR is one /24, 253 addresses",
            self.pods
        );
        anyhow::ensure!(
            (1..=64).contains(&self.concurrency),
            "--concurrency must be 1..=64 (got {})",
            self.concurrency
        );
        let mut seen = Vec::new();
        self.probes.retain(|p| {
            let new = !seen.contains(p);
            seen.push(*p);
            new
        });
        anyhow::ensure!(
            !self.probes.is_empty(),
            "--probes needs at least one of tcp, none"
        );
        Ok(())
    }
}

fn progress(msg: std::fmt::Arguments<'_>) {
    eprintln!("[bench] {msg}");
}

/// The first line of `cmd args` (its stdout), or why not.
fn first_line(cmd: &str, args: &[&str]) -> String {
    match std::process::Command::new(cmd).args(args).output() {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned(),
        Err(e) => format!("not found ({e})"),
    }
}

/// containerd's release (`1.6.20~ds1`), from `containerd --version`.
fn containerd_release() -> String {
    first_line("containerd", &["--version"])
        .split_whitespace()
        .nth(2)
        .unwrap_or("unknown")
        .to_owned()
}

/// Root, and the programs and files the node needs.
fn preflight() -> anyhow::Result<()> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "berth bench pods runs containerd, runc and the CNI plugin: run it as root"
    );
    for (path, package) in [
        (berth_node::image::BUSYBOX_STATIC, "busybox-static"),
        (world::LOOPBACK_PLUGIN, "containernetworking-plugins"),
    ] {
        anyhow::ensure!(
            std::path::Path::new(path).is_file(),
            "berth bench pods needs {path} (Debian package {package}; `cargo xtask setup` installs it)"
        );
    }
    for (bin, package) in [
        ("containerd", "containerd"),
        ("runc", "runc"),
        ("ip", "iproute2"),
    ] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {bin}")])
            .output()
            .is_ok_and(|o| o.status.success());
        anyhow::ensure!(
            found,
            "berth bench pods needs {bin} (Debian package {package}; `cargo xtask setup` installs it)"
        );
    }
    Ok(())
}

/// SIGPIPE ignored while it lives. `berth` restores SIGPIPE's default
/// (a closed stdout pipe ends it quietly), but this process talks to
/// containerd over a unix socket, where a write after containerd closed
/// its end (its HTTP/2 connection as containerd is purged) raises SIGPIPE
/// and would kill the run half-way through its teardown.
struct IgnoreSigpipe(SigHandler);

impl IgnoreSigpipe {
    fn new() -> anyhow::Result<Self> {
        // SAFETY: SIG_IGN installs no handler function; nothing runs in
        // signal context.
        let old =
            unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) }.context("ignoring SIGPIPE")?;
        Ok(Self(old))
    }
}

impl Drop for IgnoreSigpipe {
    fn drop(&mut self) {
        // SAFETY: puts back the disposition found in `new` (SIG_DFL or
        // SIG_IGN: `berth` installs no handler for SIGPIPE).
        let _ = unsafe { signal(Signal::SIGPIPE, self.0) };
    }
}

/// One JSON row.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Row {
    /// Create call → Running and Ready.
    Ready {
        metric: &'static str,
        probe: &'static str,
        pods: usize,
        p50_ms: f64,
        p99_ms: f64,
        max_ms: f64,
        wall_ms: f64,
    },
    /// One stage of it.
    Stage {
        metric: &'static str,
        probe: &'static str,
        stage: &'static str,
        p50_ms: f64,
        p99_ms: f64,
    },
    /// A runtime call while the pods started.
    Call {
        metric: &'static str,
        probe: &'static str,
        call: &'static str,
        count: usize,
        p50_ms: f64,
        p99_ms: f64,
    },
    /// Service created → first connection through its VIP.
    Programmed {
        metric: &'static str,
        services: usize,
        p50_ms: f64,
        p99_ms: f64,
        max_ms: f64,
        from: &'static str,
    },
    /// Delete calls → all gone.
    Teardown {
        metric: &'static str,
        probe: &'static str,
        pods: usize,
        wall_ms: f64,
    },
}

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

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn p(samples: &[Duration]) -> (f64, f64) {
    let mut v = samples.to_vec();
    percentiles(&mut v)
        .map(|p| ((p.p50_us).round() / 1e3, (p.p99_us).round() / 1e3))
        .unwrap_or((0.0, 0.0))
}

fn rows(results: &[Measured]) -> Vec<Row> {
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

fn render(v: &Versions, s: &Settings, results: &[Measured]) -> String {
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

fn programmed_row(samples: &[Duration]) -> Row {
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

fn render_programmed(samples: &[Duration]) -> String {
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

/// Runs the benchmark, prints the report and writes the JSON. Fails when
/// the node could not be set up, a pod did not become Ready, or anything
/// of the run is left afterwards.
pub fn run(cfg: &PodsConfig) -> anyhow::Result<()> {
    let mut cfg = cfg.clone();
    cfg.check()?;
    preflight()?;
    interrupt::install()?;
    let sigpipe = IgnoreSigpipe::new()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(world::remove_stale_runs(WORKDIR_PREFIX));
    sysinfo::remove_leftovers();
    let work = WorkDir::create(WORKDIR_PREFIX)?;

    let exe = std::env::current_exe().context("locating the running berth binary")?;
    let versions = Versions {
        berth: format!("{} ({})", env!("CARGO_PKG_VERSION"), exe.display()),
        containerd: first_line("containerd", &["--version"]),
        runc: first_line("runc", &["--version"]),
        busybox: first_line(berth_node::image::BUSYBOX_STATIC, &["--help"]),
        kernel: sysinfo::kernel_release(),
        cpu: sysinfo::cpu_model(),
    };
    let defaults = berth_node::agent::AgentConfig::new(world::NODE, "127.0.0.1");
    let mut settings = Settings {
        pods: cfg.pods,
        concurrency: cfg.concurrency,
        creation: format!(
            "{} Pods per mode (no Deployment), at most {} not yet Ready at a time: the next is created as one becomes Ready",
            cfg.pods, cfg.concurrency
        ),
        binding: format!(
            "spec.nodeName {} set at create (no scheduler step: bench api's schedule row has that)",
            world::NODE
        ),
        measured:
            "per pod, its create call → the first watch event with phase Running and Ready=True"
                .into(),
        probes: cfg.probes.iter().map(|p| p.name()).collect(),
        probe_tcp: format!(
            "readinessProbe {}: the first probe right after the container starts, then (until one passes) \
             after 100 ms doubling up to the period",
            measure::TCP_PROBE
        ),
        command: format!("sh -c {:?}", measure::COMMAND),
        image: format!(
            "{} (and sandbox {}) built here from {}, imported, never pulled",
            world::BUSYBOX,
            world::PAUSE,
            berth_node::image::BUSYBOX_STATIC
        ),
        grace_period_s: measure::GRACE_SECONDS,
        warmup: "one unmeasured warm-up pod (no probe) first".into(),
        server: "in-process berth server, embedded store, controllers on".into(),
        cluster_cidr: world::CLUSTER_CIDR.into(),
        cni: String::new(),
        time_cni: cfg.time_cni,
        snapshotter: String::new(),
        agent: format!(
            "one agent ({} workers, resync {:?}) on containerd's CRI",
            defaults.workers, defaults.resync
        ),
        stages: measure::STAGES
            .iter()
            .map(|(s, w)| ((*s).to_owned(), (*w).to_owned()))
            .collect(),
        cpus: sysinfo::cpus(),
        load: (sysinfo::loadavg(), String::new()),
    };
    let mut world = World::new(work.path(), cfg.time_cni);
    settings.cni = format!(
        "berth-cni ({}{}) on bridge {}",
        exe.display(),
        if cfg.time_cni {
            ", through a wrapper logging each call: a few ms more per sandbox"
        } else {
            ""
        },
        world.bridge
    );
    let (outcome, left) = rt.block_on(async {
        let outcome = async {
            world.start().await?;
            interrupt::check()?;
            progress(format_args!("warm-up pod"));
            measure::run(&world, "warmup", Probe::None, 1, 1).await?;
            let mut results = Vec::new();
            for probe in &cfg.probes {
                progress(format_args!(
                    "probe {}: {} pods, {} at a time",
                    probe.name(),
                    cfg.pods,
                    cfg.concurrency
                ));
                let m = measure::run(&world, probe.tag(), *probe, cfg.pods, cfg.concurrency)
                    .await?;
                let (p50, p99) = p(&m.ready);
                progress(format_args!(
                    "probe {}: Ready p50 {p50:.1} ms, p99 {p99:.1} ms, all in {:.2} s; gone in {:.2} s",
                    probe.name(),
                    m.wall.as_secs_f64(),
                    m.teardown.as_secs_f64()
                ));
                results.push(m);
            }
            let programmed = if cfg.services > 0 {
                programmed::run(&world, cfg.services).await?
            } else {
                Vec::new()
            };
            anyhow::Ok((results, programmed))
        }
        .await;
        progress(format_args!("tearing down"));
        let left = world.teardown().await;
        (outcome, left)
    });
    settings.snapshotter = world.snapshotter.clone();
    drop(rt);
    drop(sigpipe);
    drop(work);
    settings.load.1 = sysinfo::loadavg();
    for l in &left {
        eprintln!("[bench] LEFT: {l}");
    }
    let (results, programmed) = outcome?;
    print!("{}", render(&versions, &settings, &results));
    print!("{}", render_programmed(&programmed));
    if let Some(path) = &cfg.json {
        let mut all = rows(&results);
        if !programmed.is_empty() {
            all.push(programmed_row(&programmed));
        }
        let doc = serde_json::json!({
            "rows": all,
            "versions": versions,
            "settings": settings,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!("\nJSON: {}", path.display());
    }
    anyhow::ensure!(
        left.is_empty(),
        "berth bench pods: the run left things behind: {}",
        left.join("; ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_beyond_the_node_block_are_refused_by_flag() {
        let mut c = PodsConfig {
            pods: MAX_PODS + 1,
            ..PodsConfig::default()
        };
        let e = c.check().unwrap_err().to_string();
        assert!(e.contains("--pods"), "{e}");
        c.pods = MAX_PODS;
        c.probes = vec![Probe::None, Probe::Tcp, Probe::None];
        c.check().unwrap();
        assert_eq!(c.probes, [Probe::None, Probe::Tcp]);
        c.probes.clear();
        assert!(c.check().unwrap_err().to_string().contains("--probes"));
        assert_eq!("tcp".parse::<Probe>(), Ok(Probe::Tcp));
        assert!("http".parse::<Probe>().is_err());
    }

    #[test]
    fn rows_carry_the_issue_schema() {
        let d = Duration::from_millis;
        let m = Measured {
            probe: Probe::Tcp,
            ready: vec![d(100), d(300), d(200)],
            wall: d(400),
            running: vec![d(90), d(100), d(110)],
            running_wall: d(300),
            before_cni: Vec::new(),
            cni_add: Vec::new(),
            stages: measure::STAGES
                .iter()
                .map(|(s, _)| (*s, vec![d(1)]))
                .collect(),
            ready_at_first_running: 3,
            calls: vec![("RunPodSandbox", vec![d(60)])],
            teardown: d(1000),
        };
        let rows = serde_json::to_value(rows(&[m])).unwrap();
        let first = &rows[0];
        assert_eq!(first["metric"], "pod_ready");
        assert_eq!(first["probe"], "tcpSocket");
        assert_eq!(first["pods"], 3);
        assert_eq!(first["p50_ms"], 200.0);
        assert_eq!(first["p99_ms"], 300.0);
        assert_eq!(rows[1]["metric"], "pod_running");
        let stages = rows
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["metric"] == "pod_stage")
            .count();
        assert_eq!(stages, measure::STAGES.len());
    }
}
