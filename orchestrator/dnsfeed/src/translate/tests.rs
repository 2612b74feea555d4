use std::net::IpAddr;

use berth_api::endpointslice::{
    AddressType, Endpoint, EndpointConditions, EndpointPort, LABEL_SERVICE_NAME,
};
use berth_api::pod::{PodIp, PodPhase};
use berth_api::service::{ServicePort, ServiceType};
use berth_api::{EndpointSlice, ObjectMeta, Pod, Protocol, Service};
use berth_dns::{Change, ObjectKey};

use super::*;

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta::named("default", name)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn svc(name: &str, cluster_ips: &[&str]) -> Service {
    let mut s = Service {
        metadata: meta(name),
        ..Service::default()
    };
    s.spec.cluster_ips = cluster_ips.iter().map(|s| (*s).to_owned()).collect();
    s.spec.cluster_ip = s.spec.cluster_ips.first().cloned().unwrap_or_default();
    s.spec.ports = vec![
        ServicePort {
            name: "http".into(),
            protocol: Protocol::Tcp,
            port: 80,
            ..ServicePort::default()
        },
        ServicePort {
            name: String::new(),
            protocol: Protocol::Udp,
            port: 53,
            ..ServicePort::default()
        },
    ];
    s
}

fn key(name: &str) -> ObjectKey {
    ObjectKey {
        namespace: "default".into(),
        name: name.into(),
    }
}

#[test]
fn cluster_ip_service_with_ports() {
    let s = service(&svc("web", &["10.96.0.7", "fd00:10:96::7"])).unwrap();
    assert_eq!(s.namespace, "default");
    assert_eq!(s.name, "web");
    assert_eq!(s.cluster_ips, [ip("10.96.0.7"), ip("fd00:10:96::7")]);
    assert!(!s.headless);
    assert_eq!(s.external_name, None);
    assert_eq!(
        s.ports,
        [
            berth_dns::ServicePort {
                name: Some("http".into()),
                protocol: berth_dns::Protocol::Tcp,
                port: 80
            },
            berth_dns::ServicePort {
                name: None,
                protocol: berth_dns::Protocol::Udp,
                port: 53
            },
        ]
    );
    // Only spec.clusterIP set (an older object): still its address.
    let mut only = svc("web", &[]);
    only.spec.cluster_ip = "10.96.0.8".into();
    assert_eq!(service(&only).unwrap().cluster_ips, [ip("10.96.0.8")]);
}

#[test]
fn headless_external_and_broken_services() {
    let h = service(&svc("db", &["None"])).unwrap();
    assert!(h.headless && h.cluster_ips.is_empty());
    let mut ext = svc("out", &[]);
    ext.spec.type_ = ServiceType::ExternalName;
    ext.spec.external_name = "example.test".into();
    assert_eq!(
        service(&ext).unwrap().external_name.as_deref(),
        Some("example.test")
    );
    assert!(matches!(
        service(&svc("new", &[])),
        Err(TranslateError::Unallocated { .. })
    ));
    let e = service(&svc("bad", &["10.96.0.300"])).unwrap_err();
    assert!(e.to_string().contains("spec.clusterIPs[0]"), "{e}");
    // A broken update removes the old record instead of keeping it.
    let (changes, errors) =
        service_changes(Some(&svc("bad", &["10.96.0.3"])), Some(&svc("bad", &["x"])));
    assert_eq!(errors.len(), 1);
    assert!(matches!(&changes[..], [Change::ServiceDeleted(k)] if *k == key("bad")));
}

#[test]
fn service_add_and_delete() {
    let web = svc("web", &["10.96.0.7"]);
    let (changes, errors) = service_changes(None, Some(&web));
    assert!(errors.is_empty());
    assert!(matches!(&changes[..], [Change::Service(s)] if s.name == "web"));
    let (changes, _) = service_changes(Some(&web), None);
    assert!(matches!(&changes[..], [Change::ServiceDeleted(k)] if *k == key("web")));
}

fn endpoint(addr: &str, hostname: &str, ready: Option<bool>) -> Endpoint {
    Endpoint {
        addresses: vec![addr.into()],
        hostname: hostname.into(),
        conditions: EndpointConditions {
            ready,
            ..EndpointConditions::default()
        },
        ..Endpoint::default()
    }
}

fn eps(name: &str, service: Option<&str>) -> EndpointSlice {
    let mut m = meta(name);
    if let Some(s) = service {
        m.labels.insert(LABEL_SERVICE_NAME.into(), s.into());
    }
    EndpointSlice {
        metadata: m,
        address_type: AddressType::Ipv4,
        endpoints: vec![
            endpoint("10.244.0.5", "a", Some(true)),
            endpoint("10.244.0.6", "", Some(false)),
            endpoint("10.244.0.7", "", None),
        ],
        ports: vec![
            EndpointPort {
                name: "http".into(),
                protocol: Protocol::Tcp,
                port: Some(8080),
                ..EndpointPort::default()
            },
            EndpointPort {
                name: "none".into(),
                protocol: Protocol::Tcp,
                port: None,
                ..EndpointPort::default()
            },
        ],
        ..EndpointSlice::default()
    }
}

