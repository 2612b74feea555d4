//! `berth bench dns`: queries per second, latency, CPU and memory of
//! `berth dns` vs Knot DNS serving the same N services, measured by
//! dnsperf on loopback, side by side in one run.
//!
//! Set-up (2 CPUs): dnsperf, one client with one send/receive thread pair
//! (`-c 1 -T 1`, its default 100 queries in flight), pinned to CPU 0; each
//! server pinned to CPU 1 (`taskset`) with one worker: berth `--workers 1`,
//! knot one UDP worker. knotd pins its UDP worker `i` to CPU `i % online
//! CPUs` itself, which would put it on dnsperf's CPU 0 (and halve its QPS):
//! once a server answers, every thread of it is pinned to CPU 1 again (the
//! report says which had moved), and after each run none may have left. Both servers run for the whole
//! benchmark on their own free loopback ports; only one is queried at a
//! time. The records (`workload`): N ClusterIP services with one named
//! port, as a Kubernetes manifest for berth (`berth dns --static`) and as a
//! zone file for knot.
//!
//! Order: generate the files; start berth, then knot, each timed to its
//! first NOERROR answer; check sampled answers of both record by record
//! (`probe`); warm each up with one unmeasured pass over the `a` file;
//! then, per mix, one `--duration` run against each server, alternating
//! which goes first from mix to mix. Around each run the server's CPU time
//! is read from /proc; its RSS after it.
//!
//! Checked (any failure fails the command, after the report): the sampled
//! answers; every answer dnsperf saw has the rcode its query must get
//! (NOERROR for the services, NXDOMAIN for the nonexistent names), so the
//! NXDOMAIN share of the `nxdomain` mix is its 30%; under 1% lost; the
//! server still running at the end of each run, all its threads still on
//! CPU 1, dnsperf's on CPU 0.
//!
//! Everything lives in `<temp dir>/berth-bench-dns-<pid>`, removed at the
//! end; the servers and dnsperf are stopped on every path out (Ctrl-C
//! included) and die with this process if it is killed.

mod dnsperf;
mod knot;
mod probe;
mod proc;
mod report;
mod server;
mod workload;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context as _;

pub use self::workload::{MAX_SERVICES, Mix};
use self::{
    report::{Measured, Results, Settings, Versions},
    server::{Kind, Launch, SERVER_CPU, Server},
    workload::{NAMESPACES, Queries, Workload},
};
use crate::{
    interrupt, sysinfo,
    workdir::{self, WorkDir},
};

/// Defaults of the command line.
pub const DEFAULT_SERVICES: usize = 10_000;
pub const DEFAULT_DURATION: u64 = 10;
/// Longest run.
pub const MAX_DURATION: u64 = 3600;
/// `<temp dir>/berth-bench-dns-<pid>`.
const WORKDIR_PREFIX: &str = "berth-bench-dns-";
/// Most lost queries a run may have, in % of those sent.
const MAX_LOST_PCT: f64 = 1.0;
/// How far the NXDOMAIN share may stray from the file's (a run ends
/// part-way through a pass over the file), in percentage points.
const NX_SHARE_SLACK: f64 = 2.0;

/// Settings of `berth bench dns`.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    pub services: usize,
    /// Seconds per (mix, server) run.
    pub duration: u64,
    pub mixes: Vec<Mix>,
    pub json: Option<PathBuf>,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            services: DEFAULT_SERVICES,
            duration: DEFAULT_DURATION,
            mixes: Mix::ALL.to_vec(),
            json: None,
        }
    }
}

impl DnsConfig {
    fn check(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=MAX_SERVICES).contains(&self.services),
            "--services must be 1..={MAX_SERVICES}"
        );
        anyhow::ensure!(
            (1..=MAX_DURATION).contains(&self.duration),
            "--duration must be 1..={MAX_DURATION} seconds"
        );
        self.mixes.sort_unstable();
        self.mixes.dedup();
        anyhow::ensure!(!self.mixes.is_empty(), "--mixes needs at least one mix");
        Ok(())
    }
}

