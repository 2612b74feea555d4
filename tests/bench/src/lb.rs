//! `berth bench lb`: TCP connect + request/response + close latency through
//! a Berth VIP, straight to a backend, and through kube-proxy-style
//! iptables-legacy and nftables rules; time to program N services; time to
//! change one service's backends; kernel memory of the maps.
//!
//! Order of the runs, so that no mode pays for another's state:
//! 1. Berth at every N: program N services into an emptied data plane
//!    (timed), then measure `vip` and `direct`, their connections
//!    interleaved one by one on one thread so that both see the same
//!    machine (the client namespace has no netfilter rules and no conntrack
//!    yet), then the backend changes.
//! 2. nftables at every N up to `--peers-max`; its table is deleted after
//!    each N, which also unhooks conntrack. Interleaved with the peer's
//!    connections: direct ones from a control namespace that never has
//!    rules (the baseline the peer is compared with), and direct ones from
//!    the client namespace with the rules loaded (what all other traffic
//!    pays). Neither is a JSON row.
//! 3. iptables-legacy last: a legacy nat table stays registered in a
//!    namespace once loaded, even when flushed.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use berth_dataplane::{Backend, Dataplane as _, Limits, Protocol};
use berth_test_support::Netns;

use crate::{
    inproc::InProc,
    interrupt,
    measure::{self, Targets},
    peers::{self, Peer},
    report::{self, Failed, Results, Settings, Update},
    rng::Rng,
    services::{self, BERTH_VIPS, Kind, MAX_POLICY_SERVICES, MAX_SERVICES, SERVICE_PORT},
    stats, sysinfo,
    topo::{BACKEND_PORT, Topo, View},
};

/// Defaults of the command line.
pub const DEFAULT_SAMPLES: usize = 2000;
pub const DEFAULT_WARMUP: usize = 100;
pub const DEFAULT_PEERS_MAX: usize = 10_000;
pub const DEFAULT_BACKENDS: usize = 3;
/// Most backends per service (limit of the LAN and of the frontend slots).
pub const MAX_BACKENDS: usize = 64;
/// Maglev services measured at most (each has a 16,381-entry table: 1,024
/// of them are 128 MiB of kernel memory).
pub const MAGLEV_SERVICES: usize = 1_024;
/// Backend changes timed per N (each replaces one backend; half of them
/// put the original back).
pub const UPDATES: usize = 40;

/// Settings of `berth bench lb`.
#[derive(Debug, Clone)]
pub struct LbConfig {
    /// Service counts N.
    pub services: Vec<usize>,
    pub json: Option<PathBuf>,
    pub samples: usize,
    pub warmup: usize,
    /// Largest N the peers run at.
    pub peers_max: usize,
    /// Backends per service (K).
    pub backends: usize,
    /// Two nodes: backends on the client's node and on the other
    /// (`berth bench lb --cluster`).
    pub cluster: bool,
    /// Where `--cluster` writes its plot (default: beside the JSON).
    pub plot: Option<PathBuf>,
    /// `--cluster --vm`: the same across virtual machines.
    pub vm: Option<crate::lbcluster::vm::VmConfig>,
}

impl Default for LbConfig {
    fn default() -> Self {
        Self {
            services: vec![1, 10_000, 100_000],
            json: None,
            samples: DEFAULT_SAMPLES,
            warmup: DEFAULT_WARMUP,
            peers_max: DEFAULT_PEERS_MAX,
            backends: DEFAULT_BACKENDS,
            cluster: false,
            plot: None,
            vm: None,
        }
    }
}

impl LbConfig {
    fn check(&mut self) -> anyhow::Result<()> {
        self.services.sort_unstable();
        self.services.dedup();
        anyhow::ensure!(
            !self.services.is_empty(),
            "--services needs at least one count"
        );
        anyhow::ensure!(
            self.services[0] >= 1,
            "--services counts must be at least 1"
        );
        let max = *self.services.last().unwrap_or(&1);
        anyhow::ensure!(
            max <= MAX_SERVICES.min(MAX_POLICY_SERVICES),
            "--services {max}: at most {} services fit the VIP ranges",
            MAX_SERVICES.min(MAX_POLICY_SERVICES)
        );
        anyhow::ensure!(self.samples >= 1, "--samples must be at least 1");
        anyhow::ensure!(
            (1..=MAX_BACKENDS).contains(&self.backends),
            "--backends must be 1..={MAX_BACKENDS}"
        );
        Ok(())
    }

