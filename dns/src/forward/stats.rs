//! Counters of the forwarder, and the snapshot handed to metrics.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the forwarder's counters (monotonic since it started) and
/// gauges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardStats {
    /// Queries answered from the cache.
    pub cache_hits: u64,
    /// Queries not found in the cache.
    pub cache_misses: u64,
    /// Cache misses answered with the outcome of an identical query that
    /// was outstanding (no upstream exchange of their own).
    pub coalesced: u64,
    /// Answers in the cache now.
    pub cache_entries: usize,
    /// Exchanges attempted with upstreams (health probes excluded).
    pub upstream_queries: u64,
    /// Exchanges that failed: timeout, I/O error, or mismatched TCP answer.
    pub upstream_failures: u64,
    /// Queries answered SERVFAIL at once because no upstream was healthy.
    pub servfail_all_down: u64,
    /// Queries answered SERVFAIL after every attempt failed or the query's
    /// time ran out.
    pub servfail_exhausted: u64,
    /// Queries answered REFUSED at once because `max_in_flight` queries
    /// were outstanding.
    pub refused_overload: u64,
    /// Queries outstanding at the upstreams now.
    pub in_flight: usize,
    /// Health probes running now (one per upstream that is down).
    pub probes_running: usize,
    /// Each upstream, in configuration order.
    pub upstreams: Vec<UpstreamStats>,
}

/// The state of one upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamStats {
    /// Its address.
    pub addr: SocketAddr,
    /// Whether queries go to it (false while it is marked down).
    pub healthy: bool,
    /// Exchanges attempted with it (health probes excluded).
    pub queries: u64,
    /// Exchanges with it that failed.
    pub failures: u64,
}

/// The live counters behind [`ForwardStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) upstream_queries: AtomicU64,
    pub(crate) upstream_failures: AtomicU64,
    pub(crate) servfail_all_down: AtomicU64,
    pub(crate) servfail_exhausted: AtomicU64,
    pub(crate) refused_overload: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Reads a counter.
pub(crate) fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
