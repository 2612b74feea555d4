//! The server on loopback, queried with the real `dig` over UDP and TCP.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

mod common;

use berth_dns::{Endpoint, Endpoints, Handler, Service, StaticSource, Zone, ZoneConfig};
use common::{dig, status};

const HEADLESS_ENDPOINTS: usize = 200;

/// The fixture plus a headless service `big` with 200 ready endpoints.
fn fixture() -> StaticSource {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster.yaml");
    let mut source = StaticSource::from_file(&path).unwrap();
    source.services.push(Service {
        namespace: "default".into(),
        name: "big".into(),
        cluster_ips: Vec::new(),
        headless: true,
        ports: Vec::new(),
        external_name: None,
    });
    let endpoints = (0..HEADLESS_ENDPOINTS)
        .map(|i| Endpoint {
            addresses: vec![IpAddr::from([
                10,
                245,
                (i / 250) as u8,
                (i % 250 + 1) as u8,
            ])],
            hostname: None,
            ready: true,
            ports: Vec::new(),
        })
        .collect();
    source.endpoints.push(Endpoints {
        namespace: "default".into(),
        service: "big".into(),
        endpoints,
    });
    source
}

fn start() -> SocketAddr {
    let zone = Arc::new(Zone::build(&fixture(), &ZoneConfig::default()).unwrap());
    common::start(move || Handler::new(zone), false).0
}

fn answers(output: &str) -> Vec<String> {
    let mut v: Vec<String> = output
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().last().unwrap_or_default().to_owned())
        .collect();
    v.sort();
    v
}

fn flags(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix(";; flags: "))
        .map(|l| l.split(';').next().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

#[test]
fn dig_record_kinds_over_udp_and_tcp() {
    let addr = start();
    for transport in ["+notcp", "+tcp"] {
        let q = |name: &str, qtype: &str| dig(addr, &[transport, name, qtype]);
        let out = q("web.default.svc.cluster.local", "A");
        assert_eq!(status(&out), "NOERROR", "{out}");
        assert!(flags(&out).contains("aa"), "{out}");
        let only = |out: &str| {
            let short: Vec<String> = out
                .lines()
                .skip_while(|l| !l.starts_with(";; ANSWER SECTION"))
                .skip(1)
                .take_while(|l| !l.trim().is_empty())
                .map(|l| l.split_whitespace().skip(4).collect::<Vec<_>>().join(" "))
                .collect();
            short
        };
        assert_eq!(only(&out), ["10.96.0.10"]);
        assert_eq!(
            only(&q("WEB.default.svc.cluster.local", "AAAA")),
            ["fd00::10"]
        );
        assert_eq!(only(&q("dns-version.cluster.local", "TXT")), ["\"1.1.0\""]);
        assert_eq!(
            only(&q("_http._tcp.web.default.svc.cluster.local", "SRV")),
            ["0 100 80 web.default.svc.cluster.local."]
        );
        assert_eq!(
            only(&q("ext.default.svc.cluster.local", "A")),
            ["example.com."]
        );
        assert_eq!(
            only(&dig(addr, &[transport, "-x", "10.96.0.10"])),
            ["web.default.svc.cluster.local."]
        );
        assert_eq!(
            only(&q("10-244-0-5.default.pod.cluster.local", "A")),
            ["10.244.0.5"]
        );
        let out = q("db.default.svc.cluster.local", "A");
        assert_eq!(only(&out).len(), 2, "{out}");
        let out = q("nope.default.svc.cluster.local", "A");
        assert_eq!(status(&out), "NXDOMAIN", "{out}");
        assert!(out.contains("SOA"), "{out}");
        let out = q("web.default.svc.cluster.local", "TXT");
        assert_eq!(status(&out), "NOERROR", "{out}");
        assert!(out.contains("ANSWER: 0"), "{out}");
        assert_eq!(status(&q("example.com", "A")), "REFUSED");
    }
}

#[test]
fn dig_large_headless_answer_truncates_over_udp_and_completes_over_tcp() {
    let addr = start();
    let name = "big.default.svc.cluster.local";
    for edns in ["+noedns", "+edns=0"] {
        let out = dig(addr, &[edns, "+ignore", name, "A"]);
        assert!(flags(&out).contains("tc"), "{edns}: {out}");
        assert!(out.contains("ANSWER: 0"), "{edns}: {out}");
        // dig's automatic retry over TCP after TC.
        let out = dig(addr, &[edns, "+noall", "+answer", name, "A"]);
        assert_eq!(answers(&out).len(), HEADLESS_ENDPOINTS, "{edns}: {out}");
    }
    let out = dig(addr, &["+tcp", "+noall", "+answer", name, "A"]);
    assert_eq!(answers(&out).len(), HEADLESS_ENDPOINTS, "{out}");
    let out = dig(
        addr,
        &[
            "+tcp",
            "+noall",
            "+answer",
            &format!("_x._tcp.{name}"),
            "SRV",
        ],
    );
    assert!(answers(&out).is_empty());
}
