//! Removal, on drop, of host objects the CRI plugin creates for a test.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// Deletes a network interface of the host namespace (the test's bridge,
/// created by `berth-cni` under containerd) on drop.
#[derive(Debug)]
pub struct HostLink(pub String);

impl Drop for HostLink {
    fn drop(&mut self) {
        let out = Command::new("ip")
            .args(["link", "del", "dev", &self.0])
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                if !err.contains("Cannot find device") {
                    eprintln!("cleanup: ip link del {}: {}", self.0, err.trim());
                }
            }
            Err(e) => eprintln!("cleanup: ip link del {}: {e}", self.0),
        }
    }
}

/// A cgroup parent for pods (`/<name>`); on drop its (empty) directory is
/// removed from every cgroup hierarchy under /sys/fs/cgroup.
#[derive(Debug)]
pub struct CgroupParent(pub String);

impl CgroupParent {
    /// `/<name>`, as `LinuxPodSandboxConfig.cgroup_parent` takes it.
    pub fn path(&self) -> String {
        format!("/{}", self.0)
    }

    fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") else {
            return dirs;
        };
        for h in hierarchies.filter_map(Result::ok) {
            // cgroup v2 mounted at the top (unified mode) or v1/hybrid.
            let d = h.path().join(&self.0);
            if d.is_dir() {
                dirs.push(d);
            }
        }
        let top = PathBuf::from("/sys/fs/cgroup").join(&self.0);
        if top.is_dir() {
            dirs.push(top);
        }
        dirs
    }
}

impl Drop for CgroupParent {
    fn drop(&mut self) {
        for d in self.dirs() {
            if let Err(e) = fs::remove_dir(&d) {
                eprintln!("cleanup: rmdir {}: {e}", d.display());
            }
        }
    }
}
