//! The containerd process: a child of this process, or one an earlier
//! agent started on the same configuration and left running.

use std::fs;
use std::path::Path;
use std::process::Child;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A running (or exited, not yet noticed) containerd.
#[derive(Debug)]
pub(crate) enum Process {
    /// Started by this process.
    Child(Child),
    /// Started by an earlier agent, recognised by its `--config` argument.
    Adopted {
        /// Its pid.
        pid: i32,
        /// The `--config` it was started with.
        config: std::path::PathBuf,
    },
}

impl Process {
    /// Its pid.
    pub(crate) fn id(&self) -> u32 {
        match self {
            Process::Child(c) => c.id(),
            Process::Adopted { pid, .. } => u32::try_from(*pid).unwrap_or_default(),
        }
    }

    /// `Some(how it ended)` once it has exited (a child is reaped).
    pub(crate) fn exited(&mut self) -> Option<String> {
        match self {
            Process::Child(c) => match c.try_wait() {
                Ok(Some(status)) => Some(status.to_string()),
                Ok(None) => None,
                Err(e) => Some(format!("waiting for it failed: {e}")),
            },
            Process::Adopted { pid, config } => {
                (!is_containerd_on(*pid, config)).then(|| "exited (not our child)".to_string())
            }
        }
    }

    /// Sends `signal` unless it has exited (a recycled pid of an adopted
    /// process is never signalled).
    pub(crate) fn signal(&mut self, signal: Signal) {
        if self.exited().is_some() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.id()) {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }
}

/// The argv of process `pid` (empty once it is gone or a zombie).
fn cmdline(pid: i32) -> Vec<Vec<u8>> {
    let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return Vec::new();
    };
    raw.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Whether `pid` is a containerd running with `--config <config>`.
pub(crate) fn is_containerd_on(pid: i32, config: &Path) -> bool {
    let argv = cmdline(pid);
    let Some(argv0) = argv.first() else {
        return false;
    };
    let name = argv0.rsplit(|b| *b == b'/').next().unwrap_or_default();
    if name != b"containerd" {
        return false;
    }
    let config = config.as_os_str().as_encoded_bytes();
    argv.windows(2)
        .any(|w| w[0] == b"--config" && w[1] == config)
        || argv.iter().any(|a| {
            a.strip_prefix(b"--config=".as_slice())
                .is_some_and(|v| v == config)
        })
}

/// A containerd running with `--config <config>`, if any.
pub(crate) fn find_containerd_on(config: &Path) -> Option<i32> {
    let dir = fs::read_dir("/proc").ok()?;
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| is_containerd_on(*pid, config))
}

/// The shims of the containerd at `socket`: processes named
/// `containerd-shim*` whose command line names the socket.
pub(crate) fn shim_pids(socket: &Path) -> Vec<i32> {
    let needle = socket.as_os_str().as_encoded_bytes();
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let argv = cmdline(*pid);
            let Some(argv0) = argv.first() else {
                return false;
            };
            let name = argv0.rsplit(|b| *b == b'/').next().unwrap_or_default();
            name.starts_with(b"containerd-shim") && argv.iter().any(|a| a.as_slice() == needle)
        })
        .collect()
}
