//! The forwarder against fake upstreams started by the tests on 127.0.0.1.
//!
//! Time limits here only catch hangs ([`HANG`]). Where a test shows that an
//! answer came "at once", it proves it by what the upstreams saw (nobody
//! was asked, so nobody was waited for) and by the forwarder's counters;
//! the time taken is printed as a figure, never asserted. TTL countdown and
//! expiry run on a [`ManualClock`].

mod fake_upstream;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_dns::hickory_proto::op::{Edns, Message, Query, ResponseCode};
use berth_dns::hickory_proto::rr::{Name, RData, RecordType};
use berth_dns::{ForwardConfig, ForwardError, Forwarder, ManualClock, upstreams_from_resolv_conf};
use fake_upstream::{Behavior, FakeUpstream, Mode, SPOOFED, closed_port};

/// Longer than any answer may take: only here to turn a hang into a failure.
const HANG: Duration = Duration::from_secs(20);
/// The address the fake answers with by default.
const ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn config(upstreams: &[SocketAddr]) -> ForwardConfig {
    ForwardConfig::with_upstreams(upstreams.to_vec())
}

/// A config whose failures show quickly: short attempts, down after one
/// failure, frequent probes.
fn quick(upstreams: &[SocketAddr]) -> ForwardConfig {
    ForwardConfig {
        timeout: Duration::from_millis(300),
        fail_threshold: 1,
        health_interval: Duration::from_millis(50),
        ..config(upstreams)
    }
}

fn query(name: &str, qtype: RecordType) -> Message {
    let mut q = Message::query();
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    q
}

/// Forwards `q`, failing the test if no answer comes within [`HANG`], and
/// checks that the answer is for this query.
async fn ask(fwd: &Forwarder, q: &Message) -> Message {
    let resp = tokio::time::timeout(HANG, fwd.forward(q))
        .await
        .expect("the forwarder hung");
    assert_eq!(resp.metadata.id, q.metadata.id);
    assert_eq!(resp.queries, q.queries);
    resp
}

