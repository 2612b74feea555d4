//! The request path: zone cache → cluster zone (with autopath) → upstream.
//!
//! Like hickory's chained handlers: the cluster zone answers what it owns
//! and hands the rest to the [`Upstream`]. A [`Worker`] (one per UDP worker
//! task, one per TCP connection) holds the current zone and its own cache
//! of encoded zone answers; [`Pending`] carries a query that must wait for
//! the upstream.

mod autopath;
mod cache;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use crate::answer::{SERVER_UDP_PAYLOAD, answer_local, precheck, reply};
use crate::metrics::{Metrics, Source};
use crate::upstream::Upstream;
use crate::zone::Zone;
use crate::zones::Zones;
use autopath::PodIndex;
use cache::{Cached, ResponseCache};

pub(crate) use cache::DEFAULT_CAPACITY as DEFAULT_CACHE_CAPACITY;

/// Classic DNS UDP payload limit without EDNS0.
pub(crate) const UDP_LIMIT_NO_EDNS: usize = 512;

/// How the answer travels: UDP answers are truncated to the client's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// What the server answers from and how; shared by every worker.
#[derive(Debug)]
pub struct Handler {
    pub(crate) zones: Zones,
    pub(crate) upstream: Option<Arc<dyn Upstream>>,
    pub(crate) autopath: bool,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) cache_capacity: usize,
}

impl Handler {
    /// A handler answering from `zones` alone: names outside the zone are
    /// REFUSED, no autopath.
    pub fn new(zones: impl Into<Zones>) -> Self {
        Self {
            zones: zones.into(),
            upstream: None,
            autopath: false,
            metrics: Arc::new(Metrics::default()),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }

    /// Hands names outside the zone to `upstream`.
    pub fn with_upstream(mut self, upstream: Arc<dyn Upstream>) -> Self {
        self.upstream = Some(upstream);
        self
    }

    /// Turns server-side search-path completion on or off.
    pub fn with_autopath(mut self, on: bool) -> Self {
        self.autopath = on;
        self
    }

    /// Counts into `metrics` (shared with the health endpoint).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Sets the per-worker cache of encoded zone answers (0 disables it).
    pub fn with_cache_capacity(mut self, entries: usize) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Whether a zone is synced (`/readyz`).
    pub fn is_ready(&self) -> bool {
        self.zones.is_synced()
    }
}

/// What became of one request.
#[derive(Debug)]
pub(crate) enum Step {
    /// Send these bytes (already in the worker's output buffer).
    Reply,
    /// Send nothing (a response, or too short to answer).
    Drop,
    /// Ask the upstream, then send what [`Pending::finish`] returns.
    Forward(Box<Pending>),
}

/// A query waiting for the upstream.
#[derive(Debug)]
pub(crate) struct Pending {
    query: Message,
    /// The largest answer the client takes (UDP), else `u16::MAX`.
    limit: usize,
    started: Instant,
    /// With autopath: the name the client asked, and the zone's answer for
    /// it (NXDOMAIN) should the upstream not know the bare name either.
    autopath: Option<(Name, Message)>,
}

/// Per-worker state.
#[derive(Debug)]
pub(crate) struct Worker {
    shared: Arc<Handler>,
    zones: Zones,
    zone: Option<Arc<Zone>>,
    pods: PodIndex,
    cache: ResponseCache,
    key: Vec<u8>,
    /// The response of the last [`Step::Reply`].
    pub(crate) out: Vec<u8>,
}

impl Worker {
    pub(crate) fn new(shared: Arc<Handler>, cached: bool) -> Self {
        let capacity = if cached { shared.cache_capacity } else { 0 };
        let mut worker = Self {
            zones: shared.zones.clone(),
            shared,
            zone: None,
            pods: PodIndex::default(),
            cache: ResponseCache::new(capacity),
            key: Vec::with_capacity(512),
            out: Vec::with_capacity(1500),
        };
        worker.refresh();
        worker
    }

    fn refresh(&mut self) {
        self.zone = self.zones.current();
        self.cache.clear();
        if self.shared.autopath {
            self.pods = self
                .zone
                .as_deref()
                .map(PodIndex::build)
                .unwrap_or_default();
        }
    }

