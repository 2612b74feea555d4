//! `berth bench cni`: ADD and DEL latency of berth-cni vs the reference
//! `bridge` + `host-local` plugins (Debian's containernetworking-plugins),
//! sequentially and 8 at a time, on the same configuration, in one run.
//!
//! Each call is one plugin process exec'd exactly as a runtime does it:
//! `CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME=eth0`,
//! `CNI_PATH` in an otherwise empty environment, the configuration on
//! stdin, the process started inside a "node" network namespace (which
//! holds the bridge) through a `pre_exec` `setns`. The sample is the wall
//! time from spawn to exit.
//!
//! Layout: 200 (`--pods`) pod namespaces per plugin, created before any
//! timing and reused by both runs of that plugin (DEL leaves them empty);
//! one fresh node namespace and IPAM data directory per plugin and run
//! (`/tmp/berth-bench-cni-<pid>/<plugin>-c<concurrency>`).
//!
//! berth-cni is `berth-cni` next to the running `berth` (the symlink of
//! `cargo xtask build`; `CNI_PATH` is that directory). When that file is
//! not this binary (`cargo build -p berth-cni` puts the crate's standalone
//! binary there), a symlink to this binary in the work directory is used
//! instead, and the report says so.
//!
//! Order: the sequential runs interleave the two plugins call by call
//! (alternating which one goes first), so that both see the same machine;
//! then berth's 8-at-a-time run (8 calls always in flight), then the
//! reference's. Each run does all ADDs, then all DELs.
//!
//! Checked while measuring (any failure makes the command fail, after the
//! report): every ADD succeeds and returns an address inside the subnet;
//! addresses are unique; the node holds one veth per pod after the ADDs;
//! every DEL succeeds; afterwards the node holds no veth and the run's IPAM
//! directory no reservation. Namespaces and directories are removed at the
//! end, on error and on Ctrl-C (guards), and leftovers of killed runs at
//! the next start.

mod plugin;
mod report;

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
    path::{Path, PathBuf},
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use berth_test_support::Netns;
use serde_json::Value;

use self::{
    plugin::{Call, Plugin, Subnet},
    report::{Latency, Op, Results, Settings},
};
use crate::{
    interrupt, stats, sysinfo,
    workdir::{self, WorkDir},
};

/// Defaults and limits of the command line.
pub const DEFAULT_PODS: usize = 200;
pub const MAX_PODS: usize = 1000;
/// The network name (also the IPAM directory's name inside `dataDir`).
const NETWORK: &str = "berth-bench";
/// `<temp dir>/berth-bench-cni-<pid>`: the IPAM data directories.
const WORKDIR_PREFIX: &str = "berth-bench-cni-";
/// Problems kept per run (the rest are counted).
const MAX_PROBLEMS: usize = 12;

/// Settings of `berth bench cni`.
#[derive(Debug, Clone)]
pub struct CniConfig {
    /// Pods (ADD + DEL pairs) per plugin and concurrency.
    pub pods: usize,
    /// Write the rows as a JSON array here.
    pub json: Option<PathBuf>,
}

impl Default for CniConfig {
    fn default() -> Self {
        Self {
            pods: DEFAULT_PODS,
            json: None,
        }
    }
}

/// Runs the benchmark, prints the report and writes the JSON. Fails when
/// any call failed or any check did not pass (after reporting).
pub fn run(cfg: &CniConfig) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=MAX_PODS).contains(&cfg.pods),
        "--pods must be 1..={MAX_PODS}"
    );
    let subnet =
        Subnet::for_pods(cfg.pods).with_context(|| format!("no subnet holds {} pods", cfg.pods))?;
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!(
            "berth bench cni creates network namespaces, bridges and veths: run it as root"
        );
    }
    let mut berth = Plugin::berth()?;
    let reference = Plugin::reference()?;
    interrupt::install()?;
    sysinfo::remove_leftovers();
    workdir::remove_stale(WORKDIR_PREFIX);
    let work = WorkDir::create(WORKDIR_PREFIX)?;
    if !berth.is_this_binary {
        berth.link_this_binary(&work.path().join("bin"))?;
    }

    let mut settings = Settings {
        kernel: sysinfo::kernel_release(),
        cpus: sysinfo::cpus(),
        pods: cfg.pods,
        berth_version: env!("CARGO_PKG_VERSION").to_string(),
        berth: berth.description.clone(),
        reference: reference.description.clone(),
        conf: berth
            .conf(NETWORK, subnet, Path::new("/tmp/berth-bench-cni-PID/RUN"))
            .to_string(),
        load: (sysinfo::loadavg(), String::new()),
        ..Settings::default()
    };
    let mut results = Results::default();
    let outcome = run_all(
        cfg.pods,
        subnet,
        [&berth, &reference],
        &work,
        &mut settings,
        &mut results,
    );
    drop(work);
    settings.load.1 = sysinfo::loadavg();
    // Everything is torn down by now; report what was measured.
    print!("{}", report::render(&settings, &results));
    if let Some(path) = &cfg.json {
        results.write_json(path)?;
        println!("\nJSON: {}", path.display());
    }
    outcome?;
    anyhow::ensure!(
        !results.failed(),
        "berth bench cni: correctness checks failed (see Checks above)"
    );
    Ok(())
}

