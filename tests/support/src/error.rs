//! The crate's single error type.

use std::time::Duration;

/// Everything that can go wrong while building or tearing down test fixtures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An external command (usually `ip`) ran but reported failure.
    #[error("`{cmd}` failed: {stderr}")]
    Command {
        /// The command line, for humans.
        cmd: String,
        /// What the command wrote to stderr (trimmed), or its exit status.
        stderr: String,
    },
    /// A system call or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being attempted.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An argument could not be used (bad CIDR, subnet too small, ...).
    #[error("invalid {what}: {value:?} ({reason})")]
    Invalid {
        /// Which argument.
        what: &'static str,
        /// The offending value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Something did not happen within its deadline.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        after: Duration,
    },
    /// A peer answered something unexpected.
    #[error("unexpected reply from {peer}: {detail}")]
    Protocol {
        /// Who answered.
        peer: String,
        /// What was wrong with the answer.
        detail: String,
    },
    /// A required system facility is missing (no cgroup2 mount, ...).
    #[error("{what} not found")]
    NotFound {
        /// What is missing.
        what: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an `io::Error` with a description of what was attempted.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// Wraps a `nix` errno with a description of what was attempted.
    pub(crate) fn errno(what: impl Into<String>, errno: nix::errno::Errno) -> Self {
        Error::io(what, std::io::Error::from(errno))
    }

    /// The `io::ErrorKind` of an [`Error::Io`], if this is one.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            Error::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}
