//! `berth dataplane run|list|down`.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use anyhow::Context as _;
use berth_dataplane::{
    Dataplane, Limits, config,
    kernel::{self, KernelConfig},
    status,
};
use clap::{Args, Subcommand};
use tracing::{error, info};

#[derive(Debug, Subcommand)]
pub enum DataplaneCmd {
    /// Run the load balancer alone, programmed from a YAML file of services
    /// (reconciled whenever the file changes).
    Run(RunArgs),
    /// Show services, backends and counters as programmed in the kernel.
    List(PinArgs),
    /// Detach the programs and remove every pinned map and link.
    Down(PinArgs),
    /// The per-packet path's connection tracking (NodePort, externalIPs).
    #[command(subcommand)]
    Ct(CtCmd),
}

#[derive(Debug, Subcommand)]
pub enum CtCmd {
    /// Every tracked flow, one line per direction, and the counters.
    List(PinArgs),
    /// Delete every tracked flow (their next packets are new flows).
    Flush(PinArgs),
}

#[derive(Debug, Args)]
pub struct PinArgs {
    /// bpffs directory holding the pinned maps and links.
    #[arg(long, default_value = kernel::DEFAULT_BPFFS)]
    pub bpffs: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// YAML file of services and backends (schema: berth_dataplane::config).
    #[arg(long = "static", value_name = "FILE")]
    pub file: PathBuf,
    #[arg(long, default_value = kernel::DEFAULT_BPFFS)]
    pub bpffs: PathBuf,
    /// cgroup-v2 directory to attach to (default: the cgroup-v2 root).
    #[arg(long)]
    pub cgroup: Option<PathBuf>,
    /// Frontends (VIP x port x protocol) the maps can hold.
    #[arg(long, default_value_t = Limits::default().frontends)]
    pub max_frontends: u32,
    /// Backends the maps can hold.
    #[arg(long, default_value_t = Limits::default().backends)]
    pub max_backends: u32,
    /// Backends one frontend can have.
    #[arg(long, default_value_t = Limits::default().backends_per_frontend)]
    pub max_backends_per_frontend: u16,
    /// Frontends with a Maglev table (each table is locked kernel memory:
    /// --maglev-table-size x 4 bytes).
    #[arg(long, default_value_t = Limits::default().maglev_frontends)]
    pub max_maglev_frontends: u32,
    /// Entries of each Maglev table: a prime well above the backends of a
    /// frontend.
    #[arg(long, default_value_t = Limits::default().maglev_table_size, value_parser = maglev_size)]
    pub maglev_table_size: u32,
    /// How often the file is checked for changes, in milliseconds.
    #[arg(long, default_value_t = 300)]
    pub poll_ms: u64,
    #[command(flatten)]
    pub nodeport: NodePortArgs,
}

/// The per-packet path (NodePort, externalIPs), shared by `berth dataplane
/// run` and `berth agent`.
#[derive(Debug, Args, Clone)]
pub struct NodePortArgs {
    /// Devices whose ingress serves external frontends (NodePort on node
    /// addresses, externalIPs), comma-separated. None (the default): no
    /// device is touched and only the socket hooks serve.
    #[arg(long, value_delimiter = ',', value_name = "DEV,...")]
    pub nodeport_devices: Vec<String>,
    /// More devices whose ingress gets the program: those the replies of
    /// SNATed flows come back on (the pods' bridge, links to other nodes).
    #[arg(long, value_delimiter = ',', value_name = "DEV,...")]
    pub nodeport_reply_devices: Vec<String>,
    /// The node's IPv4 address that SNAT uses (externalTrafficPolicy
    /// Cluster). Without it, external flows that need SNAT are dropped
    /// and counted.
    #[arg(long, value_name = "ADDR")]
    pub snat_ipv4: Option<std::net::Ipv4Addr>,
    /// The node's IPv6 address that SNAT uses.
    #[arg(long, value_name = "ADDR")]
    pub snat_ipv6: Option<std::net::Ipv6Addr>,
    /// Conntrack entries (two per flow), fixed when the map is created.
    #[arg(long, default_value_t = kernel::DEFAULT_CT_ENTRIES)]
    pub ct_entries: u32,
}

impl NodePortArgs {
    /// What to attach, or `None` when no device is named.
    pub fn settings(&self) -> Option<kernel::NodePort> {
        if self.nodeport_devices.is_empty() {
            return None;
        }
        let mut devices = self.nodeport_devices.clone();
        devices.extend(self.nodeport_reply_devices.iter().cloned());
        Some(kernel::NodePort {
            devices,
            snat4: self.snat_ipv4,
            snat6: self.snat_ipv6,
            ct_entries: self.ct_entries,
            ..kernel::NodePort::default()
        })
    }
}