    /// Answers `request` from `peer` if it can without waiting.
    pub(crate) fn handle(&mut self, request: &[u8], peer: IpAddr, transport: Transport) -> Step {
        let started = Instant::now();
        if self.zones.has_changed() {
            self.refresh();
        }
        if request.len() < 12 {
            return Step::Drop;
        }
        let id = [request[0], request[1]];
        let namespace = match self.shared.autopath {
            true => self.pods.namespace(peer),
            false => None,
        };
        self.key.clear();
        self.key.push(transport as u8);
        if let Some(ns) = namespace {
            self.key.extend_from_slice(ns.as_bytes());
            self.key.push(0);
        }
        self.key.extend_from_slice(&request[2..]);
        if let Some(hit) = self.cache.get(&self.key) {
            cache::with_id(&hit.bytes, id, &mut self.out);
            let took = started.elapsed();
            self.shared
                .metrics
                .record(hit.qtype, hit.rcode, Source::ZoneCache, took);
            return Step::Reply;
        }
        let query = match Message::from_vec(request) {
            Ok(q) if q.metadata.message_type == MessageType::Response => return Step::Drop,
            Ok(q) => q,
            Err(_) => {
                let id = u16::from_be_bytes(id);
                let resp = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
                return self.reply(&resp, UDP_LIMIT_NO_EDNS, started, Source::Local, false);
            }
        };
        let limit = match transport {
            Transport::Udp => udp_limit(query.edns.as_ref().map(|e| e.max_payload())),
            Transport::Tcp => usize::from(u16::MAX),
        };
        if let Some(rcode) = precheck(&query) {
            return self.reply(&reply(&query, rcode), limit, started, Source::Local, false);
        }
        let Some(zone) = self.zone.clone() else {
            let resp = reply(&query, ResponseCode::ServFail);
            return self.reply(&resp, limit, started, Source::Local, false);
        };
        let namespace = namespace.map(str::to_owned);
        let local = answer_local(&zone, &query);
        if let (Some(ns), Some(resp)) = (namespace, &local)
            && resp.metadata.response_code == ResponseCode::NXDomain
            && let Some(step) = self.autopath(&zone, &ns, &query, resp, limit, started)
        {
            return step;
        }
        match local {
            Some(resp) => self.reply(&resp, limit, started, Source::Zone, true),
            None if self.shared.upstream.is_some() => Step::Forward(Box::new(Pending {
                query,
                limit,
                started,
                autopath: None,
            })),
            None => {
                let resp = reply(&query, ResponseCode::Refused);
                self.reply(&resp, limit, started, Source::Local, false)
            }
        }
    }

    /// Tries the rest of the client's search path after an NXDOMAIN.
    fn autopath(
        &mut self,
        zone: &Zone,
        ns: &str,
        query: &Message,
        nxdomain: &Message,
        limit: usize,
        started: Instant,
    ) -> Option<Step> {
        let asked = query.queries[0].name().clone();
        let names = autopath::candidates(zone, ns, &asked)?;
        let (bare, in_zone) = names.split_last()?;
        for name in in_zone {
            let mut candidate = query.clone();
            candidate.queries[0].set_name(name.clone());
            let Some(mut resp) = answer_local(zone, &candidate) else {
                continue;
            };
            if resp.metadata.response_code == ResponseCode::NXDomain {
                continue;
            }
            autopath::cname_to(&mut resp, &asked, name, zone.ttl());
            return Some(self.reply(&resp, limit, started, Source::Zone, true));
        }
        self.shared.upstream.as_ref()?;
        let mut bare_query = query.clone();
        bare_query.queries[0].set_name(bare.clone());
        Some(Step::Forward(Box::new(Pending {
            query: bare_query,
            limit,
            started,
            autopath: Some((asked, nxdomain.clone())),
        })))
    }

    /// Encodes `resp` into `out` (truncated when longer than `limit`),
    /// caches it when it is a zone answer, and counts it.
    fn reply(
        &mut self,
        resp: &Message,
        limit: usize,
        started: Instant,
        source: Source,
        cache: bool,
    ) -> Step {
        let Some((bytes, qtype, rcode)) = encode(resp, limit) else {
            return Step::Drop;
        };
        if cache {
            self.cache.insert(
                &self.key,
                Cached {
                    bytes: bytes.as_slice().into(),
                    qtype,
                    rcode,
                },
            );
        }
        self.out = bytes;
        self.shared
            .metrics
            .record(qtype, rcode, source, started.elapsed());
        Step::Reply
    }
}

impl Pending {
    /// Asks the upstream and encodes its answer for the client.
    pub(crate) async fn finish(self, shared: &Handler) -> Option<Vec<u8>> {
        let upstream = shared.upstream.as_ref()?;
        let mut resp = upstream.forward(&self.query).await;
        if let Some((asked, nxdomain)) = self.autopath {
            let found = self.query.queries[0].name().clone();
            if resp.metadata.response_code == ResponseCode::NoError && !resp.answers.is_empty() {
                autopath::cname_to(&mut resp, &asked, &found, 0);
            } else {
                resp = nxdomain;
            }
        }
        let (bytes, qtype, rcode) = encode(&resp, self.limit)?;
        shared
            .metrics
            .record(qtype, rcode, Source::Forward, self.started.elapsed());
        Some(bytes)
    }
}

/// The size a UDP answer to `query` may have: 512 without EDNS0, else the
/// client's payload size capped at ours.
fn udp_limit(query_edns_payload: Option<u16>) -> usize {
    match query_edns_payload {
        Some(p) => usize::from(p.min(SERVER_UDP_PAYLOAD)).max(UDP_LIMIT_NO_EDNS),
        None => UDP_LIMIT_NO_EDNS,
    }
}

fn encode(resp: &Message, limit: usize) -> Option<(Vec<u8>, RecordType, ResponseCode)> {
    let qtype = resp
        .queries
        .first()
        .map_or(RecordType::Unknown(0), |q| q.query_type());
    let rcode = resp.metadata.response_code;
    let bytes = resp.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some((bytes, qtype, rcode));
    }
    Some((resp.truncate().to_vec().ok()?, qtype, rcode))
}

#[cfg(test)]
mod tests;

/// Runs one UDP request from 127.0.0.1 through the request path without
/// sockets, as the fuzz target and tests do. Queries for the upstream are
/// not sent (`None`).
pub fn handle_once(handler: &Arc<Handler>, request: &[u8]) -> Option<Vec<u8>> {
    let mut worker = Worker::new(handler.clone(), true);
    match worker.handle(request, IpAddr::from([127, 0, 0, 1]), Transport::Udp) {
        Step::Reply => Some(worker.out),
        Step::Drop | Step::Forward(_) => None,
    }
}
