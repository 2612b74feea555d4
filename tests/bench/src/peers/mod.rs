//! The peers Berth is compared with: kube-proxy-style rules for the same
//! services, in the client namespace's nat OUTPUT hook (never the host's).
//!
//! * [`iptables`]: iptables-legacy, chains exactly as kube-proxy's iptables
//!   mode writes them (KUBE-SERVICES → KUBE-SVC-* → KUBE-SEP-*, `statistic`
//!   random probabilities, DNAT), loaded with `iptables-legacy-restore`.
//! * [`nftables`]: kube-proxy's nftables mode: one verdict-map lookup on
//!   `ip daddr . meta l4proto . th dport`, a chain per service picking an
//!   endpoint chain with `numgen random mod K`, DNAT; loaded with `nft -f`.

pub mod iptables;
mod khash;
pub mod nftables;

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use berth_test_support::Netns;

use crate::interrupt;

/// Pod network of the simulated cluster (the masquerade rules' "not from a
/// pod" test).
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";

/// One peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Iptables,
    Nftables,
}

impl Peer {
    /// `mode` of its JSON rows.
    pub fn mode(self) -> &'static str {
        match self {
            Peer::Iptables => "iptables",
            Peer::Nftables => "nftables",
        }
    }

    /// The VIP range of its services.
    pub fn vips(self) -> Ipv4Addr {
        match self {
            Peer::Iptables => crate::services::IPTABLES_VIPS,
            Peer::Nftables => crate::services::NFTABLES_VIPS,
        }
    }

    /// The binaries it runs.
    pub fn binaries(self) -> &'static [&'static str] {
        match self {
            Peer::Iptables => &[iptables::RESTORE, iptables::VERSION_BIN],
            Peer::Nftables => &[nftables::NFT],
        }
    }

    /// Its ruleset for services `0..n`, each with `backends`.
    pub fn ruleset(self, n: usize, backends: &[SocketAddr]) -> String {
        match self {
            Peer::Iptables => iptables::ruleset(n, backends),
            Peer::Nftables => nftables::ruleset(n, backends),
        }
    }

    /// Loads `ruleset` into `ns`; returns the wall time of the load command.
    pub fn load(self, ns: &Netns, ruleset: &str) -> anyhow::Result<Duration> {
        let file = TempFile::write(self.mode(), ruleset)?;
        let mut cmd = match self {
            Peer::Iptables => iptables::restore_command(ns, file.path()),
            Peer::Nftables => nftables::load_command(ns, file.path()),
        };
        run_timed(&mut cmd)
    }

    /// Removes its rules from `ns`.
    pub fn clear(self, ns: &Netns) -> anyhow::Result<()> {
        match self {
            Peer::Iptables => {
                let file = TempFile::write(self.mode(), iptables::EMPTY_NAT)?;
                run_timed(&mut iptables::restore_command(ns, file.path())).map(drop)
            }
            Peer::Nftables => run_timed(&mut nftables::delete_command(ns)).map(drop),
        }
    }

    /// Its version line (`iptables v1.8.9 (legacy)`, `nftables v1.0.6 ...`).
    pub fn version(self) -> String {
        let bin = match self {
            Peer::Iptables => iptables::VERSION_BIN,
            Peer::Nftables => nftables::NFT,
        };
        version_of(bin)
    }
}

/// Fails with a clear message unless every binary of `peers` is on PATH.
pub fn require_binaries(peers: &[Peer]) -> anyhow::Result<()> {
    for p in peers {
        for bin in p.binaries() {
            if find_binary(bin).is_none() {
                anyhow::bail!(
                    "`{bin}` (needed for the {} peer) is not installed or not on PATH; \
                     install the Debian package {} (apt-get install {}), or lower \
                     --peers-max below the smallest --services count to run Berth alone",
                    p.mode(),
                    p.mode(),
                    p.mode()
                );
            }
        }
    }
    Ok(())
}

/// `bin` on PATH or in the sbin directories (root's PATH may lack them).
pub fn find_binary(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// First line of `bin --version`, or why not.
pub fn version_of(bin: &str) -> String {
    let Some(path) = find_binary(bin) else {
        return format!("{bin}: not installed");
    };
    match Command::new(path).arg("--version").output() {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        Err(e) => format!("{bin}: {e}"),
    }
}

/// A command for `bin` (found on PATH or in sbin) inside `ns`.
fn command_in(ns: &Netns, bin: &str) -> Command {
    let mut cmd = ns.command(find_binary(bin).unwrap_or_else(|| PathBuf::from(bin)));
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to completion; its wall time from spawn to exit. On Ctrl-C
/// the command (which this process started) is killed.
fn run_timed(cmd: &mut Command) -> anyhow::Result<Duration> {
    let desc = format!("{cmd:?}");
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("running {desc}"))?;
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut e) = stderr {
            let _ = std::io::Read::read_to_string(&mut e, &mut text);
        }
        text
    });
    // Wait for the exit without reaping (WNOWAIT) on a helper thread, so
    // that the exit time is exact and the child can still be killed here
    // by its pid, which stays ours until it is reaped below.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id())?);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use nix::sys::wait::{Id, WaitPidFlag, waitid};
        let r = loop {
            match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.map(drop),
            }
        };
        let _ = tx.send((Instant::now(), r));
    });
    let exited = loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok((at, r)) => {
                r.with_context(|| format!("waiting for {desc}"))?;
                break at;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if interrupt::requested() => {
                let _ = child.kill();
                let _ = child.wait();
                interrupt::check()?;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(e) => anyhow::bail!("waiting for {desc}: {e}"),
        }
    };
    let status = child.wait()?;
    let elapsed = exited.duration_since(start);
    let stderr = reader.join().unwrap_or_default();
    if !status.success() {
        let mut lines: Vec<&str> = stderr.lines().take(10).collect();
        if lines.is_empty() {
            lines.push("(no output)");
        }
        anyhow::bail!("{desc} failed ({status}):\n  {}", lines.join("\n  "));
    }
    Ok(elapsed)
}

/// A ruleset file, removed on drop.
#[derive(Debug)]
struct TempFile(PathBuf);

impl TempFile {
    fn write(tag: &str, text: &str) -> anyhow::Result<TempFile> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "berth-bench-{}-{tag}-{}.rules",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(TempFile(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
