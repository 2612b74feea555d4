//! A node's crash, as a power cut would do it: every process of the node
//! killed with SIGKILL at once, its files left as they are.
//!
//! A namespace node's processes are those in its network namespace (its
//! agent, containerd, the shims, its DNS process) and those in its cgroup
//! subtree (its pods, each in a network namespace of its own).

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// Only catches a hang: how long the killed processes may take to go.
pub const CRASH_TIMEOUT: Duration = Duration::from_secs(30);

/// Pids (not this process) whose network namespace has inode `ino`.
pub fn pids_in_netns(ino: u64) -> Vec<i32> {
    let me = std::process::id() as i32;
    all_pids()
        .into_iter()
        .filter(|pid| *pid != me)
        .filter(|pid| fs::metadata(format!("/proc/{pid}/ns/net")).is_ok_and(|m| m.ino() == ino))
        .collect()
}

/// Pids in cgroup `dir` and every cgroup beneath it.
pub fn pids_in_cgroup_tree(dir: &Path) -> Vec<i32> {
    let mut out: Vec<i32> = fs::read_to_string(dir.join("cgroup.procs"))
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.filter_map(std::result::Result::ok) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(pids_in_cgroup_tree(&e.path()));
            }
        }
    }
    out
}

/// Kills (SIGKILL) every process `find` returns, again and again until it
/// returns none (a process may start another before it dies); returns how
/// many were killed.
pub fn kill_until_gone(what: &str, mut find: impl FnMut() -> Vec<i32>) -> Result<usize> {
    let deadline = Instant::now() + CRASH_TIMEOUT;
    let mut killed = std::collections::BTreeSet::new();
    loop {
        let pids = find();
        if pids.is_empty() {
            return Ok(killed.len());
        }
        for pid in pids {
            if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                killed.insert(pid);
            }
        }
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: format!("the processes of {what} to die"),
                after: CRASH_TIMEOUT,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(std::result::Result::ok)
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}
