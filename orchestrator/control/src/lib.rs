//! The Berth control plane.
//!
//! - [`pki`]: the cluster CA, generated on first start, and the server's
//!   certificate for its names (`--tls-san`).
//! - [`auth`]: the admin and node tokens, and what each may do.

pub mod alloc;
pub mod api;
pub mod auth;
pub mod bootstrap;
pub mod cluster_dns;
pub mod controllers;
pub mod pki;
/// The controller runtime (work queue, reconciler loop), shared with the
/// node agent: it lives in berth-client.
pub use berth_client::runtime;
pub mod serve;
pub mod testing;
