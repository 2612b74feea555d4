//! What the node's links, routes and neighbours should be, given the other
//! nodes: a pure function, so every decision is unit-tested. Each family
//! of pod CIDRs (IPv4 and IPv6) is routed on its own:
//!
//! - **host-gw** (flannel's): a peer whose `InternalIP` of the same family
//!   is on one of this node's underlay subnets is reached directly:
//!   `podCIDR via nodeIP dev <underlay>`.
//! - **VXLAN** otherwise: one device `berth.1` (VNI 1, UDP 8472, as
//!   flannel's) over the nodes' IPv4 addresses, carrying IPv4 and IPv6
//!   pods alike. This node's VTEP addresses are the network addresses of
//!   its pod CIDRs (/32, /128) and its MAC is derived from its IPv4 node
//!   IP, so that no annotation is needed to learn a peer's: per peer and
//!   family a route `podCIDR via <peer VTEP> dev berth.1 onlink`, a
//!   permanent neighbour (peer VTEP → peer MAC), and per peer an FDB entry
//!   (peer MAC → peer node IP). The device's MTU is the underlay's less the
//!   50 bytes of VXLAN over IPv4.
//!
//! A family this node has no pod CIDR of is not routed. A peer reached
//! neither way (host-gw to another subnet, VXLAN without IPv4 node
//! addresses, a duplicate CIDR) is left out with the reason.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The VXLAN device's name.
pub const VXLAN_DEV: &str = "berth.1";
/// Its VNI.
pub const VXLAN_VNI: u32 = 1;
/// Its UDP port (flannel's, the Linux default is 8472 too).
pub const VXLAN_PORT: u16 = 8472;
/// Outer IPv4 + UDP + VXLAN + inner Ethernet headers.
pub const VXLAN_OVERHEAD: u32 = 50;

/// How peers are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// host-gw where the peer shares a subnet, VXLAN otherwise.
    Auto,
    /// Direct routes only (a peer on another subnet is unreachable).
    HostGw,
    /// VXLAN for every peer.
    Vxlan,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Mode::Auto),
            "host-gw" => Ok(Mode::HostGw),
            "vxlan" => Ok(Mode::Vxlan),
            _ => Err(format!(
                "invalid value {s:?}: must be auto, host-gw or vxlan"
            )),
        }
    }
}

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// Both, in the order routes are planned.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// `IPv4` or `IPv6`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

/// This node's side of the underlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Underlay {
    /// The interface holding the node IP.
    pub dev: String,
    /// Its subnets, IPv4 and IPv6 (on-link peers).
    pub subnets: Vec<IpNet>,
    /// Its MTU.
    pub mtu: u32,
}

/// A node as the plan sees it: its `InternalIP` and pod CIDR of each
/// family it has.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeNet {
    /// The Node's name.
    pub name: String,
    /// Its IPv4 `InternalIP`.
    pub ip4: Option<Ipv4Addr>,
    /// Its IPv6 `InternalIP`.
    pub ip6: Option<Ipv6Addr>,
    /// Its IPv4 pod CIDR.
    pub cidr4: Option<Ipv4Net>,
    /// Its IPv6 pod CIDR.
    pub cidr6: Option<Ipv6Net>,
}

impl NodeNet {
    /// Its `InternalIP` of `family`.
    pub fn ip(&self, family: Family) -> Option<IpAddr> {
        match family {
            Family::V4 => self.ip4.map(IpAddr::V4),
            Family::V6 => self.ip6.map(IpAddr::V6),
        }
    }

    /// Its pod CIDR of `family`.
    pub fn cidr(&self, family: Family) -> Option<IpNet> {
        match family {
            Family::V4 => self.cidr4.map(IpNet::V4),
            Family::V6 => self.cidr6.map(IpNet::V6),
        }
    }

    /// Whether it shares an `InternalIP` with `other`.
    fn shares_an_ip(&self, other: &NodeNet) -> bool {
        (self.ip4.is_some() && self.ip4 == other.ip4)
            || (self.ip6.is_some() && self.ip6 == other.ip6)
    }
}

/// A route Berth owns (tagged with its routing protocol number).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub dst: IpNet,
    pub via: IpAddr,
    pub dev: String,
    /// `onlink`: the gateway is not on the device's subnets (VXLAN).
    pub onlink: bool,
}