    fn peer_counts(&self) -> Vec<usize> {
        self.services
            .iter()
            .copied()
            .filter(|n| *n <= self.peers_max)
            .collect()
    }
}

/// Runs the benchmark, prints the report to stdout and writes the JSON.
/// Fails when any connection failed (after reporting the rest).
pub fn run(cfg: &LbConfig) -> anyhow::Result<()> {
    let mut cfg = cfg.clone();
    cfg.check()?;
    if cfg.cluster {
        return crate::lbcluster::run(&cfg);
    }
    sysinfo::require_root("berth bench lb")?;
    let peer_counts = cfg.peer_counts();
    if !peer_counts.is_empty() {
        peers::require_binaries(&[Peer::Iptables, Peer::Nftables])?;
    }
    interrupt::install()?;
    sysinfo::remove_leftovers();
    let mut settings = Settings {
        kernel: sysinfo::kernel_release(),
        iptables: Peer::Iptables.version(),
        nft: Peer::Nftables.version(),
        berth: env!("CARGO_PKG_VERSION").to_string(),
        cpus: sysinfo::cpus(),
        samples: cfg.samples,
        warmup: cfg.warmup,
        backends: cfg.backends,
        peers_max: cfg.peers_max,
        services: cfg.services.clone(),
        load: (sysinfo::loadavg(), String::new()),
    };
    let mut results = Results::default();
    let outcome = run_all(&cfg, &peer_counts, &mut results);
    settings.load.1 = sysinfo::loadavg();
    // Everything is torn down by now; report what was measured.
    print!("{}", report::render(&settings, &results));
    if let Some(path) = &cfg.json {
        results.write_json(path)?;
        println!("\nJSON: {}", path.display());
    }
    outcome?;
    if !results.failed.is_empty() {
        let n: u64 = results.failed.values().map(|f| f.failures).sum();
        anyhow::bail!(
            "{} run(s) failed ({n} failed connections): see FAILED above",
            results.failed.len()
        );
    }
    Ok(())
}

pub(crate) fn progress(msg: std::fmt::Arguments<'_>) {
    eprintln!("[bench] {msg}");
}

fn run_all(cfg: &LbConfig, peer_counts: &[usize], res: &mut Results) -> anyhow::Result<()> {
    let k = cfg.backends;
    let max_n = *cfg.services.last().unwrap_or(&1);
    progress(format_args!(
        "creating a LAN of namespaces: client, control client, {k} backends"
    ));
    let topo = Topo::new(k)?;
    for p in [Peer::Iptables, Peer::Nftables] {
        topo.route_via_lan(&services::cidr(p.vips()))?;
    }
    // Plain, affinity and Maglev services.
    let most = 2 * max_n + max_n.min(MAGLEV_SERVICES);
    let limits = Limits {
        frontends: u32::try_from(most + 16)?,
        backends: u32::try_from(most * k + 64)?,
        backends_per_frontend: 64,
        maglev_frontends: u32::try_from(MAGLEV_SERVICES)?,
        ..Limits::default()
    };
    progress(format_args!(
        "starting the data plane in-process (limits: {} frontends, {} backends)",
        limits.frontends, limits.backends
    ));
    let mut dp = InProc::start(limits)?;
    res.empty_map_bytes = Some(dp.pinned.map_bytes()?);
    let mut rng = Rng::from_entropy();

    for &n in &cfg.services {
        interrupt::check()?;
        berth_at(cfg, &topo, &mut dp, &mut rng, n, res)?;
    }
    dp.lb().reconcile(&[]).context("emptying the data plane")?;

    for peer in [Peer::Nftables, Peer::Iptables] {
        for &n in peer_counts {
            interrupt::check()?;
            peer_at(cfg, &topo.view(), peer, n, res)?;
        }
    }
    progress(format_args!("cleaning up"));
    drop(dp);
    drop(topo);
    Ok(())
}

