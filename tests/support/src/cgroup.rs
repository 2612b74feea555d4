//! Throw-away cgroup v2 directories (for attaching cgroup BPF programs and
//! confining test processes).

use std::fs::{self, File};
use std::io::ErrorKind;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::name;

/// Every cgroup created by this crate is named `berth-test-<unique>`.
pub const CGROUP_PREFIX: &str = name::LONG_PREFIX;

/// How long removal retries `rmdir` while the kernel still counts exiting
/// processes in the cgroup (only to catch hangs).
pub const REMOVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The cgroup2 mount: `/sys/fs/cgroup/unified` on hybrid hosts,
/// `/sys/fs/cgroup` on unified hosts, else the shortest one.
pub fn v2_root() -> Result<PathBuf> {
    berth_mountinfo::cgroup2_root().map_err(|_| Error::NotFound {
        what: format!("cgroup2 mount in {}", berth_mountinfo::MOUNTINFO),
    })
}

/// A cgroup directory directly under the cgroup2 root. Dropping it moves any
/// processes still inside back to the root and removes the directory (and
/// any sub-cgroups created in it).
#[derive(Debug)]
pub struct Cgroup {
    path: PathBuf,
    root: PathBuf,
    dir: File,
}

impl Cgroup {
    /// Creates `<v2 root>/berth-test-<unique>`.
    pub fn new() -> Result<Cgroup> {
        let root = v2_root()?;
        let path = root.join(name::unique_long("c"));
        fs::create_dir(&path).map_err(|e| Error::io(format!("mkdir {}", path.display()), e))?;
        let dir = match File::open(&path) {
            Ok(dir) => dir,
            Err(e) => {
                let _ = fs::remove_dir(&path);
                return Err(Error::io(format!("open {}", path.display()), e));
            }
        };
        tracing::debug!(cgroup = %path.display(), "created cgroup");
        Ok(Cgroup { path, root, dir })
    }

    /// The cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The opened directory, for attaching cgroup BPF programs.
    pub fn file(&self) -> &File {
        &self.dir
    }

    /// The cgroup id, as returned by `bpf_get_current_cgroup_id()` (the
    /// directory's inode number).
    pub fn id(&self) -> Result<u64> {
        self.dir
            .metadata()
            .map(|m| m.ino())
            .map_err(|e| Error::io(format!("stat {}", self.path.display()), e))
    }

    /// Moves process `pid` (all its threads) into this cgroup.
    pub fn add_pid(&self, pid: u32) -> Result<()> {
        let procs = self.path.join("cgroup.procs");
        fs::write(&procs, pid.to_string())
            .map_err(|e| Error::io(format!("write {pid} to {}", procs.display()), e))
    }

    /// The pids currently in this cgroup.
    pub fn pids(&self) -> Result<Vec<u32>> {
        read_pids(&self.path)
    }
}

impl AsFd for Cgroup {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        match remove_tree(&self.path, &self.root) {
            Ok(()) => tracing::debug!(cgroup = %self.path.display(), "removed cgroup"),
            Err(e) => {
                tracing::warn!(cgroup = %self.path.display(), error = %e, "could not remove cgroup")
            }
        }
    }
}

/// Removes cgroup `path` and its descendants, first moving their processes
/// to `root`. Retries `rmdir` on `EBUSY` for up to [`REMOVE_TIMEOUT`].
pub(crate) fn remove_tree(path: &Path, root: &Path) -> Result<()> {
    let children: Vec<PathBuf> = match fs::read_dir(path) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect(),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("list {}", path.display()), e)),
    };
    for child in children {
        remove_tree(&child, root)?;
    }
    let deadline = Instant::now() + REMOVE_TIMEOUT;
    loop {
        evacuate(path, root);
        match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(Error::io(format!("rmdir {}", path.display()), e)),
        }
    }
}

/// Moves every process of cgroup `path` into `root`; processes that exit
/// meanwhile are ignored.
fn evacuate(path: &Path, root: &Path) {
    let Ok(pids) = read_pids(path) else { return };
    let target = root.join("cgroup.procs");
    for pid in pids {
        if let Err(e) = fs::write(&target, pid.to_string())
            && e.raw_os_error() != Some(libc::ESRCH)
        {
            tracing::debug!(pid, cgroup = %path.display(), error = %e, "could not move process out");
        }
    }
}

fn read_pids(path: &Path) -> Result<Vec<u32>> {
    let procs = path.join("cgroup.procs");
    let text = fs::read_to_string(&procs)
        .map_err(|e| Error::io(format!("read {}", procs.display()), e))?;
    Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// The cgroup-v1 hierarchies of a hybrid host: every directory of
/// `/sys/fs/cgroup` that is not the cgroup-v2 mount.
pub(crate) fn v1_roots() -> Vec<PathBuf> {
    let v2 = v2_root().ok();
    fs::read_dir("/sys/fs/cgroup")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .filter(|p| Some(p) != v2.as_ref() && p.join("tasks").exists())
                .collect()
        })
        .unwrap_or_default()
}

/// Removes `<v1 hierarchy>/<name>` everywhere, deepest first: runc on a
/// hybrid host makes a container's cgroups in each v1 hierarchy too, under
/// the same path as in cgroup v2. Directories still holding tasks stay.
pub fn remove_v1(name: &std::ffi::OsStr) {
    for root in v1_roots() {
        remove_empty_tree(&root.join(name));
    }
}

fn remove_empty_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {}