impl Route {
    /// Its family.
    pub fn family(&self) -> Family {
        match self.dst {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }
}

/// The VXLAN device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vxlan {
    /// The IPv4 node IP the tunnel runs from.
    pub local: Ipv4Addr,
    /// The underlay device.
    pub dev: String,
    pub mac: [u8; 6],
    /// This node's VTEP addresses: the network address of each pod CIDR
    /// it has (/32, /128).
    pub vteps: Vec<IpAddr>,
    pub mtu: u32,
}

/// A peer's VTEP of one family: a neighbour entry (and the FDB entry of
/// its MAC) on the VXLAN device.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vtep {
    pub addr: IpAddr,
    pub mac: [u8; 6],
    pub node_ip: Ipv4Addr,
}

/// The whole desired state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub vxlan: Option<Vxlan>,
    pub routes: Vec<Route>,
    pub vteps: Vec<Vtep>,
    /// Peers (and families) left out, with why (logged).
    pub unreachable: Vec<(String, String)>,
}

impl Plan {
    /// Whether it routes any pod CIDR of `family`.
    pub fn routes_family(&self, family: Family) -> bool {
        self.routes.iter().any(|r| r.family() == family)
    }
}

/// The MAC of a node's VTEP: locally administered, unicast, from its IP.
pub fn vtep_mac(node_ip: Ipv4Addr) -> [u8; 6] {
    let o = node_ip.octets();
    [0x0e, 0xbe, o[0], o[1], o[2], o[3]]
}

