//! The resolver against the fixture zone, one case per record kind.

use std::path::Path;

use berth_dns::hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode};
use berth_dns::hickory_proto::rr::{Name, RData, RecordType};
use berth_dns::{StaticSource, Zone, ZoneConfig, answer};

fn zone() -> Zone {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster.yaml");
    let source = StaticSource::from_file(&path).unwrap();
    Zone::build(&source, &ZoneConfig::default()).unwrap()
}

fn ask(name: &str, qtype: RecordType) -> Message {
    let mut query = Message::query();
    query.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let resp = answer(&zone(), &query);
    assert_eq!(resp.metadata.id, query.metadata.id);
    resp
}

fn rdata(resp: &Message) -> Vec<String> {
    let mut v: Vec<String> = resp.answers.iter().map(|r| r.data.to_string()).collect();
    v.sort();
    v
}

fn assert_negative(resp: &Message, rcode: ResponseCode) {
    assert_eq!(resp.metadata.response_code, rcode);
    assert!(resp.answers.is_empty());
    assert!(resp.metadata.authoritative);
    assert!(matches!(resp.authorities[0].data, RData::SOA(_)));
    assert_eq!(resp.authorities[0].ttl, 30);
}

#[test]
fn dns_version_txt() {
    let resp = ask("dns-version.cluster.local.", RecordType::TXT);
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert_eq!(rdata(&resp), ["1.1.0"]);
}