fn berth_at(
    cfg: &LbConfig,
    topo: &Topo,
    dp: &mut InProc,
    rng: &mut Rng,
    n: usize,
    res: &mut Results,
) -> anyhow::Result<()> {
    let backends = topo.backends();
    let lb = dp.lb();
    lb.reconcile(&[]).context("emptying the data plane")?;
    let svcs = services::berth_services(n, &backends);
    progress(format_args!("berth: programming {n} services"));
    let start = Instant::now();
    lb.reconcile(&svcs)
        .with_context(|| format!("programming {n} services"))?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    drop(svcs);
    let (frontends, _) = lb.counts();
    anyhow::ensure!(
        frontends == n,
        "the data plane holds {frontends} frontends after programming {n} services"
    );
    res.program.insert(("berth", n), ms);
    res.map_bytes.insert(n, dp.pinned.map_bytes()?);
    progress(format_args!("berth: {n} services programmed in {ms:.1} ms"));

    // The same services with a selection policy, beside the plain ones, so
    // that their cost shows against random selection in the same run.
    let maglev = n.min(MAGLEV_SERVICES);
    let start = Instant::now();
    for (kind, count) in [(Kind::Affinity, n), (Kind::Maglev, maglev)] {
        for i in 0..count {
            dp.lb()
                .upsert_service(&services::policy_service(kind, i, &backends))
                .with_context(|| format!("programming {kind:?} service {i}"))?;
        }
    }
    progress(format_args!(
        "berth: {n} affinity and {maglev} Maglev services programmed in {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    ));

    let vips = |base, count| Targets::Vips {
        base,
        count,
        port: SERVICE_PORT,
    };
    let direct = Targets::List(backends.clone());
    let client = topo.client_ns();
    series(
        cfg,
        &topo.view(),
        n,
        &[
            ("vip", client, vips(BERTH_VIPS, n)),
            ("vip-affinity", client, vips(Kind::Affinity.base(), n)),
            ("vip-maglev", client, vips(Kind::Maglev.base(), maglev)),
            ("direct", client, direct),
        ],
        res,
    )?;
    res.update.insert(n, update_one(dp, rng, n, &backends)?);
    Ok(())
}

/// Times [`UPDATES`] backend changes of random services: each replaces one
/// backend with a spare address, then puts it back.
fn update_one(
    dp: &mut InProc,
    rng: &mut Rng,
    n: usize,
    backends: &[SocketAddr],
) -> anyhow::Result<Update> {
    let original: Vec<Backend> = backends.iter().copied().map(Backend::from).collect();
    let mut changed = original.clone();
    // A LAN address no host has; nothing connects while it is programmed.
    let spare = Backend::new(IpAddr::V4(Ipv4Addr::new(10, 244, 7, 250)), BACKEND_PORT);
    if let Some(last) = changed.last_mut() {
        *last = spare;
    }
    let lb = dp.lb();
    let mut times: Vec<Duration> = Vec::with_capacity(UPDATES);
    for _ in 0..UPDATES / 2 {
        let name = services::name(rng.below(n));
        for set in [&changed, &original] {
            let start = Instant::now();
            lb.set_backends(&name, SERVICE_PORT, Protocol::Tcp, set)
                .with_context(|| format!("changing the backends of {name}"))?;
            times.push(start.elapsed());
        }
    }
    let max_ms = times.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1e3);
    let ops = times.len();
    let median_ms = stats::median_ms(&mut times).unwrap_or(0.0);
    progress(format_args!(
        "berth: one backend changed in {median_ms:.3} ms (median of {ops}, max {max_ms:.3})"
    ));
    Ok(Update {
        median_ms,
        max_ms,
        ops,
    })
}

/// `peer`'s rules for `n` services in the view's client namespace, its
/// connections interleaved with direct ones (see the module's docs).
pub(crate) fn peer_at(
    cfg: &LbConfig,
    view: &View<'_>,
    peer: Peer,
    n: usize,
    res: &mut Results,
) -> anyhow::Result<()> {
    let mode = peer.mode();
    let backends = view.backends();
    let ruleset = peer.ruleset(n, &backends);
    progress(format_args!(
        "{mode}: loading {n} services ({:.1} MB of rules)",
        ruleset.len() as f64 / 1e6
    ));
    let ns = view.client;
    let loaded = peer.load(ns, &ruleset);
    drop(ruleset);
    let elapsed = match loaded {
        Ok(d) => d,
        Err(e) => {
            let _ = peer.clear(ns);
            return Err(e.context(format!("loading the {mode} rules for {n} services")));
        }
    };
    let ms = elapsed.as_secs_f64() * 1e3;
    res.program.insert((mode, n), ms);
    progress(format_args!("{mode}: {n} services loaded in {ms:.1} ms"));
    let targets = Targets::Vips {
        base: peer.vips(),
        count: n,
        port: SERVICE_PORT,
    };
    // Interleaved with the peer's connections: direct ones from a namespace
    // without rules (the baseline, free of drift between phases) and from
    // the client namespace, which has the rules (what other traffic pays).
    let direct = Targets::List(backends);
    let measured = series(
        cfg,
        view,
        n,
        &[
            (mode, ns, targets),
            (report::clean_mode(mode), view.control, direct.clone()),
            (report::control_mode(mode), ns, direct),
        ],
        res,
    );
    let cleared = peer
        .clear(ns)
        .with_context(|| format!("removing the {mode} rules"));
    measured?;
    cleared
}

/// Latency runs, interleaved and checked: every connection must get its
/// reply, the echo servers must have accepted exactly those, and with many
/// samples every backend must have had some from each mode.
pub(crate) fn series(
    cfg: &LbConfig,
    view: &View<'_>,
    n: usize,
    sets: &[(&'static str, &Netns, Targets)],
    res: &mut Results,
) -> anyhow::Result<()> {
    let names: Vec<&str> = sets.iter().map(|(m, _, _)| *m).collect();
    progress(format_args!(
        "{}: {} connections each to {n} services{}",
        names.join(" + "),
        cfg.warmup + cfg.samples,
        if sets.len() > 1 { ", interleaved" } else { "" }
    ));
    let measured: Vec<measure::Set<'_>> = sets
        .iter()
        .map(|(_, ns, targets)| measure::Set { ns, targets })
        .collect();
    let before = view.accepted();
    let runs = measure::run(&measured, cfg.warmup, cfg.samples)?;
    let after = view.accepted();
    let mut rest: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let accepted: u64 = rest.iter().sum();
    let succeeded: u64 = runs.iter().map(|r| r.succeeded).sum();
    let failures: u64 = runs.iter().map(|r| r.failures).sum();
    let mut shared = Vec::new();
    if accepted < succeeded || accepted > succeeded + failures {
        shared.push(format!(
            "the backends accepted {accepted} connections, the client completed {succeeded}"
        ));
    }
    // Connections of the modes that picked a backend themselves are known;
    // the rest of what each backend accepted came through the VIP modes.
    let mut spreads: Vec<Option<Vec<u64>>> = runs
        .iter()
        .map(|r| (!r.picked.is_empty()).then(|| r.picked.clone()))
        .collect();
    for p in spreads.iter().flatten() {
        for (r, c) in rest.iter_mut().zip(p) {
            *r = r.saturating_sub(*c);
        }
    }
    let vip_modes = spreads.iter().filter(|s| s.is_none()).count();
    if vip_modes == 1 {
        for s in spreads.iter_mut().filter(|s| s.is_none()) {
            *s = Some(rest.clone());
        }
    }
    for (((mode, _, _), mut run), spread) in sets.iter().zip(runs).zip(spreads) {
        let mut problems = run.errors.clone();
        problems.extend(shared.iter().cloned());
        if let Some(spread) = spread {
            if spread.len() > 1 && run.succeeded >= 50 * spread.len() as u64 {
                for (i, c) in spread.iter().enumerate() {
                    if *c == 0 {
                        problems.push(format!("backend-{} got none of the connections", i + 1));
                    }
                }
            }
            res.spread.insert((mode, n), spread);
        }
        if run.failures == 0 && problems.is_empty() && run.samples.len() != cfg.samples {
            problems.push(format!(
                "only {} of {} samples",
                run.samples.len(),
                cfg.samples
            ));
        }
        if run.failures > 0 || !problems.is_empty() {
            progress(format_args!(
                "{mode}: FAILED at {n} services: {} failed connections; {}",
                run.failures,
                problems.join("; ")
            ));
            res.failed.insert(
                (mode, n),
                Failed {
                    failures: run.failures,
                    succeeded: run.succeeded,
                    problems,
                },
            );
            continue;
        }
        if let Some(p) = stats::percentiles(&mut run.samples) {
            progress(format_args!(
                "{mode}: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs",
                p.p50_us, p.p90_us, p.p99_us
            ));
            res.latency.insert((mode, n), p);
        }
    }
    Ok(())
}
