//! A containerd started as a plain background process with its own root,
//! state and socket.

use std::ffi::OsStr;
use std::fs;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use berth_cni::containerd::ContainerdConfig;
use berth_node::containerd::{run_blocking, which};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The CRI plugin's containerd namespace.
pub const K8S_NAMESPACE: &str = "k8s.io";

/// Generous limit for containerd to open its socket: only catches hangs.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Limit for one `ctr` / `runc` command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// How long containerd gets to exit after SIGTERM before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running containerd; on drop it force-deletes its runc containers, stops
/// containerd and its shims (by pid), and unmounts everything it mounted
/// under its root and state. The directories themselves belong to the caller.
#[derive(Debug)]
pub struct Containerd {
    config: ContainerdConfig,
    config_path: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Containerd {
    /// Writes `config` to `<dir>/config.toml` and starts containerd on it,
    /// logging to `<dir>/containerd.log`; returns once the gRPC socket
    /// accepts connections.
    pub fn start(dir: &Path, config: ContainerdConfig) -> anyhow::Result<Containerd> {
        let containerd = which("containerd").context(
            "containerd is not installed (Debian package `containerd`; run `cargo xtask setup`)",
        )?;
        which("runc").context("runc is not installed (run `cargo xtask setup`)")?;
        which("containerd-shim-runc-v2")
            .context("containerd-shim-runc-v2 is missing (Debian package `containerd`)")?;
        let config_path = dir.join("config.toml");
        fs::write(&config_path, config.to_toml())?;
        let log = dir.join("containerd.log");
        let log_file = fs::File::create(&log)?;
        let child = Command::new(containerd)
            .arg("--config")
            .arg(&config_path)
            .args(["--log-level", "info"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("spawning containerd")?;
        let mut me = Containerd {
            config,
            config_path,
            log,
            child: Some(child),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if UnixStream::connect(&me.config.address).is_ok() {
                return Ok(me);
            }
            if let Some(child) = me.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                me.child = None;
                bail!(
                    "containerd exited at start ({status}); its log:\n{}",
                    me.log_tail(60)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "containerd did not open {} within {START_TIMEOUT:?} (START_TIMEOUT); its log:\n{}",
                    me.config.address.display(),
                    me.log_tail(60)
                );
            }
            sleep(Duration::from_millis(20));
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &ContainerdConfig {
        &self.config
    }

    /// The generated `config.toml`.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The gRPC (and CRI) socket.
    pub fn socket(&self) -> &Path {
        &self.config.address
    }

    /// containerd's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last `lines` lines of containerd's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut text = String::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(256 * 1024)));
            let _ = f.read_to_string(&mut text);
        }
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Runs `ctr --address <socket> -n k8s.io <args>`.
    pub fn ctr(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all: Vec<&OsStr> = vec![
            OsStr::new("--address"),
            self.config.address.as_os_str(),
            OsStr::new("-n"),
            OsStr::new(K8S_NAMESPACE),
        ];
        all.extend(args.iter().map(OsStr::new));
        Ok(run_blocking(Path::new("ctr"), &all, COMMAND_TIMEOUT)?)
    }

    fn runc(&self, args: &[&str]) -> anyhow::Result<String> {
        let root = self.config.runc_root().join(K8S_NAMESPACE);
        let mut all: Vec<&OsStr> = vec![OsStr::new("--root"), root.as_os_str()];
        all.extend(args.iter().map(OsStr::new));
        Ok(run_blocking(Path::new("runc"), &all, COMMAND_TIMEOUT)?)
    }

    /// Shims of this containerd: processes whose command line names its
    /// socket.
    fn shim_pids(&self) -> Vec<i32> {
        let needle = self.config.address.as_os_str().as_encoded_bytes().to_vec();
        let Ok(dir) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    let argv0 = c.split(|b| *b == 0).next().unwrap_or_default();
                    argv0.windows(15).any(|w| w == b"containerd-shim")
                        && c.windows(needle.len()).any(|w| w == needle.as_slice())
                })
            })
            .collect()
    }

    fn stop(&mut self) {
        // Containers first (runc kills their processes and removes their
        // cgroups); normally there are none left.
        if let Ok(list) = self.runc(&["list", "-q"]) {
            for id in list.split_whitespace() {
                eprintln!("cleanup: force-deleting leftover runc container {id}");
                if let Err(e) = self.runc(&["delete", "--force", id]) {
                    eprintln!("cleanup: runc delete {id}: {e:#}");
                }
            }
        }
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            let deadline = Instant::now() + STOP_TIMEOUT;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                eprintln!("cleanup: containerd ignored SIGTERM for {STOP_TIMEOUT:?}; SIGKILL");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        for pid in self.shim_pids() {
            eprintln!("cleanup: killing leftover shim {pid}");
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        for dir in [&self.config.root, &self.config.state] {
            for (p, e) in berth_mountinfo::unmount_all(dir) {
                eprintln!("cleanup: could not unmount {}: {e}", p.display());
            }
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.stop();
    }
}
