//! Pod networking across nodes on the real kernel: namespace "nodes" on one
//! switched LAN, each with a pod bridge and a pod (its own namespace, a
//! veth, an echo server), and `berth_node::podnet` with iproute2 in each
//! node's namespace, fed the Node objects:
//!
//! Pods are dual-stack (an IPv4 and an IPv6 address, each node its /24 and
//! /64), so every check runs for both families:
//!
//! - host-gw: every pod reaches every other node's pod, IPv6 through the
//!   nodes' IPv6 addresses; a second reconcile writes nothing; a node that
//!   leaves loses its routes;
//! - VXLAN: the same through the overlay (device, MTU underlay - 50), which
//!   carries IPv6 pods between IPv4 node addresses; going back to host-gw
//!   removes the device and traffic still flows;
//! - nodes on different subnets: auto picks VXLAN for both families.
//!
//! Needs root.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use berth_api::node::{NodeAddress, NodeAddressType};
use berth_api::{Node, ObjectMeta};
use berth_node::podnet::netlink::NetlinkLinks;
use berth_node::podnet::plan::VXLAN_DEV;
use berth_node::podnet::{Mode, PodNetConfig, reconcile};
use berth_test_support::echo::tcp_who;
use berth_test_support::{Bridge, Lan, Netns, TcpEcho, Veth};

/// Only catches a hang: one request between pods.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

struct PodNode {
    name: String,
    ip: Ipv4Addr,
    /// Its IPv6 node address, when the LAN has IPv6 (host-gw over IPv6).
    ip6: Option<Ipv6Addr>,
    pod_ip: Ipv4Addr,
    pod_ip6: Ipv6Addr,
    // Dropped before the LAN (field order): the pod's namespace and echoes.
    _echo: TcpEcho,
    _echo6: TcpEcho,
    pod: Netns,
    _veth: Veth,
    _bridge: Bridge,
}

fn root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "pod network tests need root");
}

/// `n` nodes on a LAN; node i's pods are 10.244.(80+i).0/24 and
/// fd00:10:244:(80+i)::/64, its pod .2 and ::2 behind bridge addresses .1
/// and ::1.
fn nodes(lan: &Lan) -> Vec<PodNode> {
    lan.hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let ns = &h.netns;
            ns.enable_ip_forward().expect("ip_forward");
            let net = 80 + i as u8;
            let bridge = Bridge::new(Some(ns)).expect("bridge");
            for addr in [
                format!("10.244.{net}.1/24"),
                format!("fd00:10:244:{net}::1/64"),
            ] {
                ns.ip(&["addr", "add", &addr, "dev", bridge.name(), "nodad"])
                    .expect("bridge address");
            }
            let pod = Netns::new().expect("pod netns");
            let veth = Veth::new(&pod, Some(ns)).expect("veth");
            bridge.attach(veth.b_name(), Some(ns)).expect("attach");
            for addr in [
                format!("10.244.{net}.2/24"),
                format!("fd00:10:244:{net}::2/64"),
            ] {
                pod.ip(&["addr", "add", &addr, "dev", veth.a_name(), "nodad"])
                    .expect("pod address");
            }
            pod.ip(&["route", "add", "default", "via", &format!("10.244.{net}.1")])
                .expect("pod route");
            pod.ip(&[
                "-6",
                "route",
                "add",
                "default",
                "via",
                &format!("fd00:10:244:{net}::1"),
            ])
            .expect("pod route v6");
            let pod_ip = Ipv4Addr::new(10, 244, net, 2);
            let pod_ip6: Ipv6Addr = format!("fd00:10:244:{net}::2").parse().expect("v6");
            let id = format!("pod-{i}");
            let echo = TcpEcho::start(&pod, SocketAddr::from((pod_ip, 8080)), &id).expect("echo");
            let echo6 =
                TcpEcho::start(&pod, SocketAddr::from((pod_ip6, 8080)), &id).expect("echo6");
            PodNode {
                name: format!("node-{i}"),
                ip: h.ipv4,
                ip6: h.ipv6,
                pod_ip,
                pod_ip6,
                _echo: echo,
                _echo6: echo6,
                pod,
                _veth: veth,
                _bridge: bridge,
            }
        })
        .collect()
}

