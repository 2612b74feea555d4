//! A switched LAN of network-namespace "hosts": the topology used by the
//! load-balancer tests and benchmarks.
//!
//! ```text
//!   host 0 (.1)   host 1 (.2)   ...      each host: its own netns, one veth
//!      │             │                   with IPv4 (+ IPv6) address and
//!   ┌──┴─────────────┴──────┐            on-link default routes
//!   │  bridge (router netns) │
//!   └────────────────────────┘
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::name;
use crate::netns::Netns;

/// How long to wait for IPv6 addresses to leave the tentative state (only to
/// catch a broken kernel; with DAD off it is immediate).
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// `IFA_F_TENTATIVE` in `/proc/net/if_inet6`.
const IFA_F_TENTATIVE: u32 = 0x40;

/// One host of a [`Lan`].
#[derive(Debug)]
pub struct Host {
    /// The host's namespace.
    pub netns: Netns,
    /// Its IPv4 address.
    pub ipv4: Ipv4Addr,
    /// Its IPv6 address, if the LAN has an IPv6 subnet.
    pub ipv6: Option<Ipv6Addr>,
    /// Name of its interface towards the bridge (inside `netns`).
    pub ifname: String,
}

/// `n` hosts on one bridge. Dropping it deletes every namespace, which takes
/// the bridge and all veths with them.
#[derive(Debug)]
pub struct Lan {
    // Dropped in declaration order: hosts first, then the router.
    hosts: Vec<Host>,
    router: Netns,
    bridge: String,
    v4_prefix_len: u8,
    v6_prefix_len: Option<u8>,
}

impl Lan {
    /// Creates a bridge in a "router" namespace and `n_hosts` namespaces
    /// attached to it. Host `i` gets address number `i + 1` of `v4_subnet`
    /// (e.g. `"10.244.7.0/24"` gives .1, .2, ...) and of `v6_subnet` (e.g.
    /// `"fd00:10:244:7::/64"` gives ::1, ::2, ...). IPv6 duplicate address
    /// detection is off, and this returns once no address is tentative.
    ///
    /// Every host also gets an on-link default route (IPv4, and IPv6 when
    /// enabled) through its interface, so that traffic to addresses outside
    /// the subnet (service VIPs) is routed rather than refused.
    pub fn new(n_hosts: usize, v4_subnet: &str, v6_subnet: Option<&str>) -> Result<Lan> {
        let started = Instant::now();
        let (v4_base, v4_len) = parse_v4_subnet(v4_subnet, n_hosts)?;
        let v6 = v6_subnet.map(|s| parse_v6_subnet(s, n_hosts)).transpose()?;

        let router = Netns::new()?;
        disable_dad(&router, v6.is_some())?;
        let bridge = name::unique("b");
        let mut router_cmds = vec![
            format!("link add {bridge} type bridge mcast_snooping 0"),
            format!("link set {bridge} up"),
        ];

        let mut hosts = Vec::with_capacity(n_hosts);
        let mut ports = Vec::with_capacity(n_hosts);
        for i in 0..n_hosts {
            let netns = Netns::new()?;
            disable_dad(&netns, v6.is_some())?;
            let offset = u32::try_from(i + 1).unwrap_or(u32::MAX);
            hosts.push(Host {
                netns,
                ipv4: Ipv4Addr::from(u32::from(v4_base) + offset),
                ipv6: v6.map(|(base, _)| Ipv6Addr::from(u128::from(base) + u128::from(offset))),
                ifname: name::unique("e"),
            });
            ports.push(name::unique("p"));
        }
        for (host, port) in hosts.iter().zip(&ports) {
            router_cmds.push(format!(
                "link add {port} type veth peer name {} netns {}",
                host.ifname,
                host.netns.name()
            ));
            router_cmds.push(format!("link set {port} master {bridge} up"));
        }
        let lan = Lan {
            hosts,
            router,
            bridge,
            v4_prefix_len: v4_len,
            v6_prefix_len: v6.map(|(_, len)| len),
        };
        crate::place::Place::of(Some(&lan.router))?.ip_batch(&router_cmds)?;

        for host in &lan.hosts {
            let dev = &host.ifname;
            let mut cmds = vec![
                format!("link set {dev} up"),
                format!("addr add {}/{v4_len} dev {dev}", host.ipv4),
                format!("route add 0.0.0.0/0 dev {dev}"),
            ];
            if let (Some(addr), Some(len)) = (host.ipv6, lan.v6_prefix_len) {
                cmds.push(format!("addr add {addr}/{len} dev {dev} nodad"));
                cmds.push(format!("route add ::/0 dev {dev}"));
            }
            crate::place::Place::of(Some(&host.netns))?.ip_batch(&cmds)?;
        }
        if lan.v6_prefix_len.is_some() {
            for host in &lan.hosts {
                wait_not_tentative(&host.netns)?;
            }
        }
        tracing::debug!(
            hosts = n_hosts,
            elapsed = ?started.elapsed(),
            router = %lan.router.name(),
            "created LAN"
        );
        Ok(lan)
    }

