//! Where a local cluster keeps its files.

use std::path::{Path, PathBuf};

/// The paths of one local cluster. Everything `berth up` creates is under
/// these (plus the CNI files and the interfaces it names), so that
/// `berth down --purge` knows what to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Persistent state: the server's store and certificates, the agent's
    /// containerd root and CNI reservations (`/var/lib/berth`).
    pub state_dir: PathBuf,
    /// Runtime files: pid files, containerd's state and socket
    /// (`/run/berth`).
    pub run_dir: PathBuf,
    /// BPF pins of the data plane (`/sys/fs/bpf/berth`).
    pub bpffs: PathBuf,
    /// CNI configuration directory (`/etc/cni/net.d`).
    pub cni_conf_dir: PathBuf,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            state_dir: PathBuf::from("/var/lib/berth"),
            run_dir: PathBuf::from("/run/berth"),
            bpffs: PathBuf::from("/sys/fs/bpf/berth"),
            cni_conf_dir: PathBuf::from("/etc/cni/net.d"),
        }
    }
}

impl Layout {
    /// The server's data dir (store, CA, admin.conf, node-token): the state dir itself, so that credentials are at `/var/lib/berth/admin.conf`.
    pub fn server_dir(&self) -> PathBuf {
        self.state_dir.clone()
    }

    /// The agent's data dir (containerd root, CNI reservations, volumes).
    pub fn agent_dir(&self) -> PathBuf {
        self.state_dir.join("agent")
    }

    /// Process logs (`server.log`, `agent.log`).
    pub fn log_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }

    /// Pid files of the daemons.
    pub fn pid_dir(&self) -> PathBuf {
        self.run_dir.join("pids")
    }

    /// The admin credentials the server writes.
    pub fn admin_conf(&self) -> PathBuf {
        self.server_dir().join("admin.conf")
    }

    /// The node token the agent authenticates with.
    pub fn node_token(&self) -> PathBuf {
        self.server_dir().join("node-token")
    }

    /// A log file by daemon name.
    pub fn log(&self, name: &str) -> PathBuf {
        self.log_dir().join(format!("{name}.log"))
    }

    /// A pid file by daemon name.
    pub fn pid_file(&self, name: &str) -> PathBuf {
        self.pid_dir().join(format!("{name}.pid"))
    }

    /// Whether `path` lies inside this cluster's state or run dir.
    pub fn owns(&self, path: &Path) -> bool {
        path.starts_with(&self.state_dir) || path.starts_with(&self.run_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_roots() {
        let l = Layout {
            state_dir: "/s".into(),
            run_dir: "/r".into(),
            ..Layout::default()
        };
        assert_eq!(l.admin_conf(), Path::new("/s/admin.conf"));
        assert_eq!(l.pid_file("agent"), Path::new("/r/pids/agent.pid"));
        assert_eq!(l.log("server"), Path::new("/s/logs/server.log"));
        assert!(l.owns(Path::new("/r/containerd/c.sock")));
        assert!(!l.owns(Path::new("/etc/cni/net.d")));
    }
}