fn node_object(n: &PodNode) -> Arc<Node> {
    let cidr = format!("{}/24", Ipv4Addr::from(u32::from(n.pod_ip) & !0xff));
    let cidr6 = format!("{}/64", Ipv6Addr::from(u128::from(n.pod_ip6) & !0xffff));
    let mut node = Node {
        metadata: ObjectMeta {
            name: n.name.clone(),
            ..ObjectMeta::default()
        },
        ..Node::default()
    };
    node.spec.pod_cidr = cidr.clone();
    node.spec.pod_cidrs = vec![cidr, cidr6];
    let ips = std::iter::once(n.ip.to_string()).chain(n.ip6.map(|ip| ip.to_string()));
    node.status.addresses = ips
        .map(|address| NodeAddress {
            type_: NodeAddressType::InternalIP,
            address,
        })
        .collect();
    Arc::new(node)
}

/// Reconciles node `i` against `objects` in its namespace; returns how
/// many routes it planned.
fn apply(lan: &Lan, ns: &[PodNode], i: usize, objects: &[Arc<Node>], mode: Mode) -> usize {
    let cfg = PodNetConfig {
        node_name: ns[i].name.clone(),
        node_ip4: Some(ns[i].ip),
        node_ip6: ns[i].ip6,
        mode,
    };
    let objects = objects.to_vec();
    let p = lan
        .host(i)
        .netns
        .run(move || reconcile(&cfg, &objects, &mut NetlinkLinks))
        .expect("enter node")
        .expect("reconcile")
        .expect("a plan: the node has a pod CIDR");
    assert!(p.unreachable.is_empty(), "{:?}", p.unreachable);
    p.routes.len()
}

fn who(from: &PodNode, to: IpAddr) -> String {
    let addr = SocketAddr::new(to, 8080);
    from.pod
        .run(move || tcp_who(addr, REQUEST_TIMEOUT))
        .expect("enter pod")
        .unwrap_or_else(|e| panic!("{} -> {addr}: {e}", from.name))
}

/// Every pod reaches every other node's pod, over IPv4 and over IPv6.
fn all_reach_all(ns: &[PodNode]) {
    for a in ns {
        for (j, b) in ns.iter().enumerate() {
            if a.name != b.name {
                for to in [IpAddr::V4(b.pod_ip), IpAddr::V6(b.pod_ip6)] {
                    assert_eq!(who(a, to), format!("pod-{j}"), "{} -> {to}", a.name);
                }
            }
        }
    }
}

/// Berth's routes of a family (`-4`, `-6`) in node `i`.
fn berth_routes(lan: &Lan, i: usize, family: &str) -> String {
    lan.host(i)
        .netns
        .ip(&[family, "route", "show", "proto", "195"])
        .expect("routes")
}

/// The VXLAN device's permanent neighbours and its FDB entries.
fn vteps(lan: &Lan, i: usize) -> String {
    let netns = &lan.host(i).netns;
    let neigh = netns
        .ip(&["neigh", "show", "dev", VXLAN_DEV, "nud", "permanent"])
        .expect("neighbours");
    let fdb = netns
        .command("bridge")
        .args(["fdb", "show", "dev", VXLAN_DEV])
        .output()
        .expect("bridge fdb");
    neigh + &String::from_utf8_lossy(&fdb.stdout)
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
    let lan = Lan::new(3, "192.168.80.0/24", Some("fd00:192:168:80::/64")).expect("lan");
    let ns = nodes(&lan);
    let objects: Vec<_> = ns.iter().map(node_object).collect();
    for i in 0..ns.len() {
        assert_eq!(apply(&lan, &ns, i, &objects, Mode::Auto), 4);
    }
    all_reach_all(&ns);
    let before = berth_routes(&lan, 0, "-4");
    assert!(
        before.contains("10.244.81.0/24 via 192.168.80.2"),
        "{before}"
    );
    // IPv6 pods through the nodes' IPv6 addresses.
    let before6 = berth_routes(&lan, 0, "-6");
    assert!(
        before6.contains("fd00:10:244:81::/64 via fd00:192:168:80::2"),
        "{before6}"
    );
    assert!(!has_vxlan(&lan, 0));
    // Idempotent: the same input leaves the same routes.
    apply(&lan, &ns, 0, &objects, Mode::Auto);
    assert_eq!(berth_routes(&lan, 0, "-4"), before);
    assert_eq!(berth_routes(&lan, 0, "-6"), before6);
    // Node 2 leaves: its routes go, the others stay.
    assert_eq!(apply(&lan, &ns, 0, &objects[..2], Mode::Auto), 2);
    let after = berth_routes(&lan, 0, "-4") + &berth_routes(&lan, 0, "-6");
    assert!(
        !after.contains("10.244.82.0") && !after.contains("fd00:10:244:82::"),
        "{after}"
    );
    assert_eq!(who(&ns[0], IpAddr::V6(ns[1].pod_ip6)), "pod-1");
}