/// Runs the benchmark, prints the report and writes the JSON. Fails when
/// a server could not be started or measured, or any check did not pass
/// (after reporting).
pub fn run(cfg: &DnsConfig) -> anyhow::Result<()> {
    let mut cfg = cfg.clone();
    cfg.check()?;
    preflight()?;
    interrupt::install()?;
    workdir::remove_stale(WORKDIR_PREFIX);
    let work = WorkDir::create(WORKDIR_PREFIX)?;

    let exe = std::env::current_exe().context("locating the running berth binary")?;
    let versions = Versions {
        berth: format!("{} ({})", env!("CARGO_PKG_VERSION"), exe.display()),
        knot: knot::version(),
        dnsperf: dnsperf::version(),
        kernel: sysinfo::kernel_release(),
        cpu: sysinfo::cpu_model(),
    };
    let mut settings = Settings {
        services: cfg.services,
        namespaces: NAMESPACES.len(),
        duration_s: cfg.duration,
        mixes: cfg.mixes.iter().map(|m| m.name().to_string()).collect(),
        mix_contents: cfg
            .mixes
            .iter()
            .map(|m| (m.name().to_string(), m.describe().to_string()))
            .collect(),
        client_cpu: dnsperf::CLIENT_CPU,
        server_cpu: SERVER_CPU,
        cpus: sysinfo::cpus(),
        dnsperf: dnsperf::flags(cfg.duration),
        warmup: "each server warmed up by one unmeasured pass over the a file".to_string(),
        order: "per mix one run per server, alternating which goes first".to_string(),
        load: (sysinfo::loadavg(), String::new()),
        ..Settings::default()
    };
    let mut results = Results::default();
    let outcome = run_all(&cfg, work.path(), &mut settings, &mut results);
    drop(work);
    settings.load.1 = sysinfo::loadavg();
    // Every process is stopped by now; report what was measured.
    print!("{}", report::render(&versions, &settings, &results));
    if let Some(path) = &cfg.json {
        results.write_json(path, &versions, &settings)?;
        println!("\nJSON: {}", path.display());
    }
    outcome?;
    anyhow::ensure!(
        !results.failed(),
        "berth bench dns: checks failed (see FAILED above)"
    );
    Ok(())
}

/// The tools exist and the CPUs to pin to are ours.
fn preflight() -> anyhow::Result<()> {
    crate::tools::require(
        "berth bench dns",
        &[
            ("dnsperf", "dnsperf"),
            (knot::KNOTD, knot::PACKAGE),
            ("taskset", "util-linux"),
        ],
    )?;
    let mine = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .context("reading this process's CPU affinity")?;
    for cpu in [dnsperf::CLIENT_CPU, SERVER_CPU] {
        anyhow::ensure!(
            mine.is_set(cpu).unwrap_or(false),
            "berth bench dns pins dnsperf to CPU {} and the servers to CPU {SERVER_CPU}; \
             CPU {cpu} is not available to this process",
            dnsperf::CLIENT_CPU
        );
    }
    Ok(())
}

fn progress(msg: std::fmt::Arguments<'_>) {
    eprintln!("[bench] {msg}");
}

/// The files of a run inside the work directory.
#[derive(Debug)]
struct Files {
    manifest: PathBuf,
    queries: BTreeMap<Mix, (PathBuf, Queries)>,
    out: PathBuf,
    err: PathBuf,
}

fn write_files(dir: &Path, w: &Workload, mixes: &[Mix]) -> anyhow::Result<Files> {
    let manifest = dir.join("services.yaml");
    std::fs::write(&manifest, w.manifest())
        .with_context(|| format!("writing {}", manifest.display()))?;
    let mut queries = BTreeMap::new();
    // The warm-up uses the `a` file whatever is measured.
    let mut all = mixes.to_vec();
    all.push(Mix::A);
    for mix in all {
        if queries.contains_key(&mix) {
            continue;
        }
        let q = w.queries(mix);
        let path = dir.join(format!("queries-{}.txt", mix.name()));
        std::fs::write(&path, &q.text).with_context(|| format!("writing {}", path.display()))?;
        queries.insert(mix, (path, q));
    }
    Ok(Files {
        manifest,
        queries,
        out: dir.join("dnsperf.out"),
        err: dir.join("dnsperf.err"),
    })
}