fn progress(msg: std::fmt::Arguments<'_>) {
    eprintln!("[bench] {msg}");
}

fn run_all(
    pods: usize,
    subnet: Subnet,
    plugins: [&Plugin; 2],
    work: &WorkDir,
    settings: &mut Settings,
    results: &mut Results,
) -> anyhow::Result<()> {
    progress(format_args!(
        "creating {} pod namespaces (not timed)",
        2 * pods
    ));
    let pod_sets = [make_pods(pods)?, make_pods(pods)?];

    {
        let probe = Netns::new()?;
        settings.berth_cni_versions = plugins[0].versions(&probe);
        settings.reference_cni_versions = plugins[1].versions(&probe);
    }

    // Sequential, the two plugins interleaved call by call.
    let runs = [
        Run::new(plugins[0], 1, &pod_sets[0], subnet, work)?,
        Run::new(plugins[1], 1, &pod_sets[1], subnet, work)?,
    ];
    for op in [Op::Add, Op::Del] {
        progress(format_args!(
            "sequential: {pods} {} per plugin, interleaved",
            op.name().to_uppercase()
        ));
        for i in 0..pods {
            interrupt::check()?;
            let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
            for r in order {
                runs[r].call(op, i);
            }
        }
        for r in &runs {
            r.check_after(op);
        }
    }
    for r in runs {
        r.finish(results);
    }

    // 8 at a time, one plugin after the other.
    for (p, pod_set) in plugins.into_iter().zip(&pod_sets) {
        let run = Run::new(p, 8, pod_set, subnet, work)?;
        for op in [Op::Add, Op::Del] {
            progress(format_args!(
                "{}: {pods} {}, 8 at a time",
                p.kind.name(),
                op.name().to_uppercase()
            ));
            for_each_concurrently(pods, 8, |i| run.call(op, i))?;
            run.check_after(op);
        }
        run.finish(results);
    }
    progress(format_args!("cleaning up"));
    drop(pod_sets);
    Ok(())
}

/// `n` fresh pod namespaces.
fn make_pods(n: usize) -> anyhow::Result<Vec<Netns>> {
    let mut pods = Vec::with_capacity(n);
    for _ in 0..n {
        interrupt::check()?;
        pods.push(Netns::new().context("creating a pod namespace")?);
    }
    Ok(pods)
}

/// Calls `f(0..n)` from `workers` threads, each taking the next index as
/// soon as its previous call returned (so `workers` calls are in flight).
fn for_each_concurrently(n: usize, workers: usize, f: impl Fn(usize) + Sync) -> anyhow::Result<()> {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    if interrupt::requested() {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    f(i);
                }
            });
        }
    });
    interrupt::check()
}

/// One plugin at one concurrency: its node namespace (with the bridge),
/// IPAM directory, configuration, samples and problems.
#[derive(Debug)]
struct Run<'a> {
    plugin: &'a Plugin,
    concurrency: usize,
    node: Netns,
    pods: &'a [Netns],
    ids: Vec<String>,
    conf: Vec<u8>,
    data_dir: PathBuf,
    subnet: Subnet,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    add: Vec<Duration>,
    del: Vec<Duration>,
    /// Address → pod index.
    ips: BTreeMap<Ipv4Addr, usize>,
    problems: Vec<String>,
    more_problems: usize,
}

impl State {
    fn problem(&mut self, p: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        } else {
            self.more_problems += 1;
        }
    }
}

