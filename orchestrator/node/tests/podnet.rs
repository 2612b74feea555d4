//! Pod networking across nodes on the real kernel: namespace "nodes" on one
//! switched LAN, each with a pod bridge and a pod (its own namespace, a
//! veth, an echo server), and `berth_node::podnet` with iproute2 in each
//! node's namespace, fed the Node objects:
//!
//! - host-gw: every pod reaches every other node's pod; a second
//!   reconcile writes nothing; a node that leaves loses its route;
//! - VXLAN: the same through the overlay (device, MTU underlay - 50);
//!   going back to host-gw removes the device and traffic still flows.
//!
//! Needs root.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use berth_api::node::{NodeAddress, NodeAddressType};
use berth_api::{Node, ObjectMeta};
use berth_node::podnet::ip::IpLinks;
use berth_node::podnet::plan::VXLAN_DEV;
use berth_node::podnet::{Mode, PodNetConfig, reconcile};
use berth_test_support::echo::tcp_who;
use berth_test_support::{Bridge, Lan, Netns, TcpEcho, Veth};

/// Only catches a hang: one request between pods.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

struct PodNode {
    name: String,
    ip: Ipv4Addr,
    pod_ip: Ipv4Addr,
    // Dropped before the LAN (field order): the pod's namespace and echo.
    _echo: TcpEcho,
    pod: Netns,
    _veth: Veth,
    _bridge: Bridge,
}

fn root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "pod network tests need root");
}

/// `n` nodes on a LAN; node i's pods are 10.244.(80+i).0/24, its pod
/// 10.244.(80+i).2 behind bridge address .1.
fn nodes(lan: &Lan) -> Vec<PodNode> {
    lan.hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let ns = &h.netns;
            ns.enable_ip_forward().expect("ip_forward");
            let net = 80 + i as u8;
            let bridge = Bridge::new(Some(ns)).expect("bridge");
            ns.ip(&[
                "addr",
                "add",
                &format!("10.244.{net}.1/24"),
                "dev",
                bridge.name(),
            ])
            .expect("bridge address");
            let pod = Netns::new().expect("pod netns");
            let veth = Veth::new(&pod, Some(ns)).expect("veth");
            bridge.attach(veth.b_name(), Some(ns)).expect("attach");
            veth.add_addr_a(&format!("10.244.{net}.2/24"))
                .expect("pod address");
            pod.ip(&["route", "add", "default", "via", &format!("10.244.{net}.1")])
                .expect("pod route");
            let pod_ip = Ipv4Addr::new(10, 244, net, 2);
            let echo = TcpEcho::start(&pod, SocketAddr::from((pod_ip, 8080)), &format!("pod-{i}"))
                .expect("echo");
            PodNode {
                name: format!("node-{i}"),
                ip: h.ipv4,
                pod_ip,
                _echo: echo,
                pod,
                _veth: veth,
                _bridge: bridge,
            }
        })
        .collect()
}

fn node_object(n: &PodNode) -> Arc<Node> {
    let cidr = format!("{}/24", Ipv4Addr::from(u32::from(n.pod_ip) & !0xff));
    let mut node = Node {
        metadata: ObjectMeta {
            name: n.name.clone(),
            ..ObjectMeta::default()
        },
        ..Node::default()
    };
    node.spec.pod_cidr = cidr.clone();
    node.spec.pod_cidrs = vec![cidr];
    node.status.addresses = vec![NodeAddress {
        type_: NodeAddressType::InternalIP,
        address: n.ip.to_string(),
    }];
    Arc::new(node)
}

/// Reconciles node `i` against `objects` in its namespace.
fn apply(lan: &Lan, ns: &[PodNode], i: usize, objects: &[Arc<Node>], mode: Mode) -> usize {
    let cfg = PodNetConfig {
        node_name: ns[i].name.clone(),
        node_ip: ns[i].ip,
        mode,
    };
    let objects = objects.to_vec();
    lan.host(i)
        .netns
        .run(move || reconcile(&cfg, &objects, &mut IpLinks))
        .expect("enter node")
        .expect("reconcile")
        .expect("a plan: the node has a pod CIDR")
        .routes
        .len()
}

fn who(from: &PodNode, to: &PodNode) -> String {
    let addr = SocketAddr::from((to.pod_ip, 8080));
    from.pod
        .run(move || tcp_who(addr, REQUEST_TIMEOUT))
        .expect("enter pod")
        .unwrap_or_else(|e| panic!("{} -> {addr}: {e}", from.name))
}

