//! Removing everything a containerd started here leaves behind.

use std::ffi::OsStr;
use std::fs;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tracing::{info, warn};

use super::process::shim_pids;
use super::{Containerd, ContainerdError, RUNC_TIMEOUT, command, unmount_all, which};

impl Containerd {
    /// Removes everything this containerd runs and mounted, for tests and
    /// node teardown (not for an agent restart: [`stop`](Containerd::stop)
    /// keeps the pods): force-deletes the runc containers in its runc root
    /// (every namespace), stops containerd, kills its shims (processes
    /// naming its socket) and unmounts everything under its root and
    /// state. The directories stay, for the caller to remove.
    ///
    /// Best effort: it does all it can and then reports what failed. An
    /// adopted containerd is refused.
    pub async fn purge(&mut self) -> Result<(), ContainerdError> {
        let Some(m) = self.managed.as_ref() else {
            return Err(ContainerdError::NotManaged {
                action: "purge",
                socket: self.socket.clone(),
            });
        };
        let runc_root = m.config.runc_root();
        let dirs = [m.config.root.clone(), m.config.state.clone()];
        let mut failures = Vec::new();

        // Containers first: runc kills their processes and removes their
        // cgroups while the shims still watch them.
        if let Some(runc) = which("runc") {
            let namespaces = fs::read_dir(&runc_root)
                .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
                .unwrap_or_else(|_| Vec::new());
            for ns in namespaces {
                let list = [
                    OsStr::new("--root"),
                    ns.as_os_str(),
                    "list".as_ref(),
                    "-q".as_ref(),
                ];
                let ids = match command::run(&runc, &list, RUNC_TIMEOUT).await {
                    Ok(out) => out,
                    Err(e) => {
                        failures.push(e.to_string());
                        continue;
                    }
                };
                for id in ids.split_whitespace() {
                    info!(id, "purge: force-deleting runc container");
                    let delete = [
                        OsStr::new("--root"),
                        ns.as_os_str(),
                        "delete".as_ref(),
                        "--force".as_ref(),
                        id.as_ref(),
                    ];
                    if let Err(e) = command::run(&runc, &delete, RUNC_TIMEOUT).await {
                        failures.push(e.to_string());
                    }
                }
            }
        } else if runc_root.exists() {
            failures.push(format!(
                "runc is not installed: containers under {} were not deleted",
                runc_root.display()
            ));
        }

        self.stop().await;

        for pid in shim_pids(&self.socket) {
            info!(pid, "purge: killing shim");
            if let Err(e) = kill(Pid::from_raw(pid), Signal::SIGKILL) {
                failures.push(format!("kill -9 {pid} (shim): {e}"));
            }
        }
        for dir in &dirs {
            for (p, e) in unmount_all(dir) {
                failures.push(format!("unmount {}: {e}", p.display()));
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            for f in &failures {
                warn!("purge: {f}");
            }
            Err(ContainerdError::PurgeIncomplete { failures })
        }
    }
}