impl<'a> Run<'a> {
    fn new(
        plugin: &'a Plugin,
        concurrency: usize,
        pods: &'a [Netns],
        subnet: Subnet,
        work: &WorkDir,
    ) -> anyhow::Result<Run<'a>> {
        let tag = format!("{}-c{concurrency}", plugin.kind.name());
        let data_dir = work.path().join(&tag);
        std::fs::create_dir(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let node = Netns::new().context("creating a node namespace")?;
        Ok(Run {
            plugin,
            concurrency,
            node,
            pods,
            ids: (0..pods.len())
                .map(|i| format!("bench-{tag}-{i:04}"))
                .collect(),
            conf: plugin
                .conf(NETWORK, subnet, &data_dir)
                .to_string()
                .into_bytes(),
            data_dir,
            subnet,
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One timed call of `op` for pod `i`; records the sample or the problem.
    fn call(&self, op: Op, i: usize) {
        let id = &self.ids[i];
        let verb = op.name().to_uppercase();
        let cmd = self
            .plugin
            .command(&self.node, &verb, id, Some(self.pods[i].path()));
        let call = Call::run(cmd, &self.conf);
        let mut st = self.state();
        let out = match call.outcome {
            Ok(out) => out,
            Err(e) => return st.problem(format!("{verb} {id}: {e}")),
        };
        match op {
            Op::Add => match added_address(&out) {
                Ok(ip) if !self.subnet.contains(ip) => {
                    st.problem(format!("ADD {id}: address {ip} is outside {}", self.subnet));
                }
                Ok(ip) => {
                    if let Some(other) = st.ips.insert(ip, i) {
                        let other = &self.ids[other];
                        st.problem(format!(
                            "ADD {id}: address {ip} was already given to {other}"
                        ));
                    } else {
                        st.add.push(call.elapsed);
                    }
                }
                Err(e) => st.problem(format!("ADD {id}: {e}; result {:?}", out.trim())),
            },
            Op::Del => st.del.push(call.elapsed),
        }
    }

    /// The state of the node and the IPAM directory after all calls of `op`.
    fn check_after(&self, op: Op) {
        let veths = match self.node.ip(&["-o", "link", "show", "type", "veth"]) {
            Ok(s) => s.lines().filter(|l| !l.trim().is_empty()).count(),
            Err(e) => {
                self.state()
                    .problem(format!("listing the veths of the node: {e}"));
                return;
            }
        };
        let pods = self.pods.len();
        match op {
            Op::Add => {
                if veths != pods {
                    self.state().problem(format!(
                        "after {pods} ADDs the node netns holds {veths} veths"
                    ));
                }
            }
            Op::Del => {
                if veths != 0 {
                    self.state().problem(format!(
                        "after all DELs {veths} veths are left in the node netns"
                    ));
                }
                let dir = self.data_dir.join(NETWORK);
                match reservations(&dir) {
                    Ok(r) if r.is_empty() => {}
                    Ok(r) => self.state().problem(format!(
                        "after all DELs {} reservations are left in {}: {}",
                        r.len(),
                        dir.display(),
                        r.iter().take(8).cloned().collect::<Vec<_>>().join(", ")
                    )),
                    Err(e) => self.state().problem(e),
                }
            }
        }
    }

    /// Moves the outcome into `results`: latency only for a run whose calls
    /// all succeeded and whose checks all passed.
    fn finish(self, results: &mut Results) {
        let kind = self.plugin.kind;
        let c = self.concurrency;
        let mut st = self.state.into_inner().unwrap_or_else(|p| p.into_inner());
        let pods = self.pods.len();
        if st.problems.is_empty() && (st.add.len() != pods || st.del.len() != pods) {
            st.problem(format!(
                "incomplete: {} ADDs and {} DELs of {pods} succeeded",
                st.add.len(),
                st.del.len()
            ));
        }
        if st.more_problems > 0 {
            let more = st.more_problems;
            st.problems.push(format!("… and {more} more problems"));
        }
        if st.problems.is_empty() {
            for (op, samples) in [(Op::Add, &mut st.add), (Op::Del, &mut st.del)] {
                if let Some(p) = stats::percentiles(samples) {
                    let l = Latency {
                        p50_ms: p.p50_us / 1e3,
                        p99_ms: p.p99_us / 1e3,
                    };
                    progress(format_args!(
                        "{} {} concurrency {c}: p50 {:.2} ms, p99 {:.2} ms",
                        kind.name(),
                        op.name().to_uppercase(),
                        l.p50_ms,
                        l.p99_ms
                    ));
                    results.latency.insert((kind, op, c), l);
                }
            }
        } else {
            progress(format_args!(
                "{} concurrency {c}: {} problems (see Checks)",
                kind.name(),
                st.problems.len()
            ));
        }
        results.checks.insert((kind, c), st.problems);
    }
}

/// The IPv4 address of the ADD result's first `ips` entry.
fn added_address(out: &str) -> Result<Ipv4Addr, String> {
    let v: Value = serde_json::from_str(out).map_err(|e| format!("result is not JSON ({e})"))?;
    let addr = v["ips"][0]["address"]
        .as_str()
        .ok_or("result has no ips[0].address")?;
    let ip = addr.split('/').next().unwrap_or_default();
    ip.parse()
        .map_err(|_| format!("ips[0].address {addr:?} is not an IPv4 address with a prefix"))
}

/// Reservation files (named by an address) in an IPAM directory; a missing
/// directory holds none.
fn reservations(dir: &Path) -> Result<Vec<String>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("reading {}: {e}", dir.display())),
    };
    let mut v: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<IpAddr>().is_ok())
        .collect();
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_of_an_add_result() {
        let ok = r#"{"cniVersion":"1.0.0","ips":[{"address":"10.244.9.7/24","gateway":"10.244.9.1","interface":2}]}"#;
        assert_eq!(added_address(ok), Ok(Ipv4Addr::new(10, 244, 9, 7)));
        assert!(added_address(r#"{"ips":[]}"#).is_err());
        assert!(added_address("not json").is_err());
        assert!(added_address(r#"{"ips":[{"address":"fd00::7/64"}]}"#).is_err());
    }
}
