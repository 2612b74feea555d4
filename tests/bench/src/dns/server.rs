//! The two servers under test, each started pinned to [`SERVER_CPU`] on a
//! free loopback port, logging into the work directory.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context as _;

use super::{
    knot, probe,
    proc::{self, Guard},
    workload::Workload,
};

/// The servers' CPU (`taskset -c`).
pub const SERVER_CPU: usize = 1;
/// Longest wait for a server to answer after its start.
const READY_LIMIT: Duration = Duration::from_secs(60);

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Berth,
    Knot,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Berth, Kind::Knot];

    /// The `server` value of the JSON rows.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Berth => "berth",
            Kind::Knot => "knot",
        }
    }
}

/// A running, answering server.
#[derive(Debug)]
pub struct Server {
    pub kind: Kind,
    pub port: u16,
    /// Spawn to first NOERROR answer.
    pub ready: Duration,
    /// Threads that had left [`SERVER_CPU`] by then (pinned back since).
    pub repinned: Vec<String>,
    pub log: PathBuf,
    pub guard: Guard,
}

/// A server about to start: its command, port and log.
#[derive(Debug)]
pub struct Launch {
    pub kind: Kind,
    /// The command line, for the report.
    pub command: String,
    cmd: Command,
    port: u16,
    log: PathBuf,
}

impl Launch {
    /// `taskset -c 1 <this berth binary> dns --static <manifest> --listen
    /// 127.0.0.1:<port> --workers 1 --no-upstream` (every name asked is in
    /// the zone; nothing may be forwarded off this machine).
    pub fn berth(work: &Path, manifest: &Path) -> anyhow::Result<Launch> {
        let exe = std::env::current_exe().context("locating the running berth binary")?;
        let port = proc::free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = pinned(&exe);
        cmd.arg("dns")
            .arg("--static")
            .arg(manifest)
            .args(["--listen", &listen])
            .args(["--workers", "1", "--no-upstream"]);
        Ok(Launch {
            kind: Kind::Berth,
            command: format!(
                "taskset -c {SERVER_CPU} {} dns --static {} --listen {listen} --workers 1 --no-upstream",
                exe.display(),
                manifest.display()
            ),
            cmd,
            port,
            log: work.join("berth.log"),
        })
    }

    /// `taskset -c 1 knotd -c <work>/knot/knot.conf`, its configuration and
    /// zone file written now.
    pub fn knot(work: &Path, w: &Workload) -> anyhow::Result<Launch> {
        let port = proc::free_port()?;
        let layout = knot::Layout {
            dir: work.join("knot"),
        };
        layout
            .write(port, &w.zone_file())
            .with_context(|| format!("writing knot's files into {}", layout.dir.display()))?;
        let mut cmd = pinned(Path::new(knot::KNOTD));
        cmd.arg("-c").arg(layout.conf());
        Ok(Launch {
            kind: Kind::Knot,
            command: format!(
                "taskset -c {SERVER_CPU} {} -c {} (listen 127.0.0.1@{port}; {})",
                knot::KNOTD,
                layout.conf().display(),
                knot::SETTINGS
            ),
            cmd,
            port,
            log: work.join("knot.log"),
        })
    }

    /// Starts the server and waits until it answers the first service's
    /// A query with NOERROR.
    pub fn start(self, w: &Workload) -> anyhow::Result<Server> {
        let Launch {
            kind,
            mut cmd,
            port,
            log,
            ..
        } = self;
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let started = Instant::now();
        let mut guard = Guard::spawn(kind.name(), cmd)?;
        let first = w.services.first().context("no services")?;
        let ready = probe::wait_ready(&mut guard, &log, port, first, started, READY_LIMIT)?;
        // What the server did to its threads' affinity since taskset.
        let repinned = proc::threads_off_cpu(guard.pid(), SERVER_CPU)?;
        proc::pin_threads(guard.pid(), SERVER_CPU)?;
        Ok(Server {
            kind,
            port,
            ready,
            repinned,
            log,
            guard,
        })
    }
}

impl Server {
    /// The process's CPU seconds so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        proc::cpu_seconds(self.guard.pid())
    }

    /// The process's resident memory now.
    pub fn rss_mib(&self) -> anyhow::Result<f64> {
        proc::rss_mib(self.guard.pid())
    }

    /// Threads allowed on a CPU other than [`SERVER_CPU`] now.
    pub fn threads_off_cpu(&self) -> anyhow::Result<Vec<String>> {
        proc::threads_off_cpu(self.guard.pid(), SERVER_CPU)
    }

    /// Whether the process is still running; the reason if not.
    pub fn alive(&mut self) -> Result<(), String> {
        match self.guard.exited() {
            None => Ok(()),
            Some(status) => Err(format!(
                "{} exited ({status}): {}",
                self.kind.name(),
                proc::tail(&self.log, 5)
            )),
        }
    }
}

fn pinned(program: &Path) -> Command {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", &SERVER_CPU.to_string()]).arg(program);
    cmd
}
