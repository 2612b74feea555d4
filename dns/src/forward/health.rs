//! Upstream health: consecutive failures mark an upstream down, and a
//! background probe brings it back.
//!
//! A probe task exists only while an upstream is down: it asks `. IN NS`
//! every `health_interval` and, at the first answer of any kind, marks the
//! upstream healthy and ends. The tasks live in a [`JoinSet`] owned by the
//! forwarder, so dropping the forwarder aborts them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::task::JoinSet;

use super::transport;

/// One upstream and what the forwarder knows of its health.
#[derive(Debug)]
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    healthy: AtomicBool,
    consecutive_failures: AtomicU32,
    /// Exchanges attempted with this upstream (probes excluded), counted
    /// by the forwarder.
    pub(crate) queries: AtomicU64,
    /// Exchanges that failed (probes excluded), counted by the forwarder.
    pub(crate) failures: AtomicU64,
}

impl Upstream {
    /// A healthy upstream.
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            healthy: AtomicBool::new(true),
            consecutive_failures: AtomicU32::new(0),
            queries: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// Whether queries may go to this upstream.
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// An exchange got an answer: the failure streak ends. (Only a probe
    /// marks a down upstream healthy again, so that exactly one probe runs
    /// per down period.)
    pub(crate) fn record_success(&self) {
        self.consecutive_failures.store(0, Ordering::SeqCst);
    }

    /// An exchange failed; true when this failure marked the upstream down,
    /// in which case the caller starts its probe.
    pub(crate) fn record_failure(&self, threshold: u32) -> bool {
        let streak = self.consecutive_failures.fetch_add(1, Ordering::SeqCst) + 1;
        streak >= threshold && self.healthy.swap(false, Ordering::SeqCst)
    }

    fn mark_healthy(&self) {
        self.consecutive_failures.store(0, Ordering::SeqCst);
        self.healthy.store(true, Ordering::SeqCst);
    }
}

/// The probes of the upstreams that are down.
#[derive(Debug)]
pub(crate) struct Prober {
    /// `None` once shut down.
    tasks: Mutex<Option<JoinSet<()>>>,
    interval: Duration,
    timeout: Duration,
}

impl Prober {
    /// No probes yet; each will probe every `interval`, allowing `timeout`.
    pub(crate) fn new(interval: Duration, timeout: Duration) -> Self {
        Self {
            tasks: Mutex::new(Some(JoinSet::new())),
            interval,
            timeout,
        }
    }

    /// Starts probing `upstream`, just marked down, until it answers (on the
    /// current Tokio runtime); nothing after [`Prober::shutdown`].
    pub(crate) fn start(&self, upstream: Arc<Upstream>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(set) = tasks.as_mut() else {
            return;
        };
        while set.try_join_next().is_some() {}
        set.spawn(probe_until_alive(upstream, self.interval, self.timeout));
    }

    /// Probes running now.
    pub(crate) fn running(&self) -> usize {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.as_mut().map_or(0, |set| {
            while set.try_join_next().is_some() {}
            set.len()
        })
    }

    /// Stops every probe, waits for them to end, and starts no more.
    pub(crate) async fn shutdown(&self) {
        let tasks = self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut set) = tasks {
            set.shutdown().await;
        }
    }
}

/// The health probe: `. IN NS` with recursion desired (what CoreDNS asks).
pub(crate) fn probe_query() -> Message {
    let mut query = Message::new(0, MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(Name::root(), RecordType::NS));
    query
}

async fn probe_until_alive(upstream: Arc<Upstream>, interval: Duration, timeout: Duration) {
    let addr = upstream.addr;
    tracing::warn!(upstream = %addr, "upstream marked down, probing it");
    loop {
        tokio::time::sleep(interval).await;
        match transport::exchange(addr, probe_query(), timeout).await {
            Ok(_) => {
                upstream.mark_healthy();
                tracing::info!(upstream = %addr, "upstream answers again, marked healthy");
                return;
            }
            Err(e) => tracing::debug!(upstream = %addr, error = %e, "health probe failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_consecutive_failures_mark_down_once() {
        let up = Upstream::new("127.0.0.1:53".parse().unwrap());
        assert!(!up.record_failure(3));
        assert!(!up.record_failure(3));
        up.record_success();
        assert!(!up.record_failure(3));
        assert!(!up.record_failure(3));
        assert!(up.is_healthy());
        assert!(up.record_failure(3));
        assert!(!up.is_healthy());
        // Already down: no second probe.
        assert!(!up.record_failure(3));
        // A late success does not bring it back; the probe does.
        up.record_success();
        assert!(!up.is_healthy());
        up.mark_healthy();
        assert!(up.is_healthy());
    }

    #[tokio::test]
    async fn shutdown_stops_probes_and_refuses_new_ones() {
        let prober = Prober::new(Duration::from_secs(3600), Duration::from_secs(1));
        let up = Arc::new(Upstream::new("127.0.0.1:9".parse().unwrap()));
        prober.start(up.clone());
        assert_eq!(prober.running(), 1);
        prober.shutdown().await;
        assert_eq!(prober.running(), 0);
        prober.start(up);
        assert_eq!(prober.running(), 0);
    }
}
