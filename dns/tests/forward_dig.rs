//! The whole server with the real forwarder and the real `dig`: names
//! outside the cluster zone go to an upstream started here on loopback
//! (another berth-dns serving `example.test`), every upstream down gives a
//! quick SERVFAIL, autopath answers a pod's search path in one round trip,
//! and /metrics counts it all.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_dns::{ForwardConfig, Forwarder, Handler, Pod, Service, StaticSource, Zone, ZoneConfig};
use common::{answer_lines, dig, http_get, start, status};

/// Only catches a hang: dig itself gives up after 5 s.
const DIG_TIMEOUT: Duration = Duration::from_secs(5);

fn service(ns: &str, name: &str, ip: &str) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        cluster_ips: vec![ip.parse().unwrap()],
        headless: false,
        ports: Vec::new(),
        external_name: None,
    }
}

/// The upstream: a zone `example.test` with `www.example.test` (as a
/// service `www` in namespace `example`, domain `test`, so the name is
/// `www.example.svc.test`... kept simple: the domain is `example.test` and
/// the service lives at `api.prod.svc.example.test`).
fn upstream() -> SocketAddr {
    let source = StaticSource {
        services: vec![service("prod", "api", "192.0.2.7")],
        ..StaticSource::default()
    };
    let config = ZoneConfig {
        domain: "example.test".into(),
        ttl: 60,
    };
    let zone = Arc::new(Zone::build(&source, &config).unwrap());
    start(move || Handler::new(zone), false).0
}

/// The cluster server: `web.default` and a pod 127.0.0.1 in `dev` (so dig
/// on loopback is that pod), forwarding to `upstreams`.
fn cluster(upstreams: Vec<SocketAddr>) -> (SocketAddr, SocketAddr) {
    let source = StaticSource {
        services: vec![service("default", "web", "10.96.0.10")],
        pods: vec![Pod {
            namespace: "dev".into(),
            ip: IpAddr::from([127, 0, 0, 1]),
        }],
        ..StaticSource::default()
    };
    let zone = Arc::new(Zone::build(&source, &ZoneConfig::default()).unwrap());
    let config = ForwardConfig {
        upstreams,
        timeout: Duration::from_millis(500),
        ..ForwardConfig::default()
    };
    let (dns, metrics) = start(
        move || {
            let forwarder = Forwarder::new(config).unwrap();
            Handler::new(zone)
                .with_autopath(true)
                .with_upstream(Arc::new(forwarder))
        },
        true,
    );
    (dns, metrics.unwrap())
}

#[test]
fn names_outside_the_zone_are_forwarded_and_cached() {
    let (dns, metrics) = cluster(vec![upstream()]);
    for transport in ["+notcp", "+tcp"] {
        let out = dig(dns, &[transport, "api.prod.svc.example.test", "A"]);
        assert_eq!(status(&out), "NOERROR", "{out}");
        assert_eq!(answer_lines(&out).len(), 1, "{out}");
        assert!(answer_lines(&out)[0].ends_with("A 192.0.2.7"), "{out}");
        let out = dig(dns, &[transport, "nope.prod.svc.example.test", "A"]);
        assert_eq!(status(&out), "NXDOMAIN", "{out}");
    }
    // The cluster zone is still ours.
    let out = dig(dns, &["web.default.svc.cluster.local", "A"]);
    assert_eq!(
        answer_lines(&out),
        ["web.default.svc.cluster.local. A 10.96.0.10"]
    );
    let (line, body) = http_get(metrics, "/metrics");
    assert!(line.contains("200"), "{line}");
    assert!(
        body.contains("berth_dns_forward_cache_hits_total 2"),
        "{body}"
    );
    assert!(
        body.contains("berth_dns_answers_total{source=\"forward\"} 4"),
        "{body}"
    );
    assert!(
        body.contains("berth_dns_queries_total{type=\"A\",rcode=\"NXDOMAIN\"} 2"),
        "{body}"
    );
    assert!(http_get(metrics, "/readyz").0.contains("200"));
    assert!(http_get(metrics, "/healthz").0.contains("200"));
}

#[test]
fn every_upstream_down_is_a_quick_servfail() {
    // One upstream never answers (a bound socket nobody reads), one refuses
    // (a closed port).
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (dns, _) = cluster(vec![silent.local_addr().unwrap(), closed]);
    for name in ["a.example.test", "b.example.test", "c.example.test"] {
        let started = Instant::now();
        let out = dig(dns, &[name, "A"]);
        assert_eq!(
            status(&out),
            "SERVFAIL",
            "no answer before dig's timeout: {out}"
        );
        assert!(started.elapsed() < DIG_TIMEOUT, "{:?}", started.elapsed());
    }
    // The cluster zone keeps answering.
    let out = dig(dns, &["web.default.svc.cluster.local", "A"]);
    assert_eq!(status(&out), "NOERROR", "{out}");
}

#[test]
fn autopath_answers_the_search_path_in_one_round_trip() {
    let (dns, metrics) = cluster(vec![upstream()]);
    // What a pod in `dev` sends first for `web.default` (ndots:5).
    let out = dig(dns, &["web.default.dev.svc.cluster.local", "A"]);
    assert_eq!(
        answer_lines(&out),
        [
            "web.default.dev.svc.cluster.local. CNAME web.default.svc.cluster.local.",
            "web.default.svc.cluster.local. A 10.96.0.10"
        ],
        "{out}"
    );
    // ... and for a name outside the cluster.
    let out = dig(
        dns,
        &["api.prod.svc.example.test.dev.svc.cluster.local", "A"],
    );
    assert_eq!(
        answer_lines(&out),
        [
            "api.prod.svc.example.test.dev.svc.cluster.local. CNAME api.prod.svc.example.test.",
            "api.prod.svc.example.test. A 192.0.2.7"
        ],
        "{out}"
    );
    let out = dig(dns, &["nothing.dev.svc.cluster.local", "A"]);
    assert_eq!(status(&out), "NXDOMAIN", "{out}");
    let (_, body) = http_get(metrics, "/metrics");
    assert!(
        body.contains("berth_dns_forward_upstream_queries_total"),
        "{body}"
    );
}
