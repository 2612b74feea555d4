//! Starting containerd (or adopting the one an earlier agent left running
//! on the same configuration).

use std::fs;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_cni::containerd::{ContainerdConfig, Snapshotter};
use nix::sys::signal::Signal;
use tracing::{info, warn};

use super::process::{Process, find_containerd_on};
use super::{
    Containerd, ContainerdError, MAX_SOCKET_PATH, Managed, Restarts, START_TIMEOUT, log_tail,
    overlay_works, which,
};

/// How often the socket is tried while containerd starts.
const SOCKET_POLL: Duration = Duration::from_millis(20);

/// Log lines quoted in start errors.
const ERROR_LOG_LINES: usize = 60;

impl Containerd {
    /// Starts the `containerd` found in `PATH` on `config`, writing
    /// `<dir>/config.toml` and logging to `<dir>/containerd.log`
    /// (appended to); see [`start_binary`](Containerd::start_binary).
    pub async fn start(
        dir: &Path,
        config: ContainerdConfig,
    ) -> Result<Containerd, ContainerdError> {
        let binary = which("containerd").ok_or(ContainerdError::NotInstalled {
            program: "containerd",
            hint: "Debian package `containerd`; run `cargo xtask setup`",
        })?;
        Containerd::start_binary(&binary, dir, config).await
    }

    /// Starts `binary` as containerd on `config` and returns once its gRPC
    /// socket accepts connections (within [`START_TIMEOUT`]).
    ///
    /// When `config` asks for overlayfs but an overlay mount does not work
    /// on the file system of `config.root`, the `native` snapshotter is
    /// used instead. containerd runs in its own process group (a terminal's
    /// Ctrl-C to the agent does not reach it).
    ///
    /// When a containerd started with this very `config.toml` (by an agent
    /// that was killed) still runs, it is adopted as it is, neither
    /// restarted nor reconfigured, once its socket answers. Anything else
    /// serving the socket is an error.
    pub async fn start_binary(
        binary: &Path,
        dir: &Path,
        mut config: ContainerdConfig,
    ) -> Result<Containerd, ContainerdError> {
        if !binary.is_file() {
            return Err(ContainerdError::BinaryMissing {
                path: binary.to_path_buf(),
            });
        }
        which("runc").ok_or(ContainerdError::NotInstalled {
            program: "runc",
            hint: "Debian package `runc`; run `cargo xtask setup`",
        })?;
        which("containerd-shim-runc-v2").ok_or(ContainerdError::NotInstalled {
            program: "containerd-shim-runc-v2",
            hint: "Debian package `containerd`; run `cargo xtask setup`",
        })?;
        let socket = config.address.clone();
        let len = socket.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(ContainerdError::SocketPathTooLong {
                socket,
                len,
                max: MAX_SOCKET_PATH,
            });
        }
        let parent = socket.parent().unwrap_or(Path::new("/")).to_path_buf();
        for d in [dir, &config.root, &config.state, &parent] {
            create_dir(d)?;
        }
        let config_path = dir.join("config.toml");
        let log = dir.join("containerd.log");

        if config.snapshotter == Snapshotter::Overlayfs && !overlay_works(&config.root) {
            info!(
                root = %config.root.display(),
                "overlay mounts do not work here: containerd uses the native snapshotter"
            );
            config.snapshotter = Snapshotter::Native;
        }
        let snapshotter = config.snapshotter.as_str().to_string();