    /// The hosts, in address order.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Host `i` (panics when out of range, like indexing).
    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    /// The namespace holding the bridge.
    pub fn router(&self) -> &Netns {
        &self.router
    }

    /// The bridge's name (inside [`Lan::router`]).
    pub fn bridge_name(&self) -> &str {
        &self.bridge
    }

    /// Prefix length of the IPv4 subnet.
    pub fn v4_prefix_len(&self) -> u8 {
        self.v4_prefix_len
    }

    /// Prefix length of the IPv6 subnet, if any.
    pub fn v6_prefix_len(&self) -> Option<u8> {
        self.v6_prefix_len
    }
}

fn invalid(what: &'static str, value: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        what,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// `"10.244.7.0/24"` → (network address, 24), checking that `n` hosts fit
/// between the network and broadcast addresses.
fn parse_v4_subnet(s: &str, n: usize) -> Result<(Ipv4Addr, u8)> {
    let (addr, len) = s
        .split_once('/')
        .ok_or_else(|| invalid("IPv4 subnet", s, "expected ADDR/LEN"))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| invalid("IPv4 subnet", s, "bad address"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= 30)
        .ok_or_else(|| invalid("IPv4 subnet", s, "prefix length must be 0..=30"))?;
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    let usable = (1u64 << (32 - u32::from(len))) - 2;
    if n as u64 > usable {
        return Err(invalid(
            "IPv4 subnet",
            s,
            format!("too small for {n} hosts"),
        ));
    }
    Ok((Ipv4Addr::from(u32::from(addr) & mask), len))
}

/// `"fd00:10:244:7::/64"` → (network address, 64), checking that `n` hosts fit.
fn parse_v6_subnet(s: &str, n: usize) -> Result<(Ipv6Addr, u8)> {
    let (addr, len) = s
        .split_once('/')
        .ok_or_else(|| invalid("IPv6 subnet", s, "expected ADDR/LEN"))?;
    let addr: Ipv6Addr = addr
        .parse()
        .map_err(|_| invalid("IPv6 subnet", s, "bad address"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= 126)
        .ok_or_else(|| invalid("IPv6 subnet", s, "prefix length must be 0..=126"))?;
    let host_bits = 128 - u32::from(len);
    let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
    if host_bits < 64 && n as u128 >= (1u128 << host_bits) {
        return Err(invalid(
            "IPv6 subnet",
            s,
            format!("too small for {n} hosts"),
        ));
    }
    Ok((Ipv6Addr::from(u128::from(addr) & mask), len))
}

/// Turns IPv6 DAD off for every interface created from now on in `ns`
/// (including link-local addresses, which `nodad` does not cover).
fn disable_dad(ns: &Netns, required: bool) -> Result<()> {
    let result = ns.run(|| -> std::io::Result<()> {
        for key in ["all", "default"] {
            std::fs::write(format!("/proc/sys/net/ipv6/conf/{key}/accept_dad"), "0")?;
        }
        Ok(())
    })?;
    match result {
        Ok(()) => Ok(()),
        Err(e) if required => Err(Error::io(
            format!("disable IPv6 DAD in netns {}", ns.name()),
            e,
        )),
        // No IPv6 requested, and maybe no IPv6 in this kernel: fine.
        Err(_) => Ok(()),
    }
}

/// Waits until `ns` has no tentative IPv6 address.
fn wait_not_tentative(ns: &Netns) -> Result<()> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let tentative = ns.run(|| {
            std::fs::read_to_string("/proc/thread-self/net/if_inet6").map(|s| {
                s.lines()
                    .filter(|l| {
                        l.split_whitespace()
                            .nth(4)
                            .and_then(|f| u32::from_str_radix(f, 16).ok())
                            .is_some_and(|f| f & IFA_F_TENTATIVE != 0)
                    })
                    .count()
            })
        })?;
        match tentative {
            Ok(0) => return Ok(()),
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(n) => {
                return Err(Error::Timeout {
                    what: format!("{n} tentative IPv6 addresses in netns {}", ns.name()),
                    after: SETTLE_TIMEOUT,
                });
            }
            Err(e) => {
                return Err(Error::io(
                    format!("read IPv6 addresses of netns {}", ns.name()),
                    e,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        assert_eq!(
            parse_v4_subnet("10.244.7.9/24", 254).ok(),
            Some((Ipv4Addr::new(10, 244, 7, 0), 24))
        );
        assert!(parse_v4_subnet("10.244.7.0/24", 255).is_err());
        assert!(parse_v4_subnet("10.244.7.0/31", 0).is_err());
        assert!(parse_v4_subnet("10.244.7.0", 1).is_err());
        assert_eq!(
            parse_v6_subnet("fd00:10:244:7::5/64", 3).ok(),
            Some((
                "fd00:10:244:7::".parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
                64
            ))
        );
        assert!(parse_v6_subnet("fd00::/126", 4).is_err());
        assert!(parse_v6_subnet("fd00::/126", 3).is_ok());
    }
}
