//! Translation of what reaches a Service from outside: node ports on the
//! node's addresses, externalIPs, and externalTrafficPolicy Local.

use std::net::IpAddr;

use berth_api::endpointslice::AddressType;
use berth_api::service::{ServiceType, TrafficPolicy};
use berth_dataplane as dp;

use super::fixtures::{endpoint, service, slice};
use super::translate::{NodeView, translate};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn node() -> NodeView {
    NodeView {
        name: "node-1".into(),
        addrs: vec![ip("192.168.50.10")],
    }
}

fn two_pods() -> berth_api::EndpointSlice {
    let mut here = endpoint("10.244.1.2", true, false);
    here.node_name = "node-1".into();
    let mut there = endpoint("10.244.2.2", true, false);
    there.node_name = "node-2".into();
    slice(
        "web",
        "web-a",
        AddressType::Ipv4,
        &[("http", 8080)],
        vec![here, there],
    )
}

#[test]
fn a_node_port_is_served_on_the_node_addresses() {
    let mut svc = service("web", &["10.96.0.20"], &[("http", 80, "8080")]);
    svc.spec.type_ = ServiceType::NodePort;
    svc.spec.ports[0].node_port = 30080;
    let got = translate(&svc, [&two_pods()], &node()).unwrap();
    assert_eq!(got.node_addrs, [ip("192.168.50.10")]);
    assert_eq!(got.ports[0].node_port, Some(30080));
    assert_eq!(got.ports[0].external_backends, None, "Cluster: every pod");
    assert!(!got.external_local);
    // A node without the per-packet path serves no node port.
    let off = translate(&svc, [&two_pods()], &NodeView::default()).unwrap();
    assert!(off.node_addrs.is_empty());
}

#[test]
fn local_serves_only_this_nodes_pods_from_outside() {
    let mut svc = service("web", &["10.96.0.20"], &[("http", 80, "8080")]);
    svc.spec.type_ = ServiceType::NodePort;
    svc.spec.ports[0].node_port = 30080;
    svc.spec.external_traffic_policy = Some(TrafficPolicy::Local);
    let got = translate(&svc, [&two_pods()], &node()).unwrap();
    assert!(got.external_local);
    assert_eq!(
        got.ports[0].external_backends,
        Some(vec![dp::Backend::new(ip("10.244.1.2"), 8080)])
    );
    assert_eq!(got.ports[0].backends.len(), 2, "the cluster IP: every pod");
}

#[test]
fn external_ips_are_served_on_the_service_ports_and_cluster_ips_are_not_node_ports() {
    let mut svc = service("web", &["10.96.0.20"], &[("http", 80, "8080")]);
    svc.spec.external_ips = vec!["203.0.113.7".into(), "10.96.0.20".into(), "bad".into()];
    svc.spec.ports[0].node_port = 30080;
    let got = translate(&svc, [&two_pods()], &node()).unwrap();
    // The VIP itself and what is no address are left out.
    assert_eq!(got.external_ips, [ip("203.0.113.7")]);
    // A ClusterIP Service has no node port, whatever the field says.
    assert_eq!(got.ports[0].node_port, None);
    assert!(got.node_addrs.is_empty());
}
