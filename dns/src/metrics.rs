//! Counters of the DNS server, rendered in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

/// Query types counted separately; everything else is `other`.
const QTYPES: [&str; 8] = ["A", "AAAA", "SRV", "PTR", "TXT", "CNAME", "SOA", "other"];
/// Response codes counted separately; everything else is `other`.
const RCODES: [&str; 6] = [
    "NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR", "other",
];
/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25, 1.0,
];

/// Where an answer came from, for the `source` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The encoded-response cache of the cluster zone.
    ZoneCache,
    /// The cluster zone, computed.
    Zone,
    /// The upstream forwarder (its own cache or an upstream).
    Forward,
    /// An error answered locally (FORMERR, BADVERS, REFUSED, SERVFAIL).
    Local,
}

const SOURCES: [&str; 4] = ["zone_cache", "zone", "forward", "local"];

impl Source {
    fn index(self) -> usize {
        self as usize
    }
}

/// The server's counters; cheap to update from every worker (relaxed atomics).
#[derive(Debug)]
pub struct Metrics {
    queries: [[AtomicU64; RCODES.len()]; QTYPES.len()],
    sources: [AtomicU64; SOURCES.len()],
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_ns: AtomicU64,
    zone_reloads: AtomicU64,
    zone_reload_errors: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            queries: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            sources: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_count: AtomicU64::new(0),
            latency_sum_ns: AtomicU64::new(0),
            zone_reloads: AtomicU64::new(0),
            zone_reload_errors: AtomicU64::new(0),
        }
    }
}

fn qtype_index(qtype: RecordType) -> usize {
    let name = match qtype {
        RecordType::A => "A",
        RecordType::AAAA => "AAAA",
        RecordType::SRV => "SRV",
        RecordType::PTR => "PTR",
        RecordType::TXT => "TXT",
        RecordType::CNAME => "CNAME",
        RecordType::SOA => "SOA",
        _ => "other",
    };
    QTYPES
        .iter()
        .position(|q| *q == name)
        .unwrap_or(QTYPES.len() - 1)
}

fn rcode_index(rcode: ResponseCode) -> usize {
    match rcode {
        ResponseCode::NoError => 0,
        ResponseCode::NXDomain => 1,
        ResponseCode::ServFail => 2,
        ResponseCode::Refused => 3,
        ResponseCode::FormErr => 4,
        _ => 5,
    }
}

impl Metrics {
    /// Counts one answered query.
    pub fn record(&self, qtype: RecordType, rcode: ResponseCode, source: Source, took: Duration) {
        self.queries[qtype_index(qtype)][rcode_index(rcode)].fetch_add(1, Ordering::Relaxed);
        self.sources[source.index()].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.latency_sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Counts a zone swap (a reload of the source that parsed).
    pub fn zone_reloaded(&self) {
        self.zone_reloads.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a reload that failed (the old zone stays).
    pub fn zone_reload_failed(&self) {
        self.zone_reload_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Zone swaps so far.
    pub fn zone_reloads(&self) -> u64 {
        self.zone_reloads.load(Ordering::Relaxed)
    }

    /// Reloads that failed so far.
    pub fn zone_reload_errors(&self) -> u64 {
        self.zone_reload_errors.load(Ordering::Relaxed)
    }

    /// Queries answered with `rcode` so far (all types and sources).
    pub fn answered(&self, rcode: ResponseCode) -> u64 {
        let r = rcode_index(rcode);
        self.queries
            .iter()
            .map(|row| row[r].load(Ordering::Relaxed))
            .sum()
    }

    /// Queries answered from `source` so far.
    pub fn from_source(&self, source: Source) -> u64 {
        self.sources[source.index()].load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition; `ready` is whether a zone is synced,
    /// `extra` is appended (e.g. the forwarder's counters).
    pub fn render(&self, ready: bool, extra: &str) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str(
            "# HELP berth_dns_queries_total Queries answered, by type and response code.\n",
        );
        out.push_str("# TYPE berth_dns_queries_total counter\n");
        for (t, row) in QTYPES.iter().zip(&self.queries) {
            for (r, n) in RCODES.iter().zip(row) {
                let _ = writeln!(
                    out,
                    "berth_dns_queries_total{{type=\"{t}\",rcode=\"{r}\"}} {}",
                    load(n)
                );
            }
        }
        out.push_str("# HELP berth_dns_answers_total Answers by where they came from (zone_cache = cache hits).\n");
        out.push_str("# TYPE berth_dns_answers_total counter\n");
        for (s, n) in SOURCES.iter().zip(&self.sources) {
            let _ = writeln!(out, "berth_dns_answers_total{{source=\"{s}\"}} {}", load(n));
        }
        out.push_str("# HELP berth_dns_request_duration_seconds Time from receiving a query to sending its answer.\n");
        out.push_str("# TYPE berth_dns_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (b, n) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += load(n);
            let _ = writeln!(
                out,
                "berth_dns_request_duration_seconds_bucket{{le=\"{b}\"}} {cumulative}"
            );
        }
        let count = load(&self.latency_count);
        let _ = writeln!(
            out,
            "berth_dns_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "berth_dns_request_duration_seconds_sum {}",
            load(&self.latency_sum_ns) as f64 / 1e9
        );
        let _ = writeln!(out, "berth_dns_request_duration_seconds_count {count}");
        out.push_str("# TYPE berth_dns_zone_reloads_total counter\n");
        let _ = writeln!(
            out,
            "berth_dns_zone_reloads_total {}",
            load(&self.zone_reloads)
        );
        out.push_str("# TYPE berth_dns_zone_reload_errors_total counter\n");
        let _ = writeln!(
            out,
            "berth_dns_zone_reload_errors_total {}",
            load(&self.zone_reload_errors)
        );
        out.push_str("# TYPE berth_dns_ready gauge\n");
        let _ = writeln!(out, "berth_dns_ready {}", u8::from(ready));
        out.push_str(extra);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.record(
            RecordType::A,
            ResponseCode::NoError,
            Source::Zone,
            Duration::from_micros(30),
        );
        m.record(
            RecordType::SRV,
            ResponseCode::NXDomain,
            Source::ZoneCache,
            Duration::from_millis(3),
        );
        let text = m.render(true, "");
        assert!(text.contains("berth_dns_queries_total{type=\"A\",rcode=\"NOERROR\"} 1"));
        assert!(text.contains("berth_dns_queries_total{type=\"SRV\",rcode=\"NXDOMAIN\"} 1"));
        assert!(text.contains("berth_dns_answers_total{source=\"zone_cache\"} 1"));
        assert!(text.contains("berth_dns_request_duration_seconds_bucket{le=\"0.00005\"} 1"));
        assert!(text.contains("berth_dns_request_duration_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("berth_dns_request_duration_seconds_count 2"));
        assert_eq!(m.answered(ResponseCode::NXDomain), 1);
    }
}