#[test]
fn slice_endpoints_hostnames_and_readiness() {
    let e = slice(&eps("db-abc", Some("db"))).unwrap().unwrap();
    assert_eq!(e.service, "db");
    assert_eq!(e.namespace, "default");
    let summary: Vec<_> = e
        .endpoints
        .iter()
        .map(|ep| (ep.addresses.clone(), ep.hostname.clone(), ep.ready))
        .collect();
    assert_eq!(
        summary,
        [
            (vec![ip("10.244.0.5")], Some("a".to_owned()), true),
            (vec![ip("10.244.0.6")], None, false),
            // Unknown readiness counts as ready.
            (vec![ip("10.244.0.7")], None, true),
        ]
    );
    // The port without a number is left out.
    assert_eq!(e.endpoints[0].ports.len(), 1);
    assert_eq!(e.endpoints[0].ports[0].port, 8080);
    let (changes, errors) = slice_changes(None, Some(&eps("db-abc", Some("db"))));
    assert!(errors.is_empty());
    assert!(matches!(&changes[..], [Change::Endpoints(k, _)] if *k == key("db-abc")));
    let (changes, _) = slice_changes(Some(&eps("db-abc", Some("db"))), None);
    assert!(matches!(&changes[..], [Change::EndpointsDeleted(k)] if *k == key("db-abc")));
}

#[test]
fn fqdn_and_unlabelled_slices_are_not_served() {
    let mut f = eps("f", Some("db"));
    f.address_type = AddressType::Fqdn;
    assert_eq!(slice(&f).unwrap(), None);
    let (changes, _) = slice_changes(None, Some(&f));
    assert!(matches!(&changes[..], [Change::EndpointsDeleted(_)]));
    assert!(matches!(
        slice(&eps("x", None)),
        Err(TranslateError::NoService { .. })
    ));
    let mut bad = eps("b", Some("db"));
    bad.endpoints[1].addresses = vec!["nope".into()];
    let e = slice(&bad).unwrap_err();
    assert!(e.to_string().contains("endpoints[1].addresses[0]"), "{e}");
}

fn pod(name: &str, ips: &[&str]) -> Pod {
    let mut p = Pod {
        metadata: meta(name),
        ..Pod::default()
    };
    p.status.phase = PodPhase::Running;
    p.status.pod_ips = ips.iter().map(|i| PodIp { ip: (*i).into() }).collect();
    p.status.pod_ip = ips.first().map(|s| (*s).to_owned()).unwrap_or_default();
    p
}

fn pod_summary(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|c| match c {
            Change::Pod(k, p) => format!("+{} {}", k.name, p.ip),
            Change::PodDeleted(k) => format!("-{}", k.name),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn pods_follow_their_ips() {
    assert_eq!(
        pod_ips(&pod("p", &["10.244.0.9", "fd00:10:244::9"])).unwrap(),
        [ip("10.244.0.9"), ip("fd00:10:244::9")]
    );
    // Not yet running somewhere: nothing.
    let (c, e) = pod_changes(None, Some(&pod("p", &[])));
    assert!(c.is_empty() && e.is_empty());
    let (c, _) = pod_changes(Some(&pod("p", &[])), Some(&pod("p", &["10.244.0.9"])));
    assert_eq!(pod_summary(&c), ["+p/10.244.0.9 10.244.0.9"]);
    // A new address replaces the old one.
    let (c, _) = pod_changes(
        Some(&pod("p", &["10.244.0.9"])),
        Some(&pod("p", &["10.244.0.10"])),
    );
    assert_eq!(
        pod_summary(&c),
        ["-p/10.244.0.9", "+p/10.244.0.10 10.244.0.10"]
    );
    let mut done = pod("p", &["10.244.0.10"]);
    done.status.phase = PodPhase::Succeeded;
    let (c, _) = pod_changes(Some(&pod("p", &["10.244.0.10"])), Some(&done));
    assert_eq!(pod_summary(&c), ["-p/10.244.0.10"]);
    let mut host = pod("h", &["192.168.1.2"]);
    host.spec.host_network = true;
    assert!(pod_ips(&host).unwrap().is_empty());
    let (c, _) = pod_changes(Some(&pod("p", &["10.244.0.9"])), None);
    assert_eq!(pod_summary(&c), ["-p/10.244.0.9"]);
    let (c, e) = pod_changes(Some(&pod("p", &["10.244.0.9"])), Some(&pod("p", &["x"])));
    assert_eq!(e.len(), 1);
    assert_eq!(pod_summary(&c), ["-p/10.244.0.9"]);
}

#[test]
fn a_cache_fed_these_changes_builds_a_zone() {
    let mut cache = berth_dns::ClusterCache::default();
    for (changes, _) in [
        service_changes(None, Some(&svc("web", &["10.96.0.7"]))),
        service_changes(None, Some(&svc("db", &["None"]))),
        slice_changes(None, Some(&eps("db-abc", Some("db")))),
        pod_changes(None, Some(&pod("p", &["10.244.0.9"]))),
    ] {
        for c in changes {
            cache.apply(c);
        }
    }
    cache.apply(Change::Synced);
    use berth_dns::ClusterSource as _;
    assert_eq!(cache.services().len(), 2);
    assert_eq!(cache.endpoints().len(), 1);
    assert_eq!(cache.pods().len(), 1);
    // Every object is valid for the zone (build is strict).
    berth_dns::Zone::build(&cache, &berth_dns::ZoneConfig::default()).unwrap();
}
