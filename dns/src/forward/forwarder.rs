//! The forwarder: cache, concurrency limit, upstream failover and health.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::RecordType;

use super::cache::{Cache, CacheKey};
use super::clock::{Clock, SystemClock};
use super::coalesce::{Joined, Outstanding};
use super::config::{ForwardConfig, ForwardError};
use super::health::{Prober, Upstream};
use super::stats::{Counters, ForwardStats, UpstreamStats, bump, read};
use super::transport;
use super::ttl::{TtlPolicy, clamp_ttls};
use crate::answer::SERVER_UDP_PAYLOAD;

/// Smallest EDNS UDP payload size (RFC 6891).
const MIN_UDP_PAYLOAD: u16 = 512;

/// Answers queries for names outside the cluster zone from upstream
/// resolvers, through a cache.
///
/// Cheap to clone (the clones share cache, counters and health state). The
/// health probes of upstreams that are down run as Tokio tasks owned by the
/// forwarder: they end when the last clone is dropped, or at
/// [`Forwarder::shutdown`].
#[derive(Debug, Clone)]
pub struct Forwarder {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    upstreams: Vec<Arc<Upstream>>,
    timeout: Duration,
    query_timeout: Duration,
    max_in_flight: usize,
    fail_threshold: u32,
    ttl: TtlPolicy,
    cache: Mutex<Cache>,
    in_flight: AtomicUsize,
    outstanding: Outstanding,
    counters: Counters,
    prober: Prober,
    clock: Arc<dyn Clock>,
}

