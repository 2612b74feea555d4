//! The processes the benchmark starts: a guard that stops them on every
//! path out, and what `/proc` says about their CPU time and memory.
//!
//! Each child runs in a process group of its own (so that a Ctrl-C on the
//! terminal reaches only this process, which then stops them in order) and
//! gets SIGKILL from the kernel if this process dies first (parent-death
//! signal), so not even a SIGKILL of the benchmark leaves a server behind.

use std::{
    io::Read as _,
    net::{Ipv4Addr, TcpListener, UdpSocket},
    os::unix::process::CommandExt as _,
    path::Path,
    process::{Child, Command, ExitStatus},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

use crate::interrupt;

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on every
/// Linux architecture this runs on).
const USER_HZ: f64 = 100.0;
/// How long a child gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// How often a wait looks at the child and at Ctrl-C.
const POLL: Duration = Duration::from_millis(20);

/// A child process, stopped (SIGTERM, then SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Guard {
    pub name: &'static str,
    child: Option<Child>,
}

impl Guard {
    /// Spawns `cmd` in its own process group with a parent-death SIGKILL.
    pub fn spawn(name: &'static str, mut cmd: Command) -> anyhow::Result<Guard> {
        let parent = std::process::id();
        cmd.process_group(0);
        let hook = move || -> std::io::Result<()> {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The parent died before the line above: nobody would stop us.
            if nix::unistd::getppid().as_raw() as u32 != parent {
                return Err(std::io::Error::other("parent gone"));
            }
            Ok(())
        };
        // SAFETY: the hook runs between fork and exec and only makes two
        // system calls (prctl, getppid); building its error allocates only
        // on the path where the exec is abandoned anyway.
        unsafe {
            cmd.pre_exec(hook);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        Ok(Guard {
            name,
            child: Some(child),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The exit status if the child has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits for the child to exit, at most `limit`; stops it and fails on
    /// Ctrl-C or when the limit passes.
    pub fn wait(&mut self, limit: Duration) -> anyhow::Result<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                self.child = None;
                return Ok(status);
            }
            interrupt::check()?;
            anyhow::ensure!(
                start.elapsed() < limit,
                "{} did not finish within {limit:?}",
                self.name
            );
            std::thread::sleep(POLL);
        }
    }

    /// SIGTERM, up to [`STOP_GRACE`] to exit, then SIGKILL; reaps it.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < STOP_GRACE {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(POLL);
        }
        eprintln!("[bench] {} ignored SIGTERM; killing it", self.name);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// CPU time (user + system, all threads) of a process so far, in seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_cpu_ticks(&text)
        .map(|t| t as f64 / USER_HZ)
        .with_context(|| format!("unexpected /proc/{pid}/stat: {text:?}"))
}

/// `utime + stime` of a `/proc/<pid>/stat` line (fields 14 and 15; the
/// command name in parentheses may hold spaces).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident memory (`VmRSS`) of a process, in MiB.
pub fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_rss_kib(&text)
        .map(|kib| kib as f64 / 1024.0)
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))
}

fn parse_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Threads of `pid` that may run on a CPU other than `cpu`, as
/// `<tid> (<name>): CPUs <list>`.
pub fn threads_off_cpu(pid: u32, cpu: usize) -> anyhow::Result<Vec<String>> {
    let mut off = Vec::new();
    for (tid, name) in threads(pid)? {
        let status = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status"))
            .with_context(|| format!("reading the status of thread {tid} of {pid}"))?;
        let allowed = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(str::trim)
            .unwrap_or("?");
        if allowed != cpu.to_string() {
            off.push(format!("{tid} ({name}): CPUs {allowed}"));
        }
    }
    Ok(off)
}

/// Pins every thread of `pid` to `cpu` (`taskset -a -p -c <cpu>`): a
/// server may set its threads' affinity itself after `taskset` started it
/// (knotd pins UDP worker `i` to CPU `i % online CPUs`).
pub fn pin_threads(pid: u32, cpu: usize) -> anyhow::Result<()> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)?;
    for (tid, name) in threads(pid)? {
        nix::sched::sched_setaffinity(Pid::from_raw(tid as i32), &set)
            .with_context(|| format!("pinning thread {tid} ({name}) of {pid} to CPU {cpu}"))?;
    }
    Ok(())
}

/// Thread ids and names of a process.
fn threads(pid: u32) -> anyhow::Result<Vec<(u32, String)>> {
    let dir = format!("/proc/{pid}/task");
    let mut v = Vec::new();
    for e in std::fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
        let Some(tid) = e?.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else {
            continue;
        };
        let name = std::fs::read_to_string(format!("{dir}/{tid}/comm")).unwrap_or_default();
        v.push((tid, name.trim().to_string()));
    }
    v.sort();
    Ok(v)
}

/// A loopback port free for both UDP and TCP right now.
pub fn free_port() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a TCP port")?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("found no loopback port free for both UDP and TCP")
}

/// The last `n` lines of a log file, joined with ` | `.
pub fn tail(path: &Path, n: usize) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "(no output)".to_string();
    }
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_and_status() {
        let stat = "4242 (knotd (main)) S 1 4242 4242 0 -1 4194560 1033 0 0 0 \
                    250 45 0 0 20 0 4 0 123 1234 567 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(295));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        let status = "Name:\tknotd\nVmPeak:\t  100 kB\nVmRSS:\t   24904 kB\nThreads:\t2\n";
        assert_eq!(parse_rss_kib(status), Some(24904));
        assert_eq!(parse_rss_kib("Name: x\n"), None);
    }

    #[test]
    fn guard_stops_its_child() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut g = Guard::spawn("sleep", cmd).unwrap();
        let pid = g.pid();
        assert!(g.exited().is_none());
        assert!(cpu_seconds(pid).is_ok());
        assert!(threads_off_cpu(pid, 0).is_ok());
        drop(g);
        // Reaped: no /proc entry, not even a zombie.
        assert!(!Path::new(&format!("/proc/{pid}")).exists());

        let mut cmd = Command::new("true");
        cmd.arg("x");
        let mut g = Guard::spawn("true", cmd).unwrap();
        assert!(g.wait(Duration::from_secs(10)).unwrap().success());
    }

    #[test]
    fn own_process_figures_and_port() {
        let me = std::process::id();
        assert!(cpu_seconds(me).unwrap() >= 0.0);
        assert!(rss_mib(me).unwrap() > 0.0);
        assert_ne!(free_port().unwrap(), 0);
    }
}