fn all_reach_all(ns: &[PodNode]) {
    for a in ns {
        for (j, b) in ns.iter().enumerate() {
            if a.name != b.name {
                assert_eq!(who(a, b), format!("pod-{j}"), "{} -> {}", a.name, b.name);
            }
        }
    }
}

fn berth_routes(lan: &Lan, i: usize) -> String {
    lan.host(i)
        .netns
        .ip(&["-4", "route", "show", "proto", "195"])
        .expect("routes")
}

fn has_vxlan(lan: &Lan, i: usize) -> bool {
    lan.host(i)
        .netns
        .ip(&["link"])
        .expect("links")
        .contains(VXLAN_DEV)
}

#[test]
fn host_gw_routes_each_nodes_pods_and_follows_the_nodes() {
    root();
    let lan = Lan::new(3, "192.168.80.0/24", None).expect("lan");
    let ns = nodes(&lan);
    let objects: Vec<_> = ns.iter().map(node_object).collect();
    for i in 0..ns.len() {
        assert_eq!(apply(&lan, &ns, i, &objects, Mode::Auto), 2);
    }
    all_reach_all(&ns);
    let before = berth_routes(&lan, 0);
    assert!(
        before.contains("10.244.81.0/24 via 192.168.80.2"),
        "{before}"
    );
    assert!(!has_vxlan(&lan, 0));
    // Idempotent: the same input leaves the same routes.
    apply(&lan, &ns, 0, &objects, Mode::Auto);
    assert_eq!(berth_routes(&lan, 0), before);
    // Node 2 leaves: its route goes, the others stay.
    assert_eq!(apply(&lan, &ns, 0, &objects[..2], Mode::Auto), 1);
    let after = berth_routes(&lan, 0);
    assert!(!after.contains("10.244.82.0"), "{after}");
    assert_eq!(who(&ns[0], &ns[1]), "pod-1");
}

#[test]
fn vxlan_carries_pod_traffic_and_goes_when_no_longer_needed() {
    root();
    let lan = Lan::new(2, "192.168.81.0/24", None).expect("lan");
    let ns = nodes(&lan);
    let objects: Vec<_> = ns.iter().map(node_object).collect();
    for i in 0..ns.len() {
        apply(&lan, &ns, i, &objects, Mode::Vxlan);
    }
    let link = lan
        .host(0)
        .netns
        .ip(&["-d", "link", "show", VXLAN_DEV])
        .expect("vxlan");
    assert!(link.contains("mtu 1450"), "{link}");
    assert!(link.contains("vxlan id 1"), "{link}");
    let routes = berth_routes(&lan, 0);
    assert!(
        routes.contains(&format!("10.244.81.0/24 via 10.244.81.0 dev {VXLAN_DEV}")),
        "{routes}"
    );
    all_reach_all(&ns);
    // A reconcile with the same input changes nothing.
    apply(&lan, &ns, 0, &objects, Mode::Vxlan);
    assert_eq!(berth_routes(&lan, 0), routes);
    // Back to host-gw: the device goes, traffic flows directly.
    for i in 0..ns.len() {
        apply(&lan, &ns, i, &objects, Mode::Auto);
    }
    assert!(!has_vxlan(&lan, 0));
    all_reach_all(&ns);
}

#[test]
fn auto_picks_vxlan_between_nodes_on_different_subnets() {
    root();
    let lan = Lan::new(2, "192.168.82.0/24", None).expect("lan");
    let mut ns = nodes(&lan);
    // Node 1 moves to another subnet of the same wire; each node reaches
    // the other's address only through its default route (as through a
    // router), never as an on-link neighbour of its own subnet.
    let h = lan.host(1);
    h.netns
        .ip(&["addr", "flush", "dev", &h.ifname])
        .expect("flush");
    h.netns
        .ip(&["addr", "add", "192.168.83.2/24", "dev", &h.ifname])
        .expect("new address");
    h.netns
        .ip(&["route", "replace", "default", "dev", &h.ifname])
        .expect("default route");
    ns[1].ip = Ipv4Addr::new(192, 168, 83, 2);
    let objects: Vec<_> = ns.iter().map(node_object).collect();
    for i in 0..ns.len() {
        assert_eq!(apply(&lan, &ns, i, &objects, Mode::Auto), 1);
        assert!(has_vxlan(&lan, i), "node-{i} has no {VXLAN_DEV}");
    }
    let routes = berth_routes(&lan, 0);
    assert!(
        routes.contains(&format!("10.244.81.0/24 via 10.244.81.0 dev {VXLAN_DEV}")),
        "{routes}"
    );
    all_reach_all(&ns);
}
