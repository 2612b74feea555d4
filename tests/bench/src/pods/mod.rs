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

mod config;
mod measure;
mod preflight;
mod programmed;
mod report;
mod timed;
mod world;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use nix::sys::signal::{SigHandler, Signal, signal};
use serde::Serialize;

pub use self::config::*;
use self::measure::Measured;
use self::preflight::*;
use self::report::*;
pub use self::report::{Settings, Versions};
use self::world::World;
use crate::stats::percentiles;
use crate::{interrupt, sysinfo, workdir::WorkDir};

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
