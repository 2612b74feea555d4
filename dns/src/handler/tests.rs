//! The request path with a fake upstream: cache, autopath, forwarding,
//! malformed input.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;
use crate::upstream::ForwardFuture;
use crate::{Pod, Service, StaticSource, ZoneConfig, zone_channel};

const CLIENT: [u8; 4] = [10, 244, 1, 7];
const STRANGER: [u8; 4] = [10, 244, 9, 9];

/// Answers every name with 192.0.2.1, except `missing.` (NXDOMAIN).
#[derive(Debug, Default)]
struct FakeUpstream {
    asked: AtomicUsize,
}

impl Upstream for FakeUpstream {
    fn forward<'a>(&'a self, query: &'a Message) -> ForwardFuture<'a> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let name = query.queries[0].name().clone();
            if name.to_ascii() == "missing." {
                return reply(query, ResponseCode::NXDomain);
            }
            let mut resp = reply(query, ResponseCode::NoError);
            resp.add_answer(Record::from_rdata(name, 60, RData::A(A::new(192, 0, 2, 1))));
            resp
        })
    }
}

fn zone() -> Zone {
    let source = StaticSource {
        services: vec![Service {
            namespace: "prod".into(),
            name: "web".into(),
            cluster_ips: vec!["10.96.0.20".parse().unwrap()],
            headless: false,
            ports: Vec::new(),
            external_name: None,
        }],
        endpoints: Vec::new(),
        pods: vec![Pod {
            namespace: "dev".into(),
            ip: IpAddr::from(CLIENT),
        }],
    };
    Zone::build(&source, &ZoneConfig::default()).unwrap()
}

fn worker(upstream: Option<Arc<FakeUpstream>>, autopath: bool) -> Worker {
    let mut handler = Handler::new(Arc::new(zone())).with_autopath(autopath);
    if let Some(u) = upstream {
        handler = handler.with_upstream(u);
    }
    Worker::new(Arc::new(handler), true)
}

fn query(name: &str, qtype: RecordType, id: u16) -> Vec<u8> {
    let mut q = Message::query();
    q.metadata.id = id;
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    q.to_vec().unwrap()
}

fn run(w: &mut Worker, request: &[u8], peer: [u8; 4]) -> Message {
    match w.handle(request, IpAddr::from(peer), Transport::Udp) {
        Step::Reply => Message::from_vec(&w.out).unwrap(),
        Step::Drop => panic!("dropped"),
        Step::Forward(p) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let bytes = rt.block_on(p.finish(&w.shared)).unwrap();
            Message::from_vec(&bytes).unwrap()
        }
    }
}

fn answers(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|r| format!("{} {}", r.name, r.data))
        .collect()
}

#[test]
fn cached_answer_carries_the_new_id_and_is_counted() {
    let mut w = worker(None, false);
    let first = run(
        &mut w,
        &query("web.prod.svc.cluster.local.", RecordType::A, 1),
        STRANGER,
    );
    let second = run(
        &mut w,
        &query("web.prod.svc.cluster.local.", RecordType::A, 2),
        STRANGER,
    );
    assert_eq!((first.metadata.id, second.metadata.id), (1, 2));
    assert_eq!(answers(&first), answers(&second));
    assert_eq!(w.shared.metrics.from_source(Source::ZoneCache), 1);
    assert_eq!(w.shared.metrics.from_source(Source::Zone), 1);
}

#[test]
fn a_swapped_zone_empties_the_cache() {
    let (publisher, zones) = zone_channel();
    publisher.publish(zone());
    let mut w = Worker::new(Arc::new(Handler::new(zones)), true);
    let q = query("web.prod.svc.cluster.local.", RecordType::A, 1);
    assert_eq!(run(&mut w, &q, STRANGER).answers.len(), 1);
    publisher.publish(Zone::build(&StaticSource::default(), &ZoneConfig::default()).unwrap());
    assert_eq!(
        run(&mut w, &q, STRANGER).metadata.response_code,
        ResponseCode::NXDomain
    );
}

#[test]
fn not_synced_is_servfail() {
    let (_publisher, zones) = zone_channel();
    let mut w = Worker::new(Arc::new(Handler::new(zones)), true);
    let q = query("web.prod.svc.cluster.local.", RecordType::A, 1);
    assert_eq!(
        run(&mut w, &q, STRANGER).metadata.response_code,
        ResponseCode::ServFail
    );
}

