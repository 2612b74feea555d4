//! The forwarder as the server's [`Upstream`], with its counters in the
//! Prometheus text format.

use std::fmt::Write as _;

use hickory_proto::op::Message;

use super::{ForwardStats, Forwarder};
use crate::upstream::{ForwardFuture, Upstream};

impl Upstream for Forwarder {
    fn forward<'a>(&'a self, query: &'a Message) -> ForwardFuture<'a> {
        Box::pin(Forwarder::forward(self, query))
    }

    fn metrics(&self) -> String {
        render(&self.stats())
    }
}

/// `berth_dns_forward_*` lines for `/metrics`.
pub(crate) fn render(s: &ForwardStats) -> String {
    let mut out = String::with_capacity(2048);
    let counters = [
        (
            "cache_hits_total",
            "Forwarded names answered from the cache.",
            s.cache_hits,
        ),
        (
            "cache_misses_total",
            "Forwarded names not in the cache.",
            s.cache_misses,
        ),
        (
            "coalesced_total",
            "Misses answered by an identical outstanding query.",
            s.coalesced,
        ),
        (
            "upstream_queries_total",
            "Exchanges with upstreams.",
            s.upstream_queries,
        ),
        (
            "upstream_failures_total",
            "Exchanges that failed.",
            s.upstream_failures,
        ),
        (
            "servfail_all_down_total",
            "SERVFAIL at once: no healthy upstream.",
            s.servfail_all_down,
        ),
        (
            "servfail_exhausted_total",
            "SERVFAIL after every attempt failed.",
            s.servfail_exhausted,
        ),
        (
            "refused_overload_total",
            "REFUSED: too many queries outstanding.",
            s.refused_overload,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP berth_dns_forward_{name} {help}");
        let _ = writeln!(out, "# TYPE berth_dns_forward_{name} counter");
        let _ = writeln!(out, "berth_dns_forward_{name} {value}");
    }
    let gauges = [
        ("cache_entries", s.cache_entries),
        ("in_flight", s.in_flight),
        ("probes_running", s.probes_running),
    ];
    for (name, value) in gauges {
        let _ = writeln!(out, "# TYPE berth_dns_forward_{name} gauge");
        let _ = writeln!(out, "berth_dns_forward_{name} {value}");
    }
    out.push_str("# TYPE berth_dns_forward_upstream_healthy gauge\n");
    for u in &s.upstreams {
        let _ = writeln!(
            out,
            "berth_dns_forward_upstream_healthy{{upstream=\"{}\"}} {}",
            u.addr,
            u8::from(u.healthy)
        );
    }
    out.push_str("# TYPE berth_dns_forward_upstream_queries_total counter\n");
    for u in &s.upstreams {
        let _ = writeln!(
            out,
            "berth_dns_forward_upstream_queries_total{{upstream=\"{}\"}} {}",
            u.addr, u.queries
        );
    }
    out.push_str("# TYPE berth_dns_forward_upstream_failures_total counter\n");
    for u in &s.upstreams {
        let _ = writeln!(
            out,
            "berth_dns_forward_upstream_failures_total{{upstream=\"{}\"}} {}",
            u.addr, u.failures
        );
    }
    out
}
