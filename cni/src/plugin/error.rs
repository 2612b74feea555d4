//! Everything that can fail in an invocation, and its CNI error code.

use std::io;

use crate::config::ConfigError;
use crate::env::EnvError;
use crate::error::{CniError, Code};
use crate::ipam::{IpamError, StoreError};
use crate::net::NlError;
use crate::net::masq::MasqError;

/// A failed invocation.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The environment is incomplete or invalid.
    #[error(transparent)]
    Env {
        /// Cause.
        #[from]
        source: EnvError,
    },
    /// The configuration could not be read or used.
    #[error(transparent)]
    Config {
        /// Cause.
        #[from]
        source: ConfigError,
    },
    /// The configuration lacks something this command needs.
    #[error("{field}: missing (required for {command})")]
    MissingForCommand {
        /// JSON field.
        field: &'static str,
        /// The command.
        command: &'static str,
    },
    /// stdin could not be read.
    #[error("reading the network configuration from stdin: {source}")]
    Stdin {
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// Address management failed.
    #[error(transparent)]
    Ipam {
        /// Cause.
        #[from]
        source: IpamError,
    },
    /// A kernel networking operation failed.
    #[error(transparent)]
    Net {
        /// Cause.
        #[from]
        source: NlError,
    },
    /// An nftables (ipMasq) operation failed.
    #[error(transparent)]
    Masq {
        /// Cause.
        #[from]
        source: MasqError,
    },
    /// CHECK found a difference.
    #[error("CHECK: {what}")]
    Check {
        /// What differs.
        what: String,
    },
    /// STATUS: an address pool is exhausted.
    #[error(
        "ipam.ranges[{set}]: address pool exhausted: {ranges} has all {capacity} addresses reserved"
    )]
    PoolExhausted {
        /// Range set index.
        set: usize,
        /// The set.
        ranges: String,
        /// Its capacity.
        capacity: u128,
    },
    /// ADD failed, and undoing its partial work failed too.
    #[error("{source}; clean-up after the failure also failed: {cleanup}")]
    CleanupFailed {
        /// Why ADD failed.
        #[source]
        source: Box<PluginError>,
        /// Why the clean-up failed.
        cleanup: String,
    },
}

impl PluginError {
    /// The CNI error code.
    pub fn code(&self) -> Code {
        match self {
            PluginError::Env { .. } => Code::InvalidEnv,
            PluginError::Config { source } => match source {
                ConfigError::Syntax { .. } | ConfigError::WrongType { .. } => Code::Decode,
                ConfigError::Version { .. } => Code::IncompatibleVersion,
                ConfigError::Missing { .. } | ConfigError::Invalid { .. } => Code::InvalidConfig,
                ConfigError::Unsupported { .. } => Code::UnsupportedField,
            },
            PluginError::MissingForCommand { .. } => Code::InvalidConfig,
            PluginError::Stdin { .. } => Code::Io,
            PluginError::Ipam { source } => match source {
                IpamError::Store {
                    source: StoreError::LockTimeout { .. },
                } => Code::TryAgain,
                IpamError::Store {
                    source: StoreError::Io { .. },
                } => Code::Io,
                IpamError::Exhausted { .. } => Code::PoolExhausted,
                IpamError::AlreadyAllocated { .. } => Code::AlreadyAllocated,
            },
            PluginError::Net {
                source: NlError::Netns { .. },
            } => Code::UnknownContainer,
            PluginError::Net { .. } | PluginError::Masq { .. } => Code::Netlink,
            PluginError::Check { .. } => Code::CheckFailed,
            PluginError::PoolExhausted { .. } => Code::NotAvailable,
            PluginError::CleanupFailed { source, .. } => source.code(),
        }
    }

    /// The spec error object for this failure.
    pub fn to_cni(&self) -> CniError {
        let mut e = CniError::from_error(self.code(), self);
        // `msg` already carries the whole chain for transparent variants;
        // keep `details` for the deeper causes only.
        if e.details.is_empty() || e.msg.ends_with(&e.details) {
            e.details.clear();
        }
        e
    }
}