pub fn run(cmd: DataplaneCmd) -> anyhow::Result<()> {
    match cmd {
        DataplaneCmd::Run(a) => run_static(a),
        DataplaneCmd::List(a) => {
            let lb = kernel::open_pinned(&a.bpffs)?;
            print!("{}", status::render(&lb.list()?));
            let m = kernel::maglev_memory(&a.bpffs)?;
            println!(
                "maglev tables: {} of at most {}, {} bytes of kernel memory",
                m.tables, m.cap, m.bytes
            );
            Ok(())
        }
        DataplaneCmd::Ct(CtCmd::List(a)) => {
            let now = monotonic_ns();
            let entries = kernel::ct_list(&a.bpffs)?;
            for e in &entries {
                println!("{}", e.render(now));
            }
            let s = kernel::nodeport_stats(&a.bpffs)?;
            println!(
                "{} entries; new flows {}, tracked packets {}, dropped: no backend {}, no SNAT port {}; no route {}",
                entries.len(),
                s.new_flows,
                s.tracked_packets,
                s.dropped_no_backend,
                s.dropped_no_snat_port,
                s.fib_misses
            );
            Ok(())
        }
        DataplaneCmd::Ct(CtCmd::Flush(a)) => {
            let n = kernel::ct_flush(&a.bpffs)?;
            println!("flushed {n} conntrack entries");
            Ok(())
        }
        DataplaneCmd::Down(a) => {
            let removed = kernel::down(&a.bpffs)?;
            println!("removed {} pins under {}", removed.len(), a.bpffs.display());
            Ok(())
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of `bpf_ktime_get_ns`.
fn monotonic_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always readable");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// A Maglev table size: a prime from 3 to 1,000,003.
pub fn maglev_size(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(3..=1_000_003).contains(&n) || !berth_dataplane::maglev::is_prime(n) {
        return Err(format!(
            "{n} must be a prime from 3 to 1000003 (e.g. 16381)"
        ));
    }
    Ok(n)
}

/// What identifies one version of the file: its mtime (coarse: a clock
/// tick), length and inode (a write-and-rename makes a new one).
fn stamp(path: &Path) -> Option<(SystemTime, u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

fn run_static(a: RunArgs) -> anyhow::Result<()> {
    // The file's stamp before it is read: a change made at any moment
    // after this, even right after "ready" is printed, is seen.
    let mut last = stamp(&a.file);
    // Config first: a bad file fails before anything is loaded or attached.
    let services = config::load(&a.file)?;
    let cgroup = match a.cgroup {
        Some(c) => c,
        None => kernel::cgroup2_root().context("finding the cgroup-v2 root")?,
    };
    let cfg = KernelConfig {
        bpffs: a.bpffs,
        cgroup,
        limits: Limits {
            frontends: a.max_frontends,
            backends: a.max_backends,
            backends_per_frontend: a.max_backends_per_frontend,
            maglev_frontends: a.max_maglev_frontends,
            maglev_table_size: a.maglev_table_size,
        },
    };
    // The whole desired state is checked before anything is loaded or
    // attached: a bad or too large file changes nothing.
    berth_dataplane::check(&services, &cfg.limits)
        .with_context(|| format!("{}", a.file.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let mut lb = kernel::start(&cfg)?;
    if let Some(np) = a.nodeport.settings() {
        kernel::start_nodeport(&cfg, &np)?;
    }
    let t = std::time::Instant::now();
    lb.reconcile(&services)?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let (f, b) = lb.counts();
    info!(frontends = f, backends = b, reconcile_ms = ms, bpffs = %cfg.bpffs.display(), cgroup = %cfg.cgroup.display(), "programmed");
    println!("berth dataplane: ready ({f} frontends, {b} backends)");
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(a.poll_ms));
        let now = stamp(&a.file);
        if now == last {
            continue;
        }
        last = now;
        match config::load(&a.file) {
            Ok(services) => match lb.reconcile(&services) {
                Ok(()) => {
                    let (f, b) = lb.counts();
                    info!(frontends = f, backends = b, "reconciled");
                }
                Err(e) => error!(error = %e, "file rejected; keeping what is programmed"),
            },
            Err(e) => {
                error!(error = %format!("{e:#}"), "file rejected; keeping what is programmed")
            }
        }
    }
    info!("stopping; pinned programs and maps keep serving (berth dataplane down removes them)");
    Ok(())
}
