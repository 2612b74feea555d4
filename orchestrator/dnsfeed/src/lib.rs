//! Cluster DNS fed from the Berth API.
//!
//! berth-dns never reads the store or speaks the API: it is fed
//! [`berth_dns::Change`]s. This crate is the adapter between the two:
//!
//! - [`translate`]: pure functions from API objects (and the old/new pair a
//!   watch reports) to feed changes: a Service's cluster IPs (A/AAAA),
//!   headless and ExternalName Services, named ports (SRV), an
//!   EndpointSlice's ready addresses and hostnames, a Pod's IPs.
//! - [`ApiFeed`]: list + watch of Services, EndpointSlices and Pods through
//!   berth-client's reflectors, sending those changes, and
//!   [`berth_dns::Change::Synced`] once all three kinds have listed. It
//!   reconnects by itself; while the server is away nothing changes, so
//!   the DNS server keeps answering from the last zone.

mod error;
mod feed;
pub mod translate;

pub use error::TranslateError;
pub use feed::{ApiFeed, CONNECT_RETRY_MAX};