impl Forwarder {
    /// A forwarder with every upstream healthy and an empty cache; fails
    /// when the configuration does not validate.
    pub fn new(config: ForwardConfig) -> Result<Self, ForwardError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// The same, with cached answers aged by `clock` (a
    /// [`ManualClock`](super::ManualClock) in tests).
    pub fn with_clock(config: ForwardConfig, clock: Arc<dyn Clock>) -> Result<Self, ForwardError> {
        config.validate()?;
        let inner = Inner {
            upstreams: config
                .upstreams
                .iter()
                .map(|addr| Arc::new(Upstream::new(*addr)))
                .collect(),
            timeout: config.timeout,
            query_timeout: config.query_timeout,
            max_in_flight: config.max_in_flight,
            fail_threshold: config.fail_threshold,
            ttl: TtlPolicy {
                max_ttl: config.max_ttl,
                max_negative_ttl: config.max_negative_ttl,
                servfail_ttl: config.servfail_ttl,
            },
            cache: Mutex::new(Cache::new(config.cache_capacity)),
            in_flight: AtomicUsize::new(0),
            outstanding: Outstanding::default(),
            counters: Counters::default(),
            prober: Prober::new(config.health_interval, config.timeout),
            clock,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The answer for the client: its id, its question, and its EDNS (our
    /// payload size) when it sent one. Must run on a Tokio runtime.
    ///
    /// In order: the cache; SERVFAIL at once when no upstream is healthy;
    /// the outcome of an identical query already outstanding, if any;
    /// REFUSED at once when `max_in_flight` queries are outstanding; then
    /// the healthy upstreams in turn until one answers (any rcode), within
    /// `query_timeout`; SERVFAIL when none does. Queries that are not one
    /// standard question get FORMERR/NOTIMP, zone transfers REFUSED.
    pub async fn forward(&self, query: &Message) -> Message {
        let question = match check_query(query) {
            Ok(question) => question,
            Err(rcode) => return error_reply(query, rcode),
        };
        let dnssec_ok = query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
        let key = CacheKey::new(question, dnssec_ok, query.metadata.checking_disabled);
        let inner = &*self.inner;
        let cached = inner.cache().get(&key, inner.clock.now());
        if let Some(mut answer) = cached {
            bump(&inner.counters.cache_hits);
            answer.metadata.authoritative = false;
            return reply(query, answer);
        }
        bump(&inner.counters.cache_misses);
        if !inner.upstreams.iter().any(|u| u.is_healthy()) {
            bump(&inner.counters.servfail_all_down);
            return error_reply(query, ResponseCode::ServFail);
        }
        let client_edns = query.edns.as_ref();
        let outcome = loop {
            let admit = || Slot::acquire(&inner.in_flight, inner.max_in_flight);
            match inner.outstanding.join(&key, admit) {
                Joined::Refused => {
                    bump(&inner.counters.refused_overload);
                    return error_reply(query, ResponseCode::Refused);
                }
                Joined::Lead(leader, _slot) => {
                    let outcome = inner.resolve(&key, client_edns).await;
                    leader.finish(&outcome);
                    break outcome;
                }
                Joined::Follow(follower) => {
                    // `None`: the leader was cancelled; try again.
                    if let Some(outcome) = follower.outcome().await {
                        bump(&inner.counters.coalesced);
                        break outcome;
                    }
                }
            }
        };
        match outcome {
            Some(answer) => reply(query, answer),
            None => {
                bump(&inner.counters.servfail_exhausted);
                error_reply(query, ResponseCode::ServFail)
            }
        }
    }

    /// A snapshot of the counters and of each upstream's health.
    pub fn stats(&self) -> ForwardStats {
        let inner = &*self.inner;
        let c = &inner.counters;
        ForwardStats {
            cache_hits: read(&c.cache_hits),
            cache_misses: read(&c.cache_misses),
            coalesced: read(&c.coalesced),
            cache_entries: inner.cache().len(),
            upstream_queries: read(&c.upstream_queries),
            upstream_failures: read(&c.upstream_failures),
            servfail_all_down: read(&c.servfail_all_down),
            servfail_exhausted: read(&c.servfail_exhausted),
            refused_overload: read(&c.refused_overload),
            in_flight: inner.in_flight.load(Ordering::SeqCst),
            probes_running: inner.prober.running(),
            upstreams: inner
                .upstreams
                .iter()
                .map(|u| UpstreamStats {
                    addr: u.addr,
                    healthy: u.is_healthy(),
                    queries: read(&u.queries),
                    failures: read(&u.failures),
                })
                .collect(),
        }
    }

    /// Stops the health probes (for every clone) and waits for them to end.
    /// Forwarding still works afterwards, but an upstream marked down stays
    /// down.
    pub async fn shutdown(&self) {
        self.inner.prober.shutdown().await;
    }
}

impl Inner {
    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The first answer from the healthy upstreams, in order, cached; `None`
    /// when every attempt failed or the query's time ran out.
    async fn resolve(&self, key: &CacheKey, client_edns: Option<&Edns>) -> Option<Message> {
        let deadline = Instant::now() + self.query_timeout;
        let query = upstream_query(key, client_edns);
        for upstream in &self.upstreams {
            if !upstream.is_healthy() {
                continue;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            let window = self.timeout.min(remaining);
            bump(&self.counters.upstream_queries);
            bump(&upstream.queries);
            match transport::exchange(upstream.addr, query.clone(), window).await {
                Ok(answer) => {
                    upstream.record_success();
                    return Some(self.store(key, answer));
                }
                Err(e) => {
                    bump(&self.counters.upstream_failures);
                    bump(&upstream.failures);
                    tracing::debug!(upstream = %upstream.addr, error = %e, "upstream attempt failed");
                    // A timeout cut short by the query's own deadline says
                    // nothing about the upstream.
                    let cut_short = e.is_timeout() && window < self.timeout;
                    if !cut_short && upstream.record_failure(self.fail_threshold) {
                        self.prober.start(upstream.clone());
                    }
                }
            }
        }
        None
    }

    /// Caches `answer` when it may be (with its TTLs clamped to the cache
    /// lifetime) and returns it.
    fn store(&self, key: &CacheKey, mut answer: Message) -> Message {
        if let Some(ttl) = self.ttl.cache_ttl(&answer) {
            clamp_ttls(&mut answer, ttl);
            self.cache()
                .insert(key.clone(), answer.clone(), ttl, self.clock.now());
        }
        answer
    }
}

/// One of `max_in_flight` places, given back on drop (also when the
/// client's future is dropped mid-query).
#[derive(Debug)]
struct Slot<'a>(&'a AtomicUsize);

impl<'a> Slot<'a> {
    fn acquire(in_flight: &'a AtomicUsize, max: usize) -> Option<Self> {
        if in_flight.fetch_add(1, Ordering::SeqCst) >= max {
            in_flight.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Self(in_flight))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The single question of a standard query, or the rcode to answer.
fn check_query(query: &Message) -> Result<&Query, ResponseCode> {
    if query.metadata.message_type != MessageType::Query {
        return Err(ResponseCode::FormErr);
    }
    if query.metadata.op_code != OpCode::Query {
        return Err(ResponseCode::NotImp);
    }
    let [question] = query.queries.as_slice() else {
        return Err(ResponseCode::FormErr);
    };
    if matches!(question.query_type(), RecordType::AXFR | RecordType::IXFR) {
        return Err(ResponseCode::Refused);
    }
    Ok(question)
}

/// The query sent upstream: the question case-folded, recursion desired,
/// CD as asked, EDNS0 always (the client's DO bit; its payload size capped
/// at ours; no options, which are hop-by-hop).
fn upstream_query(key: &CacheKey, client_edns: Option<&Edns>) -> Message {
    let mut query = Message::new(0, MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = true;
    query.metadata.checking_disabled = key.checking_disabled;
    let mut question = Query::query(key.name.clone(), key.qtype);
    question.set_query_class(key.qclass);
    query.add_query(question);
    let payload = client_edns.map_or(SERVER_UDP_PAYLOAD, |e| {
        e.max_payload().clamp(MIN_UDP_PAYLOAD, SERVER_UDP_PAYLOAD)
    });
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    edns.set_dnssec_ok(key.dnssec_ok);
    query.set_edns(edns);
    query
}

/// An upstream (or cached) answer dressed for the client: its id, flags,
/// question and owner-name spelling, and EDNS only if it sent EDNS.
fn reply(query: &Message, mut answer: Message) -> Message {
    answer.metadata.id = query.metadata.id;
    answer.metadata.message_type = MessageType::Response;
    answer.metadata.recursion_desired = query.metadata.recursion_desired;
    answer.metadata.checking_disabled = query.metadata.checking_disabled;
    if let Some(question) = query.queries.first() {
        for record in &mut answer.answers {
            if record.name == *question.name() {
                record.name = question.name().clone();
            }
        }
    }
    answer.queries.clone_from(&query.queries);
    answer.edns = query.edns.as_ref().map(|_| {
        let mut edns = answer.edns.take().unwrap_or_default();
        edns.set_max_payload(SERVER_UDP_PAYLOAD);
        edns
    });
    answer
}

/// An answer made up by the forwarder.
fn error_reply(query: &Message, rcode: ResponseCode) -> Message {
    let mut resp = Message::error_msg(query.metadata.id, query.metadata.op_code, rcode);
    resp.metadata.recursion_desired = query.metadata.recursion_desired;
    resp.metadata.checking_disabled = query.metadata.checking_disabled;
    resp.add_queries(query.queries.iter().cloned());
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(SERVER_UDP_PAYLOAD);
        resp.set_edns(edns);
    }
    resp
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::{DNSClass, Name};

    use super::*;

    fn forwarder() -> Forwarder {
        Forwarder::new(ForwardConfig::with_upstreams(vec![
            "127.0.0.1:53".parse().unwrap(),
        ]))
        .unwrap()
    }

    fn query(name: &str, qtype: RecordType) -> Message {
        let mut q = Message::query();
        q.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        q
    }

    #[test]
    fn invalid_config_is_an_error() {
        let err = Forwarder::new(ForwardConfig::default()).unwrap_err();
        assert!(matches!(
            err,
            ForwardError::InvalidConfig {
                field: "upstreams",
                ..
            }
        ));
    }

    #[tokio::test]
    async fn malformed_queries_are_answered_without_upstream() {
        let fwd = forwarder();
        let mut two = query("a.example.", RecordType::A);
        two.add_query(Query::query(
            Name::from_ascii("b.example.").unwrap(),
            RecordType::A,
        ));
        let mut notify = query("a.example.", RecordType::A);
        notify.metadata.op_code = OpCode::Notify;
        let mut response = query("a.example.", RecordType::A);
        response.metadata.message_type = MessageType::Response;
        let cases = [
            (two, ResponseCode::FormErr),
            (Message::query(), ResponseCode::FormErr),
            (notify, ResponseCode::NotImp),
            (response, ResponseCode::FormErr),
            (query("example.", RecordType::AXFR), ResponseCode::Refused),
        ];
        for (q, rcode) in cases {
            let resp = fwd.forward(&q).await;
            assert_eq!(resp.metadata.response_code, rcode, "{q:?}");
            assert_eq!(resp.metadata.id, q.metadata.id);
        }
        assert_eq!(fwd.stats().upstream_queries, 0);
    }

    #[test]
    fn upstream_query_caps_payload_and_keeps_bits() {
        let key = CacheKey::new(
            &Query::query(Name::from_ascii("WWW.Example.").unwrap(), RecordType::MX),
            true,
            true,
        );
        let mut client = Edns::new();
        client.set_max_payload(4096);
        let q = upstream_query(&key, Some(&client));
        assert_eq!(q.queries[0].name().to_string(), "www.example.");
        assert_eq!(q.queries[0].query_class(), DNSClass::IN);
        assert!(q.metadata.recursion_desired && q.metadata.checking_disabled);
        let edns = q.edns.as_ref().unwrap();
        assert_eq!(edns.max_payload(), 1232);
        assert!(edns.flags().dnssec_ok);
        client.set_max_payload(100);
        assert_eq!(upstream_query(&key, Some(&client)).max_payload(), 512);
        assert_eq!(upstream_query(&key, None).max_payload(), 1232);
    }

    #[test]
    fn reply_takes_the_clients_id_question_and_edns() {
        let client = query("WWW.example.", RecordType::A);
        let mut upstream = Message::response(999, OpCode::Query);
        upstream.add_query(Query::query(
            Name::from_ascii("www.example.").unwrap(),
            RecordType::A,
        ));
        upstream.add_answer(hickory_proto::rr::Record::from_rdata(
            Name::from_ascii("www.example.").unwrap(),
            60,
            hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A::new(192, 0, 2, 1)),
        ));
        upstream.set_edns(Edns::new());
        let resp = reply(&client, upstream.clone());
        assert_eq!(resp.metadata.id, client.metadata.id);
        assert_eq!(resp.queries, client.queries);
        assert!(resp.answers[0].name.eq_case(client.queries[0].name()));
        assert!(resp.edns.is_none());
        let mut with_edns = client.clone();
        with_edns.set_edns(Edns::new());
        let resp = reply(&with_edns, upstream);
        assert_eq!(resp.edns.unwrap().max_payload(), 1232);
    }

    #[test]
    fn slots_are_bounded_and_given_back() {
        let counter = AtomicUsize::new(0);
        let a = Slot::acquire(&counter, 2).unwrap();
        let _b = Slot::acquire(&counter, 2).unwrap();
        assert!(Slot::acquire(&counter, 2).is_none());
        drop(a);
        assert!(Slot::acquire(&counter, 2).is_some());
        assert_eq!(counter.load(Ordering::SeqCst), 1);
    }
}
