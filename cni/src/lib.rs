//! `berth-cni`: Berth's CNI bridge plugin (CNI specification 1.1.0, also
//! accepting 0.4.0 and 1.0.0 configurations) with a built-in, crash-safe
//! host-local-style IPAM.
//!
//! The binary (the `berth` multi-call binary invoked as `berth-cni`) calls
//! [`run`] with [`Env::from_process`], stdin and stdout. The node agent calls
//! [`gc`] at start with the sandboxes that still exist.
//!
//! Logs go through `tracing` (the binary routes them to stderr or a file);
//! stdout carries only the result or the error object.

pub mod config;
pub mod containerd;
pub mod env;
pub mod error;
pub mod ipam;
pub mod mac;
pub mod net;
mod plugin;
pub mod result;
pub mod version;

pub use config::NetConf;
pub use env::Env;
pub use error::{CniError, Code};
pub use plugin::{Exit, PluginError, execute, gc, run, status};
