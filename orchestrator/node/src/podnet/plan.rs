//! What the node's links, routes and neighbours should be, given the other
//! nodes: a pure function, so every decision is unit-tested.
//!
//! - **host-gw** (flannel's): a peer whose `InternalIP` is on one of this
//!   node's underlay subnets is reached directly: `podCIDR via nodeIP dev
//!   <underlay>`.
//! - **VXLAN** otherwise: one device `berth.1` (VNI 1, UDP 8472, as
//!   flannel's) with this node's VTEP address (the network address of its
//!   pod CIDR, /32) and a MAC derived from its node IP, so that no
//!   annotation is needed to learn a peer's: per peer a route `podCIDR via
//!   <peer VTEP> dev berth.1 onlink`, a permanent neighbour (peer VTEP →
//!   peer MAC) and an FDB entry (peer MAC → peer node IP). The device's MTU
//!   is the underlay's less the 50 bytes of VXLAN over IPv4.
//!
//! IPv4 only: IPv6 pod CIDRs are left out (see the README).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};

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

/// This node's side of the underlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Underlay {
    /// The interface holding the node IP.
    pub dev: String,
    /// Its subnets (on-link peers).
    pub subnets: Vec<IpNet>,
    /// Its MTU.
    pub mtu: u32,
}

/// A node as the plan sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeNet {
    /// The Node's name.
    pub name: String,
    /// Its `InternalIP`.
    pub ip: Ipv4Addr,
    /// Its IPv4 pod CIDR.
    pub pod_cidr: Ipv4Net,
}

/// A route Berth owns (tagged with its routing protocol number).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub dst: Ipv4Net,
    pub via: Ipv4Addr,
    pub dev: String,
    /// `onlink`: the gateway is not on the device's subnets (VXLAN).
    pub onlink: bool,
}

/// The VXLAN device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vxlan {
    pub local: Ipv4Addr,
    pub dev: String,
    pub mac: [u8; 6],
    pub vtep: Ipv4Addr,
    pub mtu: u32,
}

/// A peer's VTEP: neighbour and FDB entries on the VXLAN device.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vtep {
    pub addr: Ipv4Addr,
    pub mac: [u8; 6],
    pub node_ip: Ipv4Addr,
}

/// The whole desired state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub vxlan: Option<Vxlan>,
    pub routes: Vec<Route>,
    pub vteps: Vec<Vtep>,
    /// Peers left out, with why (logged).
    pub unreachable: Vec<(String, String)>,
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
    let on_link = |ip: Ipv4Addr| underlay.subnets.iter().any(|n| n.contains(&IpAddr::V4(ip)));
    let mut overlay = Vec::new();
    for peer in peers.iter().filter(|n| n.name != local.name) {
        if peer.pod_cidr == local.pod_cidr || peer.ip == local.ip {
            p.unreachable.push((
                peer.name.clone(),
                "same pod CIDR or node IP as this node".into(),
            ));
            continue;
        }
        let direct = match mode {
            Mode::HostGw => true,
            Mode::Vxlan => false,
            Mode::Auto => on_link(peer.ip),
        };
        if direct {
            if !on_link(peer.ip) {
                p.unreachable.push((
                    peer.name.clone(),
                    format!("{} is not on {}'s subnets (host-gw)", peer.ip, underlay.dev),
                ));
                continue;
            }
            p.routes.push(Route {
                dst: peer.pod_cidr,
                via: peer.ip,
                dev: underlay.dev.clone(),
                onlink: false,
            });
        } else {
            overlay.push(peer);
        }
    }
    if !overlay.is_empty() {
        p.vxlan = Some(Vxlan {
            local: local.ip,
            dev: underlay.dev.clone(),
            mac: vtep_mac(local.ip),
            vtep: local.pod_cidr.network(),
            mtu: underlay.mtu.saturating_sub(VXLAN_OVERHEAD),
        });
        for peer in overlay {
            let vtep = peer.pod_cidr.network();
            p.routes.push(Route {
                dst: peer.pod_cidr,
                via: vtep,
                dev: VXLAN_DEV.into(),
                onlink: true,
            });
            p.vteps.push(Vtep {
                addr: vtep,
                mac: vtep_mac(peer.ip),
                node_ip: peer.ip,
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
            ip: ip.parse().expect("ip"),
            pod_cidr: cidr.parse().expect("cidr"),
        }
    }

    fn underlay() -> Underlay {
        Underlay {
            dev: "eth0".into(),
            subnets: vec!["192.168.5.0/24".parse().expect("net")],
            mtu: 1500,
        }
    }

    fn nodes() -> Vec<NodeNet> {
        vec![
            node("a", "192.168.5.1", "10.244.0.0/24"),
            node("b", "192.168.5.2", "10.244.1.0/24"),
            node("c", "192.168.9.3", "10.244.2.0/24"),
        ]
    }

    #[test]
    fn auto_routes_on_link_peers_directly_and_others_over_vxlan() {
        let all = nodes();
        let p = plan(&all[0], &underlay(), &all, Mode::Auto);
        assert_eq!(
            p.routes,
            vec![
                Route {
                    dst: "10.244.1.0/24".parse().expect("net"),
                    via: "192.168.5.2".parse().expect("ip"),
                    dev: "eth0".into(),
                    onlink: false,
                },
                Route {
                    dst: "10.244.2.0/24".parse().expect("net"),
                    via: "10.244.2.0".parse().expect("ip"),
                    dev: VXLAN_DEV.into(),
                    onlink: true,
                },
            ]
        );
        let v = p.vxlan.expect("vxlan for c");
        assert_eq!(v.vtep, "10.244.0.0".parse::<Ipv4Addr>().expect("ip"));
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
        all[1].pod_cidr = all[0].pod_cidr;
        let p = plan(&all[0], &underlay(), &all, Mode::Auto);
        assert!(p.routes.iter().all(|r| r.dst != all[0].pod_cidr));
        assert_eq!(p.unreachable[0].0, "b");
    }

    #[test]
    fn modes_parse_and_errors_name_the_value() {
        assert_eq!("vxlan".parse::<Mode>(), Ok(Mode::Vxlan));
        let e = "gre".parse::<Mode>().expect_err("bad");
        assert!(e.contains("\"gre\""), "{e}");
    }
}