#[test]
fn outside_the_zone_goes_upstream_or_is_refused() {
    let up = Arc::new(FakeUpstream::default());
    let mut w = worker(Some(up.clone()), false);
    let resp = run(&mut w, &query("example.com.", RecordType::A, 3), STRANGER);
    assert_eq!(answers(&resp), ["example.com. 192.0.2.1"]);
    assert_eq!(up.asked.load(Ordering::SeqCst), 1);
    let mut alone = worker(None, false);
    let resp = run(
        &mut alone,
        &query("example.com.", RecordType::A, 3),
        STRANGER,
    );
    assert_eq!(resp.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn autopath_completes_the_search_path_in_one_round_trip() {
    let up = Arc::new(FakeUpstream::default());
    let mut w = worker(Some(up.clone()), true);
    // A pod in `dev` asks for `web.prod` with its first search suffix.
    let q = query("web.prod.dev.svc.cluster.local.", RecordType::A, 4);
    let resp = run(&mut w, &q, CLIENT);
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        answers(&resp),
        [
            "web.prod.dev.svc.cluster.local. web.prod.svc.cluster.local.",
            "web.prod.svc.cluster.local. 10.96.0.20"
        ]
    );
    assert_eq!(
        resp.queries[0].name().to_ascii(),
        "web.prod.dev.svc.cluster.local."
    );
    // An outside name: the bare name is asked upstream.
    let resp = run(
        &mut w,
        &query("example.com.dev.svc.cluster.local.", RecordType::A, 5),
        CLIENT,
    );
    assert_eq!(
        answers(&resp),
        [
            "example.com.dev.svc.cluster.local. example.com.",
            "example.com. 192.0.2.1"
        ]
    );
    // Nothing anywhere: the original NXDOMAIN.
    let resp = run(
        &mut w,
        &query("missing.dev.svc.cluster.local.", RecordType::A, 6),
        CLIENT,
    );
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        resp.queries[0].name().to_ascii(),
        "missing.dev.svc.cluster.local."
    );
    // A client that is not a known pod gets the plain answer.
    let resp = run(
        &mut w,
        &query("web.prod.dev.svc.cluster.local.", RecordType::A, 7),
        STRANGER,
    );
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn autopath_off_answers_as_asked() {
    let mut w = worker(Some(Arc::new(FakeUpstream::default())), false);
    let resp = run(
        &mut w,
        &query("web.prod.dev.svc.cluster.local.", RecordType::A, 4),
        CLIENT,
    );
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn edns_version_1_is_badvers() {
    let mut q = Message::query();
    q.add_query(Query::query(
        Name::from_ascii("web.prod.svc.cluster.local.").unwrap(),
        RecordType::A,
    ));
    let mut edns = Edns::new();
    edns.set_version(1);
    q.set_edns(edns);
    let resp = run(&mut worker(None, false), &q.to_vec().unwrap(), STRANGER);
    // Extended rcode 16 on the wire (hickory decodes 16 as BADSIG, its twin).
    assert_eq!(u16::from(resp.metadata.response_code), 16);
    assert!(resp.answers.is_empty());
    assert_eq!(resp.edns.map(|e| e.version()), Some(0));
}

#[test]
fn garbage_gets_formerr_or_nothing() {
    let mut w = worker(None, false);
    assert!(matches!(
        w.handle(&[1, 2, 3], IpAddr::from(STRANGER), Transport::Udp),
        Step::Drop
    ));
    let mut junk = vec![0xab, 0xcd];
    junk.extend((0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let resp = run(&mut w, &junk, STRANGER);
    assert_eq!(resp.metadata.id, 0xabcd);
    assert_eq!(resp.metadata.response_code, ResponseCode::FormErr);
}

#[test]
fn compression_loop_is_formerr() {
    // Header with one question whose name is a pointer to itself.
    let packet = [
        0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1,
    ];
    let resp = run(&mut worker(None, false), &packet, STRANGER);
    assert_eq!(resp.metadata.response_code, ResponseCode::FormErr);
}

#[test]
fn responses_are_never_answered() {
    let mut m = Message::query();
    m.metadata.message_type = hickory_proto::op::MessageType::Response;
    m.add_query(Query::query(
        Name::from_ascii("web.prod.svc.cluster.local.").unwrap(),
        RecordType::A,
    ));
    let mut w = worker(None, false);
    assert!(matches!(
        w.handle(&m.to_vec().unwrap(), IpAddr::from(STRANGER), Transport::Udp),
        Step::Drop
    ));
}