#[test]
fn cluster_ip_a_and_aaaa() {
    let resp = ask("web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(rdata(&resp), ["10.96.0.10"]);
    assert!(resp.metadata.authoritative);
    assert_eq!(resp.answers[0].ttl, 30);
    let resp = ask("web.default.svc.cluster.local.", RecordType::AAAA);
    assert_eq!(rdata(&resp), ["fd00::10"]);
}

#[test]
fn names_are_case_insensitive() {
    let resp = ask("WeB.DeFault.SVC.Cluster.Local.", RecordType::A);
    assert_eq!(rdata(&resp), ["10.96.0.10"]);
    assert_eq!(
        resp.answers[0].name.to_string(),
        "WeB.DeFault.SVC.Cluster.Local."
    );
}

#[test]
fn headless_a_is_ready_endpoints() {
    let resp = ask("db.default.svc.cluster.local.", RecordType::A);
    assert_eq!(rdata(&resp), ["10.244.0.5", "10.244.0.6"]);
}

#[test]
fn headless_without_ready_endpoints_is_nxdomain() {
    let resp = ask("empty.default.svc.cluster.local.", RecordType::A);
    assert_negative(&resp, ResponseCode::NXDomain);
}

#[test]
fn endpoint_hostname_records() {
    let resp = ask("db-0.db.default.svc.cluster.local.", RecordType::A);
    assert_eq!(rdata(&resp), ["10.244.0.5"]);
    let resp = ask("10-244-0-6.db.default.svc.cluster.local.", RecordType::A);
    assert_eq!(rdata(&resp), ["10.244.0.6"]);
    let resp = ask("10-244-0-7.db.default.svc.cluster.local.", RecordType::A);
    assert_negative(&resp, ResponseCode::NXDomain);
}

#[test]
fn srv_cluster_ip() {
    let resp = ask("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV);
    assert_eq!(rdata(&resp), ["0 100 80 web.default.svc.cluster.local."]);
    let extra: Vec<String> = resp
        .additionals
        .iter()
        .map(|r| r.data.to_string())
        .collect();
    assert!(extra.contains(&"10.96.0.10".to_owned()), "{extra:?}");
    let resp = ask(
        "_dns._udp.dns.kube-system.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(
        rdata(&resp),
        ["0 100 53 dns.kube-system.svc.cluster.local."]
    );
}

#[test]
fn srv_headless_one_per_ready_endpoint() {
    let resp = ask("_pg._tcp.db.default.svc.cluster.local.", RecordType::SRV);
    assert_eq!(
        rdata(&resp),
        [
            "0 50 5433 10-244-0-6.db.default.svc.cluster.local.",
            "0 50 5433 db-0.db.default.svc.cluster.local."
        ]
    );
    assert_eq!(resp.additionals.len(), 2);
}

#[test]
fn srv_negative_cases() {
    // wrong protocol / unnamed port → NXDOMAIN; the _proto node exists → NODATA.
    let resp = ask("_http._udp.web.default.svc.cluster.local.", RecordType::SRV);
    assert_negative(&resp, ResponseCode::NXDomain);
    let resp = ask("_tcp.web.default.svc.cluster.local.", RecordType::SRV);
    assert_negative(&resp, ResponseCode::NoError);
}

#[test]
fn ptr_for_cluster_ips_and_headless_endpoints() {
    let resp = ask("10.0.96.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(rdata(&resp), ["web.default.svc.cluster.local."]);
    let v6 = "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
    let resp = ask(v6, RecordType::PTR);
    assert_eq!(rdata(&resp), ["web.default.svc.cluster.local."]);
    let resp = ask("5.0.244.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(rdata(&resp), ["db-0.db.default.svc.cluster.local."]);
}

#[test]
fn external_name_is_cname() {
    for qtype in [RecordType::A, RecordType::CNAME, RecordType::AAAA] {
        let resp = ask("ext.default.svc.cluster.local.", qtype);
        assert_eq!(rdata(&resp), ["example.com."], "{qtype}");
    }
}

#[test]
fn pod_records() {
    let resp = ask("10-244-0-5.default.pod.cluster.local.", RecordType::A);
    assert_eq!(rdata(&resp), ["10.244.0.5"]);
    let resp = ask("fd00--5.default.pod.cluster.local.", RecordType::AAAA);
    assert_eq!(rdata(&resp), ["fd00::5"]);
    let resp = ask("10-244-0-99.default.pod.cluster.local.", RecordType::A);
    assert_negative(&resp, ResponseCode::NXDomain);
    let resp = ask("10-244-0-5.other.pod.cluster.local.", RecordType::A);
    assert_negative(&resp, ResponseCode::NXDomain);
}

#[test]
fn nodata_when_name_exists_without_type() {
    let resp = ask("web.default.svc.cluster.local.", RecordType::TXT);
    assert_negative(&resp, ResponseCode::NoError);
    let resp = ask("dns.kube-system.svc.cluster.local.", RecordType::AAAA);
    assert_negative(&resp, ResponseCode::NoError);
    let resp = ask("default.svc.cluster.local.", RecordType::A);
    assert_negative(&resp, ResponseCode::NoError);
}

#[test]
fn nxdomain_for_unknown_names() {
    for name in [
        "nope.default.svc.cluster.local.",
        "web.nope.svc.cluster.local.",
        "foo.cluster.local.",
        "a.b.c.d.e.f.svc.cluster.local.",
    ] {
        assert_negative(&ask(name, RecordType::A), ResponseCode::NXDomain);
    }
}

#[test]
fn zone_apex_soa() {
    let resp = ask("cluster.local.", RecordType::SOA);
    assert!(matches!(resp.answers[0].data, RData::SOA(_)));
}

#[test]
fn outside_zone_is_refused() {
    let resp = ask("example.com.", RecordType::A);
    assert_eq!(resp.metadata.response_code, ResponseCode::Refused);
    let resp = ask("1.1.168.192.in-addr.arpa.", RecordType::PTR);
    assert_eq!(resp.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn edns_is_echoed_and_bad_opcodes_rejected() {
    let mut query = Message::query();
    query.add_query(Query::query(
        Name::from_ascii("web.default.svc.cluster.local.").unwrap(),
        RecordType::A,
    ));
    query.set_edns(Edns::new());
    assert!(answer(&zone(), &query).edns.is_some());
    query.metadata.op_code = OpCode::Update;
    assert_eq!(
        answer(&zone(), &query).metadata.response_code,
        ResponseCode::NotImp
    );
    let empty = Message::query();
    assert_eq!(
        answer(&zone(), &empty).metadata.response_code,
        ResponseCode::FormErr
    );
}

#[test]
fn configurable_domain_and_ttl() {
    let source = StaticSource::from_yaml(
        "apiVersion: v1\nkind: Service\nmetadata: {namespace: a, name: b}\nspec: {clusterIP: 10.0.0.1}\n",
    )
    .unwrap();
    let config = ZoneConfig {
        domain: "Corp.Example".to_owned(),
        ttl: 5,
    };
    let zone = Zone::build(&source, &config).unwrap();
    let mut query = Message::query();
    query.add_query(Query::query(
        Name::from_ascii("b.a.svc.corp.example.").unwrap(),
        RecordType::A,
    ));
    let resp = answer(&zone, &query);
    assert_eq!(rdata(&resp), ["10.0.0.1"]);
    assert_eq!(resp.answers[0].ttl, 5);
}

#[test]
fn invalid_sources_name_field_and_value() {
    let svc = |ns: &str, name: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{namespace: {ns}, name: {name}}}\nspec: {{clusterIP: 10.0.0.1}}\n"
        )
    };
    let cases = [
        (svc("Bad", "b"), "service.namespace \"Bad\""),
        (format!("{}---\n{}", svc("a", "b"), svc("a", "b")), "service a/b is defined twice"),
        (
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {namespace: a, name: b-1, labels: {kubernetes.io/service-name: b}}\naddressType: IPv4\n".to_owned(),
            "endpoints a/b: no such service",
        ),
    ];
    for (yaml, want) in cases {
        let source = StaticSource::from_yaml(&yaml).unwrap();
        let err = Zone::build(&source, &ZoneConfig::default()).unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
    }
    let err = StaticSource::from_yaml("apiVersion: v1\nkind: Service\nmetadata: {namespace: a}\n")
        .unwrap_err();
    assert!(
        err.to_string().contains("metadata.name: Required value"),
        "{err}"
    );
}
