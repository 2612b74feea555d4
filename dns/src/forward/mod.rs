//! Forwarding of names outside the cluster zone to upstream resolvers.
//!
//! ```text
//! query ──► cache ──hit──► answer (TTLs aged)
//!             │miss
//!             ├─ no upstream healthy ──► SERVFAIL at once
//!             ├─ same question outstanding ─► wait for its outcome
//!             ├─ max_in_flight reached ─► REFUSED at once
//!             ▼
//!   healthy upstreams in order: UDP (fresh port, random id) ─TC─► TCP
//!             │ answer: cached per RFC 2308, returned
//!             │ failure × fail_threshold: upstream down, probed until it answers
//!             ▼
//!   nothing within query_timeout ──► SERVFAIL
//! ```

mod cache;
mod clock;
mod coalesce;
mod config;
mod forwarder;
mod health;
mod metrics;
mod resolv_conf;
mod stats;
mod transport;
mod ttl;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ForwardConfig, ForwardError};
pub use forwarder::Forwarder;
pub use resolv_conf::upstreams_from_resolv_conf;
pub use stats::{ForwardStats, UpstreamStats};
