//! The parsed form of the start-up's flag values that are more than a
//! string or a path: the node's addresses, the pod network mode and a DNS
//! upstream. Each parser's error names the value and what was expected
//! (clap adds the flag).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::podnet::Mode;

/// `--node-ip`: one address, or one of each family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIps(pub Vec<IpAddr>);

impl NodeIps {
    /// The first: the pods' hostIP, and how the node is shown.
    pub fn primary(&self) -> IpAddr {
        self.0[0]
    }

    /// The IPv4 one, if any.
    pub fn v4(&self) -> Option<Ipv4Addr> {
        self.0.iter().find_map(|ip| match ip {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        })
    }

    /// The IPv6 one, if any.
    pub fn v6(&self) -> Option<Ipv6Addr> {
        self.0.iter().find_map(|ip| match ip {
            IpAddr::V6(v6) => Some(*v6),
            IpAddr::V4(_) => None,
        })
    }
}

impl std::fmt::Display for NodeIps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s: Vec<String> = self.0.iter().map(IpAddr::to_string).collect();
        f.write_str(&s.join(","))
    }
}

impl std::str::FromStr for NodeIps {
    type Err = String;

    /// `IP` or `IP,IP` (one IPv4 and one IPv6, either first).
    fn from_str(s: &str) -> Result<Self, String> {
        let ips = s
            .split(',')
            .map(|p| {
                p.trim()
                    .parse::<IpAddr>()
                    .map_err(|_| format!("invalid value {p:?}: not an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        match ips.as_slice() {
            [_] => Ok(NodeIps(ips)),
            [a, b] if a.is_ipv4() != b.is_ipv4() => Ok(NodeIps(ips)),
            [_, _] => Err(format!(
                "invalid value {s:?}: two addresses must be one IPv4 and one IPv6"
            )),
            _ => Err(format!(
                "invalid value {s:?}: one address, or one IPv4 and one IPv6"
            )),
        }
    }
}

/// `--pod-network`: a [`Mode`], or `None` for `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodNetwork(pub Option<Mode>);

impl std::str::FromStr for PodNetwork {
    type Err = String;

    /// `auto`, `host-gw`, `vxlan` or `none`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(PodNetwork(None)),
            _ => s
                .parse()
                .map(|m| PodNetwork(Some(m)))
                .map_err(|e: String| format!("{e} (or none)")),
        }
    }
}

/// A DNS upstream: `IP` (port 53) or `IP:PORT` (`berth dns --upstream`,
/// `berth agent --dns-upstream`).
pub fn parse_upstream(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| format!("invalid value {s:?}: expected IP or IP:PORT"))
}
