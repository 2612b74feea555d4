//! The Berth API protocol and its client.
//!
//! Objects travel as JSON inside gRPC messages ([`proto`]); their types and
//! validation are berth-api's. [`ClientConfig`] is the credentials file
//! (`admin.conf`, `~/.berth/config`): the server URL, the cluster CA and a
//! bearer token. [`connect`] opens a TLS channel that trusts only that CA
//! and sends the token with every call.

pub mod cache;
mod config;
mod connect;
mod file;
pub mod runtime;
mod token;
pub mod typed;

pub use config::{ClientConfig, ConfigError, DEFAULT_CONFIG_PATHS, find_config};
pub use connect::{ApiClient, ConnectError, TokenInterceptor, connect};
pub use file::write_private;
pub use token::Token;
pub use typed::{Client, ClientError, DeleteOptions};

/// Generated protocol types, client and server (package `berth.v1`).
#[allow(missing_docs, clippy::all, missing_debug_implementations)]
pub mod proto {
    tonic::include_proto!("berth.v1");
}