/// Formats a MAC as `aa:bb:...`.
pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The plan for `local` among `peers` (the local node may be among them).
pub fn plan(local: &NodeNet, underlay: &Underlay, peers: &[NodeNet], mode: Mode) -> Plan {
    let mut p = Plan::default();
    let on_link = |ip: IpAddr| underlay.subnets.iter().any(|n| n.contains(&ip));
    // (peer's IPv4 node IP, a pod CIDR of it) reached over VXLAN.
    let mut overlay: Vec<(Ipv4Addr, IpNet)> = Vec::new();
    for peer in peers.iter().filter(|n| n.name != local.name) {
        for family in Family::ALL {
            let (Some(dst), Some(mine)) = (peer.cidr(family), local.cidr(family)) else {
                continue;
            };
            if dst == mine || peer.shares_an_ip(local) {
                p.unreachable.push((
                    peer.name.clone(),
                    "same pod CIDR or node IP as this node".into(),
                ));
                continue;
            }
            let gateway = peer.ip(family).filter(|ip| on_link(*ip));
            let direct = match mode {
                Mode::HostGw => true,
                Mode::Vxlan => false,
                Mode::Auto => gateway.is_some(),
            };
            if direct {
                let Some(via) = gateway else {
                    let why = match peer.ip(family) {
                        Some(ip) => format!("{ip} is not on {}'s subnets (host-gw)", underlay.dev),
                        None => format!("it has no {} address (host-gw)", family.name()),
                    };
                    p.unreachable.push((peer.name.clone(), why));
                    continue;
                };
                p.routes.push(Route {
                    dst,
                    via,
                    dev: underlay.dev.clone(),
                    onlink: false,
                });
            } else {
                match (local.ip4, peer.ip4) {
                    (Some(_), Some(peer_ip)) => overlay.push((peer_ip, dst)),
                    _ => p.unreachable.push((
                        peer.name.clone(),
                        format!(
                            "VXLAN runs between IPv4 node addresses and {} has none ({} pods)",
                            if local.ip4.is_none() {
                                "this node"
                            } else {
                                "it"
                            },
                            family.name()
                        ),
                    )),
                }
            }
        }
    }
    if let (false, Some(local_ip)) = (overlay.is_empty(), local.ip4) {
        p.vxlan = Some(Vxlan {
            local: local_ip,
            dev: underlay.dev.clone(),
            mac: vtep_mac(local_ip),
            vteps: Family::ALL
                .iter()
                .filter_map(|f| local.cidr(*f).map(|c| c.network()))
                .collect(),
            mtu: underlay.mtu.saturating_sub(VXLAN_OVERHEAD),
        });
        for (peer_ip, dst) in overlay {
            let vtep = dst.network();
            p.routes.push(Route {
                dst,
                via: vtep,
                dev: VXLAN_DEV.into(),
                onlink: true,
            });
            p.vteps.push(Vtep {
                addr: vtep,
                mac: vtep_mac(peer_ip),
                node_ip: peer_ip,
            });
        }
    }
    p.routes.sort();
    p.vteps.sort();
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ip: &str, cidr: &str) -> NodeNet {
        NodeNet {
            name: name.into(),
            ip4: Some(ip.parse().expect("ip")),
            cidr4: Some(cidr.parse().expect("cidr")),
            ..NodeNet::default()
        }
    }

    /// `node` with an IPv6 address and pod CIDR too.
    fn dual(name: &str, ip: &str, cidr: &str, ip6: &str, cidr6: &str) -> NodeNet {
        NodeNet {
            ip6: Some(ip6.parse().expect("ip6")),
            cidr6: Some(cidr6.parse().expect("cidr6")),
            ..node(name, ip, cidr)
        }
    }

    /// Two dual-stack nodes on 192.168.5.0/24 and fd00:5::/64.
    fn dual_a() -> NodeNet {
        dual(
            "a",
            "192.168.5.1",
            "10.244.0.0/24",
            "fd00:5::1",
            "fd00:10:244::/64",
        )
    }

    fn dual_b() -> NodeNet {
        dual(
            "b",
            "192.168.5.2",
            "10.244.1.0/24",
            "fd00:5::2",
            "fd00:10:244:1::/64",
        )
    }

    fn underlay() -> Underlay {
        Underlay {
            dev: "eth0".into(),
            subnets: vec!["192.168.5.0/24".parse().expect("net")],
            mtu: 1500,
        }
    }

    fn dual_underlay() -> Underlay {
        let mut u = underlay();
        u.subnets.push("fd00:5::/64".parse().expect("net"));
        u
    }

    fn nodes() -> Vec<NodeNet> {
        vec![
            node("a", "192.168.5.1", "10.244.0.0/24"),
            node("b", "192.168.5.2", "10.244.1.0/24"),
            node("c", "192.168.9.3", "10.244.2.0/24"),
        ]
    }

    fn route(dst: &str, via: &str, dev: &str, onlink: bool) -> Route {
        Route {
            dst: dst.parse().expect("net"),
            via: via.parse().expect("ip"),
            dev: dev.into(),
            onlink,
        }
    }

    #[test]
    fn auto_routes_on_link_peers_directly_and_others_over_vxlan() {
        let all = nodes();
        let p = plan(&all[0], &underlay(), &all, Mode::Auto);
        assert_eq!(
            p.routes,
            vec![
                route("10.244.1.0/24", "192.168.5.2", "eth0", false),
                route("10.244.2.0/24", "10.244.2.0", VXLAN_DEV, true),
            ]
        );
        let v = p.vxlan.expect("vxlan for c");
        assert_eq!(v.vteps, vec!["10.244.0.0".parse::<IpAddr>().expect("ip")]);
        assert_eq!(v.mtu, 1450);
        assert_eq!(mac_string(&v.mac), "0e:be:c0:a8:05:01");
        assert_eq!(
            p.vteps,
            vec![Vtep {
                addr: "10.244.2.0".parse().expect("ip"),
                mac: vtep_mac("192.168.9.3".parse().expect("ip")),
                node_ip: "192.168.9.3".parse().expect("ip"),
            }]
        );
        assert!(p.unreachable.is_empty());
    }

    #[test]
    fn host_gw_leaves_out_a_peer_on_another_subnet_and_says_why() {
        let all = nodes();
        let p = plan(&all[0], &underlay(), &all, Mode::HostGw);
        assert_eq!(p.routes.len(), 1);
        assert!(p.vxlan.is_none());
        assert_eq!(p.unreachable.len(), 1);
        assert!(
            p.unreachable[0].1.contains("192.168.9.3"),
            "{:?}",
            p.unreachable
        );
    }

    #[test]
    fn vxlan_mode_overlays_every_peer_and_no_peer_means_no_device() {
        let all = nodes();
        let p = plan(&all[1], &underlay(), &all, Mode::Vxlan);
        assert_eq!(p.routes.len(), 2);
        assert!(p.routes.iter().all(|r| r.dev == VXLAN_DEV && r.onlink));
        assert_eq!(p.vteps.len(), 2);
        let alone = plan(&all[1], &underlay(), &all[1..2], Mode::Vxlan);
        assert_eq!(alone, Plan::default());
    }

    #[test]
    fn a_peer_claiming_this_nodes_cidr_is_refused() {
        let mut all = nodes();
        all[1].cidr4 = all[0].cidr4;
        let p = plan(&all[0], &underlay(), &all, Mode::Auto);
        assert!(
            p.routes
                .iter()
                .all(|r| r.dst != all[0].cidr(Family::V4).expect("cidr"))
        );
        assert_eq!(p.unreachable[0].0, "b");
    }

    #[test]
    fn dual_stack_peers_on_link_get_a_direct_route_per_family() {
        let all = [dual_a(), dual_b()];
        let p = plan(&all[0], &dual_underlay(), &all, Mode::Auto);
        assert_eq!(
            p.routes,
            vec![
                route("10.244.1.0/24", "192.168.5.2", "eth0", false),
                route("fd00:10:244:1::/64", "fd00:5::2", "eth0", false),
            ]
        );
        assert!(p.vxlan.is_none() && p.unreachable.is_empty());
        assert!(p.routes_family(Family::V6));
    }

    #[test]
    fn ipv6_pods_ride_the_ipv4_vxlan_where_no_ipv6_underlay_reaches() {
        // The nodes share an IPv4 subnet but have no IPv6 addresses: IPv4
        // goes host-gw, IPv6 over VXLAN between the IPv4 node addresses.
        let mut a = dual_a();
        let mut b = dual_b();
        a.ip6 = None;
        b.ip6 = None;
        let all = [a, b];
        let p = plan(&all[0], &underlay(), &all, Mode::Auto);
        assert_eq!(
            p.routes,
            vec![
                route("10.244.1.0/24", "192.168.5.2", "eth0", false),
                route("fd00:10:244:1::/64", "fd00:10:244:1::", VXLAN_DEV, true),
            ]
        );
        let v = p.vxlan.expect("vxlan for IPv6");
        assert_eq!(
            v.vteps,
            vec![
                "10.244.0.0".parse::<IpAddr>().expect("ip"),
                "fd00:10:244::".parse::<IpAddr>().expect("ip")
            ]
        );
        assert_eq!(
            p.vteps,
            vec![Vtep {
                addr: "fd00:10:244:1::".parse().expect("ip"),
                mac: vtep_mac("192.168.5.2".parse().expect("ip")),
                node_ip: "192.168.5.2".parse().expect("ip"),
            }]
        );
        // Forced VXLAN: both families through the device, one MAC per peer.
        let p = plan(&all[0], &underlay(), &all, Mode::Vxlan);
        assert_eq!(p.routes.len(), 2);
        assert!(p.routes.iter().all(|r| r.dev == VXLAN_DEV));
        assert!(
            p.vteps
                .iter()
                .all(|t| t.mac == vtep_mac("192.168.5.2".parse().expect("ip")))
        );
    }

    #[test]
    fn host_gw_without_a_peers_ipv6_address_and_vxlan_without_ipv4_say_why() {
        let mut a = dual_a();
        let mut b = dual_b();
        b.ip6 = None;
        let p = plan(&a, &dual_underlay(), &[a.clone(), b.clone()], Mode::HostGw);
        assert_eq!(p.routes.len(), 1);
        assert!(
            p.unreachable[0].1.contains("no IPv6 address"),
            "{:?}",
            p.unreachable
        );
        // IPv6-only nodes on different subnets: VXLAN cannot carry them.
        a.ip4 = None;
        a.cidr4 = None;
        b.ip4 = None;
        b.cidr4 = None;
        b.ip6 = Some("fd00:9::2".parse().expect("ip"));
        let p = plan(&a, &dual_underlay(), &[a.clone(), b], Mode::Auto);
        assert!(p.routes.is_empty() && p.vxlan.is_none());
        assert!(p.unreachable[0].1.contains("VXLAN"), "{:?}", p.unreachable);
    }

    #[test]
    fn a_family_this_node_has_no_pods_of_is_not_routed() {
        let a = node("a", "192.168.5.1", "10.244.0.0/24");
        let b = dual_b();
        let p = plan(&a, &dual_underlay(), &[a.clone(), b], Mode::Auto);
        assert_eq!(p.routes.len(), 1);
        assert!(!p.routes_family(Family::V6));
        assert!(p.unreachable.is_empty());
    }

    #[test]
    fn modes_parse_and_errors_name_the_value() {
        assert_eq!("vxlan".parse::<Mode>(), Ok(Mode::Vxlan));
        let e = "gre".parse::<Mode>().expect_err("bad");
        assert!(e.contains("\"gre\""), "{e}");
    }
}