fn addresses(resp: &Message) -> Vec<Ipv4Addr> {
    resp.answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

fn rcode(resp: &Message) -> ResponseCode {
    resp.metadata.response_code
}

/// Waits (up to [`HANG`]) until `cond` holds.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < HANG, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn forwards_and_answers_with_the_clients_id_and_edns() {
    let up = FakeUpstream::start(Behavior::default()).await;
    let fwd = Forwarder::new(config(&[up.addr()])).unwrap();

    let q = query("www.example.com.", RecordType::A);
    let resp = ask(&fwd, &q).await;
    assert_eq!(rcode(&resp), ResponseCode::NoError);
    assert_eq!(addresses(&resp), [ADDRESS]);
    assert_eq!(resp.answers[0].ttl, 300);
    assert!(resp.metadata.recursion_desired && resp.metadata.recursion_available);
    assert!(resp.edns.is_none(), "the client sent no EDNS");
    assert_eq!(up.count("www.example.com", "udp"), 1);
    // Upstream queries carry EDNS0 at our payload size, and a fresh id.
    let sent = up.last_query().unwrap();
    assert_eq!(sent.edns.as_ref().unwrap().max_payload(), 1232);
    assert_ne!(sent.metadata.id, q.metadata.id);

    // The client's EDNS: payload capped, DO passed on, EDNS in the answer.
    let mut q = query("secure.example.com.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    edns.set_dnssec_ok(true);
    q.set_edns(edns);
    let resp = ask(&fwd, &q).await;
    assert_eq!(addresses(&resp), [ADDRESS]);
    assert_eq!(resp.edns.as_ref().unwrap().max_payload(), 1232);
    let sent = up.last_query().unwrap();
    let sent_edns = sent.edns.as_ref().unwrap();
    assert_eq!(sent_edns.max_payload(), 1232);
    assert!(sent_edns.flags().dnssec_ok);

    let stats = fwd.stats();
    assert_eq!((stats.cache_misses, stats.upstream_queries), (2, 2));
    assert_eq!(stats.upstreams[0].addr, up.addr());
    assert!(stats.upstreams[0].healthy);
}

#[tokio::test]
async fn identical_query_is_answered_from_the_cache() {
    let up = FakeUpstream::start(Behavior::default()).await;
    let fwd = Forwarder::new(config(&[up.addr()])).unwrap();
    let first = ask(&fwd, &query("www.example.com.", RecordType::A)).await;
    assert_eq!(addresses(&first), [ADDRESS]);

    // Same question, other case, other id: from the cache.
    let q = query("WWW.Example.COM.", RecordType::A);
    let second = ask(&fwd, &q).await;
    assert_eq!(addresses(&second), [ADDRESS]);
    assert!(second.answers[0].name.eq_case(q.queries[0].name()));
    assert_eq!(up.queries("www.example.com"), 1);

    // Another type is another question.
    ask(&fwd, &query("www.example.com.", RecordType::AAAA)).await;
    assert_eq!(up.queries("www.example.com"), 2);

    let stats = fwd.stats();
    assert_eq!((stats.cache_hits, stats.cache_misses), (1, 2));
    assert_eq!(stats.cache_entries, 2);
}

#[tokio::test]
async fn cached_ttl_counts_down_and_expiry_refetches() {
    let up = FakeUpstream::start(Behavior {
        ttl: 2,
        ..Behavior::default()
    })
    .await;
    let clock = Arc::new(ManualClock::new());
    let fwd = Forwarder::with_clock(config(&[up.addr()]), clock.clone()).unwrap();
    let q = query("short.example.com.", RecordType::A);
    assert_eq!(ask(&fwd, &q).await.answers[0].ttl, 2);

    clock.advance(Duration::from_millis(1100));
    let resp = ask(&fwd, &q).await;
    assert_eq!(resp.answers[0].ttl, 1, "aged by the second that passed");
    assert_eq!(up.queries("short.example.com"), 1);

    clock.advance(Duration::from_millis(1100));
    let resp = ask(&fwd, &q).await;
    assert_eq!(resp.answers[0].ttl, 2, "a fresh answer after expiry");
    assert_eq!(up.queries("short.example.com"), 2);
}

#[tokio::test]
async fn nxdomain_is_cached_for_the_soa_ttl() {
    let up = FakeUpstream::start(Behavior {
        rcode: ResponseCode::NXDomain,
        // RFC 2308: the smaller of the SOA's TTL and MINIMUM.
        soa: (3600, 2),
        ..Behavior::default()
    })
    .await;
    let clock = Arc::new(ManualClock::new());
    let fwd = Forwarder::with_clock(config(&[up.addr()]), clock.clone()).unwrap();
    let q = query("nope.example.", RecordType::A);
    let resp = ask(&fwd, &q).await;
    assert_eq!(rcode(&resp), ResponseCode::NXDomain);
    assert!(matches!(resp.authorities[0].data, RData::SOA(_)));
    assert_eq!(resp.authorities[0].ttl, 2);

    clock.advance(Duration::from_millis(1900));
    let resp = ask(&fwd, &q).await;
    assert_eq!(rcode(&resp), ResponseCode::NXDomain);
    assert!(matches!(resp.authorities[0].data, RData::SOA(_)));
    assert_eq!(up.queries("nope.example"), 1);
    assert_eq!(fwd.stats().cache_hits, 1);

    clock.advance(Duration::from_millis(300));
    assert_eq!(rcode(&ask(&fwd, &q).await), ResponseCode::NXDomain);
    assert_eq!(up.queries("nope.example"), 2, "refetched after expiry");
}

#[tokio::test]
async fn nodata_is_cached_too() {
    let up = FakeUpstream::start(Behavior::default()).await;
    let fwd = Forwarder::new(config(&[up.addr()])).unwrap();
    // The fake has only A records: MX is NODATA with the SOA.
    let q = query("mail.example.", RecordType::MX);
    for _ in 0..3 {
        let resp = ask(&fwd, &q).await;
        assert_eq!(rcode(&resp), ResponseCode::NoError);
        assert!(resp.answers.is_empty());
        assert!(matches!(resp.authorities[0].data, RData::SOA(_)));
    }
    assert_eq!(up.queries("mail.example"), 1);
}

#[tokio::test]
async fn fails_over_from_a_silent_upstream_to_a_good_one() {
    let silent = FakeUpstream::with_mode(Mode::Silent).await;
    let good = FakeUpstream::start(Behavior::default()).await;
    let fwd = Forwarder::new(quick(&[silent.addr(), good.addr()])).unwrap();

    let resp = ask(&fwd, &query("a.example.com.", RecordType::A)).await;
    assert_eq!(addresses(&resp), [ADDRESS]);
    assert_eq!(silent.queries("a.example.com"), 1);
    assert_eq!(good.queries("a.example.com"), 1);

    // One failure marks it down (threshold 1): the next query skips it.
    let stats = fwd.stats();
    assert!(!stats.upstreams[0].healthy && stats.upstreams[1].healthy);
    assert_eq!(stats.upstreams[0].failures, 1);
    let resp = ask(&fwd, &query("b.example.com.", RecordType::A)).await;
    assert_eq!(addresses(&resp), [ADDRESS]);
    assert_eq!(silent.queries("b.example.com"), 0);
    // Meanwhile it is probed.
    until("the silent upstream is probed", || silent.probes() > 0).await;
    assert_eq!(good.probes(), 0, "healthy upstreams are not probed");
}

#[tokio::test]
async fn fails_over_from_a_closed_port_at_once() {
    let good = FakeUpstream::start(Behavior::default()).await;
    let config = ForwardConfig {
        timeout: HANG,
        ..config(&[closed_port(), good.addr()])
    };
    let fwd = Forwarder::new(config).unwrap();
    let resp = ask(&fwd, &query("a.example.com.", RecordType::A)).await;
    assert_eq!(addresses(&resp), [ADDRESS]);
    assert_eq!(fwd.stats().upstreams[0].failures, 1);
}

#[tokio::test]
async fn truncated_udp_answer_is_retried_over_tcp() {
    let up = FakeUpstream::start(Behavior {
        mode: Mode::Truncate,
        addresses: (1..=150).map(|i| Ipv4Addr::new(10, 1, 0, i)).collect(),
        ..Behavior::default()
    })
    .await;
    let fwd = Forwarder::new(config(&[up.addr()])).unwrap();
    let resp = ask(&fwd, &query("big.example.com.", RecordType::A)).await;
    assert_eq!(rcode(&resp), ResponseCode::NoError);
    assert!(!resp.metadata.truncation);
    assert_eq!(addresses(&resp).len(), 150);
    assert_eq!(up.count("big.example.com", "udp"), 1);
    assert_eq!(up.count("big.example.com", "tcp"), 1);
    // The full answer is cached.
    assert_eq!(
        addresses(&ask(&fwd, &query("big.example.com.", RecordType::A)).await).len(),
        150
    );
    assert_eq!(up.queries("big.example.com"), 2);
}

#[tokio::test]
async fn oversized_udp_answer_is_retried_over_tcp() {
    // The fake ignores the payload size we ask for and sends ~5 kB over
    // UDP: cut by our buffer, unparseable, so asked again over TCP.
    let up = FakeUpstream::start(Behavior {
        addresses: (1..=300).map(|i| Ipv4Addr::from(0x0a01_0000 + i)).collect(),
        ..Behavior::default()
    })
    .await;
    let fwd = Forwarder::new(config(&[up.addr()])).unwrap();
    let resp = ask(&fwd, &query("huge.example.com.", RecordType::A)).await;
    assert_eq!(addresses(&resp).len(), 300);
    assert_eq!(up.count("huge.example.com", "udp"), 1);
    assert_eq!(up.count("huge.example.com", "tcp"), 1);
}

#[tokio::test]
async fn every_upstream_silent_gives_servfail_then_servfail_at_once() {
    let a = FakeUpstream::with_mode(Mode::Silent).await;
    let b = FakeUpstream::with_mode(Mode::Silent).await;
    let config = ForwardConfig {
        timeout: Duration::from_millis(500),
        health_interval: Duration::from_millis(50),
        fail_threshold: 1,
        ..config(&[a.addr(), b.addr()])
    };
    let attempt = config.timeout;
    let fwd = Forwarder::new(config).unwrap();

    // Both tried, both time out: SERVFAIL, not silence.
    let resp = ask(&fwd, &query("x.example.com.", RecordType::A)).await;
    assert_eq!(rcode(&resp), ResponseCode::ServFail);
    assert_eq!(
        (a.queries("x.example.com"), b.queries("x.example.com")),
        (1, 1)
    );
    let stats = fwd.stats();
    assert_eq!(stats.servfail_exhausted, 1);
    assert!(stats.upstreams.iter().all(|u| !u.healthy));

    // Both are down now: SERVFAIL without asking anyone or waiting.
    for _ in 0..3 {
        let started = Instant::now();
        let resp = ask(&fwd, &query("y.example.com.", RecordType::A)).await;
        assert_eq!(rcode(&resp), ResponseCode::ServFail);
        eprintln!(
            "SERVFAIL with every upstream down after {:?} (attempt timeout {attempt:?})",
            started.elapsed()
        );
    }
    assert_eq!(a.queries("y.example.com") + b.queries("y.example.com"), 0);
    let stats = fwd.stats();
    assert_eq!(stats.servfail_all_down, 3);
    assert_eq!(stats.probes_running, 2);
    // The forwarder's own SERVFAIL is not cached.
    assert_eq!(stats.cache_entries, 0);
}

#[tokio::test]
async fn every_upstream_closed_gives_servfail_at_once() {
    let fwd = Forwarder::new(ForwardConfig {
        timeout: HANG,
        ..config(&[closed_port(), closed_port()])
    })
    .unwrap();
    // Default threshold 2: two rounds of refused connections, then down.
    for _ in 0..2 {
        let resp = ask(&fwd, &query("x.example.com.", RecordType::A)).await;
        assert_eq!(rcode(&resp), ResponseCode::ServFail);
    }
    let stats = fwd.stats();
    assert_eq!(stats.servfail_exhausted, 2);
    assert!(stats.upstreams.iter().all(|u| !u.healthy));
    let resp = ask(&fwd, &query("x.example.com.", RecordType::A)).await;
    assert_eq!(rcode(&resp), ResponseCode::ServFail);
    assert_eq!(fwd.stats().servfail_all_down, 1);
}

#[tokio::test]
async fn query_timeout_bounds_a_query_across_upstreams() {
    let ups = [
        FakeUpstream::with_mode(Mode::Silent).await,
        FakeUpstream::with_mode(Mode::Silent).await,
        FakeUpstream::with_mode(Mode::Silent).await,
    ];
    let addrs: Vec<SocketAddr> = ups.iter().map(FakeUpstream::addr).collect();
    let config = ForwardConfig {
        timeout: Duration::from_secs(3),
        query_timeout: Duration::from_millis(500),
        ..config(&addrs)
    };
    let attempt = config.timeout;
    let fwd = Forwarder::new(config).unwrap();
    let started = Instant::now();
    let resp = ask(&fwd, &query("x.example.com.", RecordType::A)).await;
    assert_eq!(rcode(&resp), ResponseCode::ServFail);
    eprintln!(
        "SERVFAIL at the query deadline after {:?} (attempt timeout {attempt:?})",
        started.elapsed()
    );
    // The deadline, not the attempt, ended it: the second upstream was
    // never tried.
    assert_eq!(ups[0].queries("x.example.com"), 1);
    assert_eq!(ups[1].queries("x.example.com"), 0);
    // An attempt cut short by the query's deadline does not count against
    // the upstream.
    assert!(fwd.stats().upstreams.iter().all(|u| u.healthy));
}

#[tokio::test]
async fn upstream_is_used_again_once_it_answers_probes() {
    let up = FakeUpstream::with_mode(Mode::Silent).await;
    let fwd = Forwarder::new(quick(&[up.addr()])).unwrap();
    let resp = ask(&fwd, &query("x.example.com.", RecordType::A)).await;
    assert_eq!(rcode(&resp), ResponseCode::ServFail);
    assert!(!fwd.stats().upstreams[0].healthy);
    let resp = ask(&fwd, &query("x.example.com.", RecordType::A)).await;
    assert_eq!(rcode(&resp), ResponseCode::ServFail);
    assert_eq!(fwd.stats().servfail_all_down, 1);

    up.set_mode(Mode::Answer);
    until("the upstream is healthy again", || {
        fwd.stats().upstreams[0].healthy
    })
    .await;
    let resp = ask(&fwd, &query("x.example.com.", RecordType::A)).await;
    assert_eq!(addresses(&resp), [ADDRESS]);
    until("the probe has ended", || fwd.stats().probes_running == 0).await;
}

#[tokio::test]
async fn cached_answers_outlive_the_upstreams() {
    let up = FakeUpstream::start(Behavior::default()).await;
    let fwd = Forwarder::new(quick(&[up.addr()])).unwrap();
    let q = query("www.example.com.", RecordType::A);
    assert_eq!(addresses(&ask(&fwd, &q).await), [ADDRESS]);
    up.set_mode(Mode::Silent);
    assert_eq!(
        rcode(&ask(&fwd, &query("other.example.com.", RecordType::A)).await),
        ResponseCode::ServFail
    );
    assert!(!fwd.stats().upstreams[0].healthy);
    assert_eq!(addresses(&ask(&fwd, &q).await), [ADDRESS]);
}

#[tokio::test]
async fn overload_is_refused_at_once() {
    let up = FakeUpstream::with_mode(Mode::Silent).await;
    let config = ForwardConfig {
        max_in_flight: 1,
        timeout: Duration::from_secs(2),
        ..config(&[up.addr()])
    };
    let attempt = config.timeout;
    let fwd = Forwarder::new(config).unwrap();
    let busy = tokio::spawn({
        let fwd = fwd.clone();
        async move {
            fwd.forward(&query("slow.example.com.", RecordType::A))
                .await
        }
    });
    until("the first query is at the upstream", || {
        up.queries("slow.example.com") == 1
    })
    .await;
    assert_eq!(fwd.stats().in_flight, 1);

    let started = Instant::now();
    let resp = ask(&fwd, &query("next.example.com.", RecordType::A)).await;
    assert_eq!(rcode(&resp), ResponseCode::Refused);
    eprintln!(
        "REFUSED on overload after {:?} (attempt timeout {attempt:?})",
        started.elapsed()
    );
    assert_eq!(up.queries("next.example.com"), 0);
    assert_eq!(fwd.stats().refused_overload, 1);

    let first = tokio::time::timeout(HANG, busy).await.unwrap().unwrap();
    assert_eq!(rcode(&first), ResponseCode::ServFail);
    assert_eq!(fwd.stats().in_flight, 0);
}

#[tokio::test]
async fn identical_concurrent_queries_share_one_exchange() {
    let up = FakeUpstream::start(Behavior {
        delay: Duration::from_millis(200),
        ..Behavior::default()
    })
    .await;
    let fwd = Forwarder::new(config(&[up.addr()])).unwrap();
    let clients: Vec<_> = (0..10)
        .map(|i| {
            let fwd = fwd.clone();
            let name = if i % 2 == 0 {
                "same.example.com."
            } else {
                "SAME.example.com."
            };
            let q = query(name, RecordType::A);
            tokio::spawn(async move { (ask(&fwd, &q).await, q) })
        })
        .collect();
    for client in clients {
        let (resp, q) = client.await.unwrap();
        assert_eq!(addresses(&resp), [ADDRESS]);
        assert!(resp.answers[0].name.eq_case(q.queries[0].name()));
    }
    assert_eq!(up.queries("same.example.com"), 1);
    let stats = fwd.stats();
    assert_eq!(stats.upstream_queries, 1);
    assert_eq!(stats.coalesced, 9);
    assert_eq!(stats.in_flight, 0);
}

#[tokio::test]
async fn answers_with_a_wrong_id_or_question_are_ignored() {
    let up = FakeUpstream::with_mode(Mode::SpoofFirst).await;
    let fwd = Forwarder::new(config(&[up.addr()])).unwrap();
    let resp = ask(&fwd, &query("bank.example.com.", RecordType::A)).await;
    assert_eq!(addresses(&resp), [ADDRESS]);
    assert!(!addresses(&resp).contains(&SPOOFED));
    assert_eq!(fwd.stats().upstream_failures, 0);
}

#[tokio::test]
async fn upstream_servfail_is_passed_on_and_cached_briefly() {
    let up = FakeUpstream::start(Behavior {
        rcode: ResponseCode::ServFail,
        ..Behavior::default()
    })
    .await;
    let fwd = Forwarder::new(config(&[up.addr()])).unwrap();
    for _ in 0..2 {
        let resp = ask(&fwd, &query("broken.example.", RecordType::A)).await;
        assert_eq!(rcode(&resp), ResponseCode::ServFail);
    }
    // An answer, even SERVFAIL, shows the upstream alive.
    let stats = fwd.stats();
    assert!(stats.upstreams[0].healthy);
    assert_eq!(stats.upstream_failures, 0);
    assert_eq!(up.queries("broken.example"), 1);
    // Not cached at all with servfail_ttl 0.
    let fwd = Forwarder::new(ForwardConfig {
        servfail_ttl: 0,
        ..config(&[up.addr()])
    })
    .unwrap();
    for _ in 0..2 {
        ask(&fwd, &query("broken2.example.", RecordType::A)).await;
    }
    assert_eq!(up.queries("broken2.example"), 2);
}

#[tokio::test]
async fn probes_end_when_the_forwarder_is_dropped() {
    let up = FakeUpstream::with_mode(Mode::Silent).await;
    let fwd = Forwarder::new(quick(&[up.addr()])).unwrap();
    ask(&fwd, &query("x.example.com.", RecordType::A)).await;
    until("probes are sent", || up.probes() >= 2).await;
    let clone = fwd.clone();
    drop(fwd);
    // A clone keeps them going.
    let before = up.probes();
    until("probes go on", || up.probes() > before).await;
    drop(clone);
    // Let a probe in flight arrive, then expect no more.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after_drop = up.probes();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(up.probes(), after_drop);
}

#[tokio::test]
async fn shutdown_waits_for_the_probes() {
    let up = FakeUpstream::with_mode(Mode::Silent).await;
    let fwd = Forwarder::new(quick(&[up.addr()])).unwrap();
    ask(&fwd, &query("x.example.com.", RecordType::A)).await;
    assert_eq!(fwd.stats().probes_running, 1);
    tokio::time::timeout(HANG, fwd.shutdown()).await.unwrap();
    assert_eq!(fwd.stats().probes_running, 0);
    let after = up.probes();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(up.probes(), after);
}

#[test]
fn invalid_settings_name_the_field() {
    let err = Forwarder::new(ForwardConfig {
        max_in_flight: 0,
        ..config(&["127.0.0.1:53".parse().unwrap()])
    })
    .unwrap_err();
    assert!(
        matches!(&err, ForwardError::InvalidConfig { field: "max_in_flight", value, .. } if value == "0"),
        "{err}"
    );
}

#[test]
fn upstreams_from_a_resolv_conf_file() {
    let dir = std::env::temp_dir().join(format!("berth-dns-forward-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("resolv.conf");
    std::fs::write(
        &path,
        "search cluster.local\nnameserver 127.0.0.53\nnameserver ::1\noptions edns0 trust-ad\n",
    )
    .unwrap();
    let got = upstreams_from_resolv_conf(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let want: Vec<SocketAddr> = vec![
        "127.0.0.53:53".parse().unwrap(),
        "[::1]:53".parse().unwrap(),
    ];
    assert_eq!(got, want);
    let err = upstreams_from_resolv_conf(&dir.join("missing")).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}