        // An agent that was killed leaves its containerd running (or still
        // starting): take it over as it is.
        if let Some(pid) = find_containerd_on(&config_path) {
            info!(
                pid,
                socket = %socket.display(),
                "adopting the containerd an earlier agent started on this configuration"
            );
            let mut me = Containerd {
                socket: socket.clone(),
                snapshotter: snapshotter.clone(),
                managed: Some(Managed {
                    binary: binary.to_path_buf(),
                    config: config.clone(),
                    config_path: config_path.clone(),
                    log: log.clone(),
                    process: Some(Process::Adopted {
                        pid,
                        config: config_path.clone(),
                    }),
                }),
                restarts: Restarts::default(),
            };
            match me.wait_for_socket().await {
                Ok(()) => return Ok(me),
                Err(ContainerdError::ExitedAtStart { status, .. }) => {
                    info!("the containerd found ({status}) exited before its socket answered");
                }
                Err(e) => return Err(e),
            }
        }
        if UnixStream::connect(&socket).is_ok() {
            return Err(ContainerdError::AlreadyServing {
                socket,
                config: config_path,
            });
        }

        fs::write(&config_path, config.to_toml()).map_err(|source| ContainerdError::Io {
            action: "writing",
            path: config_path.clone(),
            source,
        })?;
        let mut me = Containerd {
            socket,
            snapshotter,
            managed: Some(Managed {
                binary: binary.to_path_buf(),
                config,
                config_path,
                log,
                process: None,
            }),
            restarts: Restarts::default(),
        };
        me.spawn().await?;
        Ok(me)
    }

    /// Spawns containerd on the managed configuration and waits for its
    /// socket. The child is recorded before the wait, so that a caller
    /// giving up (dropping the future) still stops it.
    pub(crate) async fn spawn(&mut self) -> Result<(), ContainerdError> {
        let socket = self.socket.clone();
        let Some(m) = self.managed.as_mut() else {
            return Err(ContainerdError::NotManaged {
                action: "start",
                socket,
            });
        };
        let log_file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .map_err(|source| ContainerdError::Io {
                action: "opening",
                path: m.log.clone(),
                source,
            })?;
        let log_err = log_file.try_clone().map_err(|source| ContainerdError::Io {
            action: "opening",
            path: m.log.clone(),
            source,
        })?;
        let child = Command::new(&m.binary)
            .arg("--config")
            .arg(&m.config_path)
            .args(["--log-level", "info"])
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .process_group(0)
            .spawn()
            .map_err(|source| ContainerdError::Spawn {
                binary: m.binary.clone(),
                source,
            })?;
        m.process = Some(Process::Child(child));
        self.wait_for_socket().await
    }

    /// Waits until the socket accepts connections and the CRI answers
    /// (see [`super::cri::cri_serving`]); kills containerd when it has not
    /// within [`START_TIMEOUT`].
    async fn wait_for_socket(&mut self) -> Result<(), ContainerdError> {
        let socket = self.socket.clone();
        let Some(m) = self.managed.as_mut() else {
            return Ok(());
        };
        let log = m.log.clone();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if UnixStream::connect(&socket).is_ok() && super::cri::cri_serving(&socket).await {
                return Ok(());
            }
            let exited = m.process.as_mut().and_then(Process::exited);
            if let Some(status) = exited {
                m.process = None;
                return Err(ContainerdError::ExitedAtStart {
                    status,
                    tail: log_tail(&log, ERROR_LOG_LINES),
                    log,
                });
            }
            if Instant::now() > deadline {
                warn!(
                    socket = %socket.display(),
                    "containerd did not open its socket within {START_TIMEOUT:?}: SIGKILL"
                );
                match m.process.take() {
                    Some(Process::Child(mut child)) => {
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                    Some(mut adopted) => adopted.signal(Signal::SIGKILL),
                    None => {}
                }
                return Err(ContainerdError::StartTimeout {
                    socket,
                    timeout: START_TIMEOUT,
                    tail: log_tail(&log, ERROR_LOG_LINES),
                    log,
                });
            }
            tokio::time::sleep(SOCKET_POLL).await;
        }
    }
}

fn create_dir(d: &Path) -> Result<(), ContainerdError> {
    fs::create_dir_all(d).map_err(|source| ContainerdError::Io {
        action: "creating",
        path: PathBuf::from(d),
        source,
    })
}
