//! The Berth data plane running inside this process: programs attached to a
//! throw-away cgroup that this process joins, so that sockets it opens (from
//! any thread, in any network namespace) are load balanced. Everything is
//! undone on drop, also when the benchmark fails half-way.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use berth_dataplane::{
    Lb, Limits,
    kernel::{self, BpfMaps, KernelConfig},
};
use berth_test_support::{Cgroup, name};
use tracing::{debug, warn};

/// Loaded programs and pinned maps under a unique bpffs directory; dropping
/// it drops the maps and runs [`kernel::down`].
#[derive(Debug)]
pub struct Pinned {
    lb: Option<Lb<BpfMaps>>,
    bpffs: PathBuf,
}

impl Pinned {
    pub fn lb(&mut self) -> &mut Lb<BpfMaps> {
        self.lb.as_mut().expect("present until drop")
    }

    /// Kernel memory of the pinned maps.
    pub fn map_bytes(&self) -> anyhow::Result<u64> {
        kernel::map_memory(&self.bpffs).context("reading map memory")
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        drop(self.lb.take());
        match kernel::down(&self.bpffs) {
            Ok(removed) => {
                debug!(pins = removed.len(), bpffs = %self.bpffs.display(), "data plane down")
            }
            Err(e) => {
                warn!(bpffs = %self.bpffs.display(), error = %e, "removing the data plane failed")
            }
        }
        if self.bpffs.exists() {
            let _ = fs::remove_dir_all(&self.bpffs);
        }
    }
}

/// Membership of this process in a cgroup; dropping it moves the process
/// back to the cgroup-v2 group it came from.
#[derive(Debug)]
pub struct Joined {
    back_to: PathBuf,
}

impl Drop for Joined {
    fn drop(&mut self) {
        let procs = self.back_to.join("cgroup.procs");
        if let Err(e) = fs::write(&procs, std::process::id().to_string()) {
            warn!(cgroup = %self.back_to.display(), error = %e, "could not move back to the original cgroup");
        }
    }
}

/// This process's cgroup-v2 directory (`0::/path` in /proc/self/cgroup).
fn own_cgroup(root: &Path) -> anyhow::Result<PathBuf> {
    let text = fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    let rel = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .context("no cgroup-v2 entry in /proc/self/cgroup")?;
    Ok(root.join(rel.trim_start_matches('/')))
}

/// The in-process data plane. Fields drop in order: leave the cgroup, take
/// the data plane down, remove the cgroup.
#[derive(Debug)]
pub struct InProc {
    joined: Option<Joined>,
    pub pinned: Pinned,
    cgroup: Cgroup,
}

impl InProc {
    /// Creates a cgroup, loads and attaches the programs with `limits`, and
    /// moves this process into the cgroup.
    pub fn start(limits: Limits) -> anyhow::Result<InProc> {
        let cgroup = Cgroup::new().context("creating a cgroup")?;
        let bpffs = name::unique_bpffs_dir();
        let cfg = KernelConfig {
            bpffs: bpffs.clone(),
            cgroup: cgroup.path().to_path_buf(),
            limits,
        };
        let started = kernel::start(&cfg);
        // Whatever start left pinned goes with this guard.
        let mut pinned = Pinned { lb: None, bpffs };
        pinned.lb = Some(started.context("starting the eBPF data plane")?);
        let root = cgroup
            .path()
            .parent()
            .context("cgroup without a parent")?
            .to_path_buf();
        let back_to = own_cgroup(&root)?;
        let mut me = InProc {
            joined: None,
            pinned,
            cgroup,
        };
        me.cgroup
            .add_pid(std::process::id())
            .context("moving this process into the data plane's cgroup")?;
        me.joined = Some(Joined { back_to });
        Ok(me)
    }

    pub fn lb(&mut self) -> &mut Lb<BpfMaps> {
        self.pinned.lb()
    }

    pub fn cgroup(&self) -> &Cgroup {
        &self.cgroup
    }
}

impl Drop for InProc {
    fn drop(&mut self) {
        drop(self.joined.take());
    }
}