fn run_all(
    cfg: &DnsConfig,
    dir: &Path,
    settings: &mut Settings,
    results: &mut Results,
) -> anyhow::Result<()> {
    let w = Workload::new(cfg.services);
    progress(format_args!(
        "writing {} services as a Kubernetes manifest, a knot zone and the query files",
        cfg.services
    ));
    let files = write_files(dir, &w, &cfg.mixes)?;

    let mut servers: Vec<Server> = Vec::new();
    for kind in Kind::ALL {
        interrupt::check()?;
        progress(format_args!(
            "starting {} pinned to CPU {SERVER_CPU}",
            kind.name()
        ));
        let launch = match kind {
            Kind::Berth => Launch::berth(dir, &files.manifest),
            Kind::Knot => Launch::knot(dir, &w),
        };
        let server = launch.and_then(|l| {
            match kind {
                Kind::Berth => settings.berth = l.command.clone(),
                Kind::Knot => settings.knot = l.command.clone(),
            }
            l.start(&w)
        });
        let server = match server {
            Ok(s) => s,
            Err(e) => {
                results
                    .server_failed
                    .insert(kind, vec![format!("could not start: {e:#}")]);
                continue;
            }
        };
        progress(format_args!(
            "{} answers on 127.0.0.1:{} after {:.0} ms; checking sampled answers",
            kind.name(),
            server.port,
            server.ready.as_secs_f64() * 1e3
        ));
        settings
            .ready_ms
            .insert(kind.name().to_string(), server.ready.as_secs_f64() * 1e3);
        if !server.repinned.is_empty() {
            let note = format!(
                "{} had moved threads off CPU {SERVER_CPU} itself, pinned back: {}",
                kind.name(),
                server.repinned.join(", ")
            );
            progress(format_args!("{note}"));
            settings.repinned.push(note);
        }
        let problems = probe::check_answers(server.port, &w);
        if !problems.is_empty() {
            progress(format_args!(
                "{}: WRONG ANSWERS; not measured: {}",
                kind.name(),
                problems.join("; ")
            ));
            results.server_failed.insert(kind, problems);
            continue;
        }
        servers.push(server);
    }
    interrupt::check()?;

    let (warm_file, warm_q) = &files.queries[&Mix::A];
    for s in &servers {
        progress(format_args!(
            "{}: warm-up, one pass over {} names",
            s.kind.name(),
            warm_q.lines
        ));
        dnsperf::run(s.port, None, warm_file, warm_q, &files.out, &files.err)
            .with_context(|| format!("warming up {}", s.kind.name()))?;
    }

    for (i, mix) in cfg.mixes.iter().enumerate() {
        let mut order: Vec<usize> = (0..servers.len()).collect();
        if i % 2 == 1 {
            order.reverse();
        }
        for j in order {
            interrupt::check()?;
            let s = &mut servers[j];
            let kind = s.kind;
            match measure(cfg, s, *mix, &files) {
                Ok(m) => {
                    progress(format_args!(
                        "{} {}: {:.0} QPS, mean {:.3} ms (dnsperf's: {:.3}), p99 {:.3} ms, \
                         CPU {:.1}%, RSS {:.1} MiB",
                        kind.name(),
                        mix.name(),
                        m.qps,
                        m.mean_ms,
                        m.dnsperf_mean_ms,
                        m.p99_ms,
                        m.cpu_pct,
                        m.rss_mb
                    ));
                    results.measured.insert((*mix, kind), m);
                }
                Err(problems) => {
                    // Not a failure of the server: stop here.
                    interrupt::check()?;
                    progress(format_args!(
                        "{} {}: FAILED: {}",
                        kind.name(),
                        mix.name(),
                        problems.join("; ")
                    ));
                    results.failed.insert((*mix, kind), problems);
                }
            }
        }
    }
    interrupt::check()?;
    progress(format_args!("stopping the servers"));
    drop(servers);
    Ok(())
}

/// One measured run of `mix` against `s`; the problems if it failed.
fn measure(
    cfg: &DnsConfig,
    s: &mut Server,
    mix: Mix,
    files: &Files,
) -> Result<Measured, Vec<String>> {
    let (file, queries) = &files.queries[&mix];
    progress(format_args!(
        "{} {}: dnsperf for {} s",
        s.kind.name(),
        mix.name(),
        cfg.duration
    ));
    let cpu0 = s.cpu_seconds().map_err(|e| vec![format!("{e:#}")])?;
    let t0 = Instant::now();
    let run = dnsperf::run(
        s.port,
        Some(cfg.duration),
        file,
        queries,
        &files.out,
        &files.err,
    );
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = s.cpu_seconds();
    let rss = s.rss_mib();
    let mut problems = Vec::new();
    if let Err(e) = s.alive() {
        problems.push(e);
    } else {
        match s.threads_off_cpu() {
            Ok(off) if off.is_empty() => {}
            Ok(off) => problems.push(format!(
                "threads left CPU {SERVER_CPU} during the run: {}",
                off.join(", ")
            )),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    let o = match run {
        Ok(o) => o,
        Err(e) => {
            problems.push(format!("{e:#}"));
            return Err(problems);
        }
    };
    let (cpu1, rss) = match (cpu1, rss) {
        (Ok(c), Ok(r)) => (c, r),
        (Err(e), _) | (_, Err(e)) => {
            problems.push(format!("{e:#}"));
            return Err(problems);
        }
    };
    let sum = &o.summary;
    if o.answered == 0 {
        problems.push("no query was answered".to_string());
    }
    if o.wrong > 0 {
        problems.push(format!(
            "{} of {} answers had the wrong rcode (dnsperf's counts: {:?}): {}",
            o.wrong,
            o.answered,
            sum.rcodes,
            o.examples.join("; ")
        ));
    }
    let lost_pct = 100.0 * sum.lost as f64 / sum.sent.max(1) as f64;
    if lost_pct > MAX_LOST_PCT {
        problems.push(format!(
            "{} of {} queries lost ({lost_pct:.2}%)",
            sum.lost, sum.sent
        ));
    }
    let nx_pct = 100.0 * o.nxdomain as f64 / o.answered.max(1) as f64;
    let want_nx = 100.0 * queries.nxdomain as f64 / queries.lines as f64;
    if o.answered > 0 && (nx_pct - want_nx).abs() > NX_SHARE_SLACK {
        problems.push(format!(
            "NXDOMAIN share {nx_pct:.1}%, the mix has {want_nx:.1}%"
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Measured {
        qps: sum.qps,
        mean_ms: o.mean_ms,
        dnsperf_mean_ms: sum.avg_latency_ms,
        p50_ms: o.p50_ms,
        p99_ms: o.p99_ms,
        cpu_pct: 100.0 * (cpu1 - cpu0) / wall,
        rss_mb: rss,
        response_bytes: sum.response_bytes,
        sent: sum.sent,
        lost: sum.lost,
        nxdomain_pct: nx_pct,
    })
}
