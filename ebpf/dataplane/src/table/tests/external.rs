//! External frontends: node ports on the node's addresses, externalIPs,
//! externalTrafficPolicy Local, and the VIP markers they do not put.

use berth_ebpf_common::lb::{SVC_F_EXTERNAL, SVC_F_LOCAL};

use super::*;

const NODE: &str = "192.168.50.10";

/// `web` with node port 30080 on the node's address and an externalIP.
fn exposed() -> Service {
    let mut s = web(&["10.244.1.2:8080", "10.244.2.2:8080"]);
    s.vips = vec![ip("10.96.0.20")];
    s.node_addrs = vec![ip(NODE), ip("fd00:50::10")];
    s.external_ips = vec![ip("203.0.113.7")];
    s.ports[0].node_port = Some(30080);
    s
}

fn key(vip: &str, port: u16) -> FrontendKey {
    FrontendKey {
        vip: ip(vip),
        port,
        protocol: Protocol::Tcp,
    }
}

fn master(lb: &Lb<MemMaps>, k: FrontendKey) -> ServiceValue {
    *lb.maps()
        .slots
        .get(&SlotKey::master(k))
        .unwrap_or_else(|| panic!("{k} missing"))
}

#[test]
fn node_ports_and_external_ips_are_external_frontends_without_vip_markers() {
    let mut lb = lb();
    lb.upsert_service(&exposed()).unwrap();
    let vip = master(&lb, key("10.96.0.20", 80));
    let node = master(&lb, key(NODE, 30080));
    let ext = master(&lb, key("203.0.113.7", 80));
    assert_eq!(vip.flags & SVC_F_EXTERNAL, 0);
    assert_eq!(node.flags & (SVC_F_EXTERNAL | SVC_F_LOCAL), SVC_F_EXTERNAL);
    assert_eq!(ext.flags & (SVC_F_EXTERNAL | SVC_F_LOCAL), SVC_F_EXTERNAL);
    assert_eq!((node.count, ext.count), (2, 2));
    // The service has no IPv6 VIP: the node's IPv6 address gets nothing.
    assert_eq!(lb.counts().0, 3);
    // Only the ClusterIP is a VIP of its own.
    let vips: Vec<IpAddr> = lb.maps().vips.keys().copied().collect();
    assert_eq!(vips, [ip("10.96.0.20")]);
    assert_consistent(lb.maps());
    lb.delete_service("default/web").unwrap();
    assert!(lb.maps().slots.is_empty() && lb.maps().vips.is_empty());
}

#[test]
fn local_frontends_serve_only_their_backends_and_keep_the_client() {
    let mut lb = lb();
    let mut s = exposed();
    s.external_local = true;
    s.ports[0].external_backends = Some(vec![be("10.244.1.2:8080")]);
    lb.upsert_service(&s).unwrap();
    let node = master(&lb, key(NODE, 30080));
    assert_eq!(node.flags & SVC_F_LOCAL, SVC_F_LOCAL);
    assert_eq!(node.count, 1);
    assert_eq!(master(&lb, key("10.96.0.20", 80)).count, 2);
    // No local backend: the node port stays, with nothing to pick.
    s.ports[0].external_backends = Some(Vec::new());
    lb.upsert_service(&s).unwrap();
    assert_eq!(master(&lb, key(NODE, 30080)).count, 0);
    assert_consistent(lb.maps());
}

#[test]
fn a_node_port_taken_by_another_service_is_refused_naming_the_field() {
    let mut lb = lb();
    lb.upsert_service(&exposed()).unwrap();
    let mut other = exposed();
    other.name = "default/other".into();
    other.vips = vec![ip("10.96.0.21")];
    other.external_ips.clear();
    let before = lb.maps().writes;
    let e = lb.upsert_service(&other).unwrap_err().to_string();
    assert!(e.contains("ports[0].nodePort"), "{e}");
    assert!(e.contains("default/web"), "{e}");
    assert_eq!(lb.maps().writes, before, "nothing written");
}

#[test]
fn bad_external_input_names_the_field_and_value() {
    let mut lb = lb();
    let mut s = exposed();
    s.ports[0].node_port = Some(0);
    let e = lb.upsert_service(&s).unwrap_err().to_string();
    assert!(
        e.contains("ports[0].nodePort") && e.contains("\"0\""),
        "{e}"
    );
    let mut s = exposed();
    s.external_ips.push(ip("10.96.0.20"));
    let e = lb.upsert_service(&s).unwrap_err().to_string();
    assert!(e.contains("the same frontend twice"), "{e}");
    let mut s = exposed();
    s.ports[0].external_backends = Some(vec![be("10.244.9.9:8080")]);
    let e = lb.upsert_service(&s).unwrap_err().to_string();
    assert!(
        e.contains("ports[0].externalBackends[0]") && e.contains("10.244.9.9:8080"),
        "{e}"
    );
    assert!(lb.maps().slots.is_empty(), "nothing half-programmed");
}

#[test]
fn adoption_keeps_exposure_and_markers() {
    let limits = Limits::default();
    let mut lb = Lb::new(MemMaps::new(&limits), limits);
    let mut s = exposed();
    s.external_local = true;
    lb.reconcile(std::slice::from_ref(&s)).unwrap();
    let maps = std::mem::take(lb.maps_mut());
    let mut lb = Lb::adopt(maps, limits).unwrap();
    assert_eq!(lb.repair().unwrap(), 0, "markers as they were");
    let writes = lb.maps().writes;
    lb.reconcile(std::slice::from_ref(&s)).unwrap();
    assert_eq!(lb.maps().writes, writes, "the same state writes nothing");
}