#[test]
fn vxlan_carries_pod_traffic_and_goes_when_no_longer_needed() {
    root();
    // An IPv4-only underlay: IPv6 pods ride the IPv4 VXLAN.
    let lan = Lan::new(2, "192.168.81.0/24", None).expect("lan");
    let ns = nodes(&lan);
    let objects: Vec<_> = ns.iter().map(node_object).collect();
    for i in 0..ns.len() {
        assert_eq!(apply(&lan, &ns, i, &objects, Mode::Vxlan), 2);
    }
    let link = lan
        .host(0)
        .netns
        .ip(&["-d", "link", "show", VXLAN_DEV])
        .expect("vxlan");
    assert!(link.contains("mtu 1450"), "{link}");
    assert!(link.contains("vxlan id 1"), "{link}");
    let routes = berth_routes(&lan, 0, "-4");
    assert!(
        routes.contains(&format!("10.244.81.0/24 via 10.244.81.0 dev {VXLAN_DEV}")),
        "{routes}"
    );
    let routes6 = berth_routes(&lan, 0, "-6");
    assert!(
        routes6.contains(&format!(
            "fd00:10:244:81::/64 via fd00:10:244:81:: dev {VXLAN_DEV}"
        )),
        "{routes6}"
    );
    // The peer's VTEPs: a permanent neighbour per family, one FDB entry
    // to its node IP.
    let entries = vteps(&lan, 0);
    for want in [
        "10.244.81.0 lladdr 0e:be:c0:a8:51:02 PERMANENT",
        "fd00:10:244:81:: lladdr 0e:be:c0:a8:51:02 PERMANENT",
        "0e:be:c0:a8:51:02 dst 192.168.81.2 self permanent",
    ] {
        assert!(entries.contains(want), "{want} in {entries}");
    }
    all_reach_all(&ns);
    // A reconcile with the same input changes nothing.
    apply(&lan, &ns, 0, &objects, Mode::Vxlan);
    assert_eq!(berth_routes(&lan, 0, "-4"), routes);
    assert_eq!(berth_routes(&lan, 0, "-6"), routes6);
    assert_eq!(vteps(&lan, 0), entries);
    // Back to auto: IPv4 goes host-gw; IPv6 (no IPv6 node addresses)
    // stays on the overlay, and both still flow.
    for i in 0..ns.len() {
        apply(&lan, &ns, i, &objects, Mode::Auto);
    }
    assert!(
        berth_routes(&lan, 0, "-4").contains("10.244.81.0/24 via 192.168.81.2"),
        "{}",
        berth_routes(&lan, 0, "-4")
    );
    assert!(has_vxlan(&lan, 0));
    all_reach_all(&ns);
    // No IPv6 pod CIDRs any more: nothing needs the overlay, it goes.
    let v4_only: Vec<Arc<Node>> = objects
        .iter()
        .map(|n| {
            let mut n = (**n).clone();
            n.spec.pod_cidrs.truncate(1);
            Arc::new(n)
        })
        .collect();
    for i in 0..ns.len() {
        apply(&lan, &ns, i, &v4_only, Mode::Auto);
    }
    assert!(!has_vxlan(&lan, 0));
    assert_eq!(berth_routes(&lan, 0, "-6"), "");
    assert_eq!(who(&ns[0], IpAddr::V4(ns[1].pod_ip)), "pod-1");
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
        assert_eq!(apply(&lan, &ns, i, &objects, Mode::Auto), 2);
        assert!(has_vxlan(&lan, i), "node-{i} has no {VXLAN_DEV}");
    }
    let routes = berth_routes(&lan, 0, "-4");
    assert!(
        routes.contains(&format!("10.244.81.0/24 via 10.244.81.0 dev {VXLAN_DEV}")),
        "{routes}"
    );
    all_reach_all(&ns);
}
