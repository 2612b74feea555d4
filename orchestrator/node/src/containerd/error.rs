//! [`ContainerdError`].

use std::path::PathBuf;
use std::time::Duration;

/// Why containerd could not be started, adopted, reached or purged.
#[derive(Debug, thiserror::Error)]
pub enum ContainerdError {
    /// A program containerd needs is not in `PATH` (nor /usr/sbin,
    /// /usr/bin).
    #[error("{program} is not installed ({hint})")]
    NotInstalled {
        /// The program.
        program: &'static str,
        /// Where it comes from.
        hint: &'static str,
    },
    /// The containerd binary given does not exist or is not a file.
    #[error("the containerd binary {path} does not exist or is not a regular file")]
    BinaryMissing {
        /// The path given.
        path: PathBuf,
    },
    /// The socket path does not fit a unix socket address.
    #[error(
        "the containerd socket path {socket} is {len} bytes long; a unix socket path has at \
         most {max}"
    )]
    SocketPathTooLong {
        /// The socket.
        socket: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A file system operation on containerd's directories failed.
    #[error("{action} {path}")]
    Io {
        /// What was done (`creating`, `writing`, ...).
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// containerd could not be started.
    #[error("could not start {binary}")]
    Spawn {
        /// The containerd binary.
        binary: PathBuf,
        /// What exec said.
        #[source]
        source: std::io::Error,
    },
    /// containerd exited before its socket opened.
    #[error("containerd exited at start ({status}); the end of its log {log}:\n{tail}")]
    ExitedAtStart {
        /// How it exited.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of its log.
        tail: String,
    },
    /// containerd did not open its socket in time (and was killed).
    #[error(
        "containerd did not open {socket} within {timeout:?} (START_TIMEOUT) and was killed; \
         the end of its log {log}:\n{tail}"
    )]
    StartTimeout {
        /// The socket.
        socket: PathBuf,
        /// The limit.
        timeout: Duration,
        /// Its log file.
        log: PathBuf,
        /// The last lines of its log.
        tail: String,
    },
    /// Something that is not a containerd started on this configuration
    /// already serves the socket.
    #[error(
        "{socket} is already served by a process that is not a containerd started with \
         --config {config}; stop it, or adopt it (--container-runtime-endpoint)"
    )]
    AlreadyServing {
        /// The socket.
        socket: PathBuf,
        /// Our configuration file.
        config: PathBuf,
    },
    /// The CRI socket could not be connected to.
    #[error("connecting to the CRI at {socket}")]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// A CRI call failed.
    #[error("CRI {call} at {socket}")]
    Cri {
        /// The socket.
        socket: PathBuf,
        /// The call.
        call: &'static str,
        /// The status it returned.
        #[source]
        source: tonic::Status,
    },
    /// A CRI call did not answer in time.
    #[error("CRI {call} at {socket} did not answer within {timeout:?}")]
    CriTimeout {
        /// The socket.
        socket: PathBuf,
        /// The call.
        call: &'static str,
        /// The limit.
        timeout: Duration,
    },
    /// The CRI status does not say which snapshotter it uses.
    #[error("the CRI at {socket} does not report its snapshotter: {detail}")]
    NoSnapshotter {
        /// The socket.
        socket: PathBuf,
        /// What was missing.
        detail: String,
    },
    /// An operation that only a containerd started here may do, asked of
    /// an adopted one.
    #[error("will not {action} the containerd at {socket}: it was adopted, not started by Berth")]
    NotManaged {
        /// The operation.
        action: &'static str,
        /// Its socket.
        socket: PathBuf,
    },
    /// [`purge`](super::Containerd::purge) could not remove everything.
    #[error("purge left things behind: {}", failures.join("; "))]
    PurgeIncomplete {
        /// What failed, one message each.
        failures: Vec<String>,
    },
}
