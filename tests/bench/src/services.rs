//! The N services of a run: names, VIP ranges and backends, the same for
//! Berth and for the peers (each with its own VIP range, so that the BPF
//! maps never hold a peer's VIP).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use berth_dataplane::{Algorithm, Backend, Exposure, Policy, Protocol, Service, ServicePort};

use crate::measure::nth_vip;

/// Port every benchmark service listens on.
pub const SERVICE_PORT: u16 = 80;
/// Namespace part of the service names (`bench/svc-<i>`).
pub const NAMESPACE: &str = "bench";
/// Name of the services' one port.
pub const PORT_NAME: &str = "http";

/// VIP ranges (network addresses of /12s): Berth's service CIDR, and two
/// ranges only the peers' rules know, routed only inside the client netns.
pub const BERTH_VIPS: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 0);
pub const IPTABLES_VIPS: Ipv4Addr = Ipv4Addr::new(10, 112, 0, 0);
pub const NFTABLES_VIPS: Ipv4Addr = Ipv4Addr::new(10, 128, 0, 0);
/// VIP ranges of the services with a selection policy (sessionAffinity
/// ClientIP, Maglev): each half of 10.144.0.0/12, translated by the socket
/// LB like any VIP.
pub const AFFINITY_VIPS: Ipv4Addr = Ipv4Addr::new(10, 144, 0, 0);
pub const MAGLEV_VIPS: Ipv4Addr = Ipv4Addr::new(10, 152, 0, 0);
/// Most services of one policy range.
pub const MAX_POLICY_SERVICES: usize = (1 << 19) - 2;
/// Prefix length of those ranges.
pub const VIP_PREFIX_LEN: u8 = 12;
/// Most services a /12 holds with the network and broadcast addresses skipped.
pub const MAX_SERVICES: usize = (1 << (32 - VIP_PREFIX_LEN)) - 2;

/// `bench/svc-<i>`.
pub fn name(i: usize) -> String {
    format!("{NAMESPACE}/svc-{i}")
}

/// `<cidr>/12` of a range, for routes.
pub fn cidr(base: Ipv4Addr) -> String {
    format!("{base}/{VIP_PREFIX_LEN}")
}

/// VIP of service `i` in the range starting at `base`.
pub fn vip(base: Ipv4Addr, i: usize) -> Ipv4Addr {
    nth_vip(base, i)
}

/// One Berth service: VIP from [`BERTH_VIPS`], port 80, `backends`.
pub fn berth_service(i: usize, backends: &[SocketAddr]) -> Service {
    Service {
        name: name(i),
        vips: vec![IpAddr::V4(vip(BERTH_VIPS, i))],
        ports: vec![ServicePort {
            name: PORT_NAME.to_string(),
            port: SERVICE_PORT,
            protocol: Protocol::Tcp,
            backends: backends.iter().copied().map(Backend::from).collect(),
            options: Default::default(),
            ..Default::default()
        }],
        policy: Default::default(),
        ..Default::default()
    }
}

/// A selection policy of the benchmark's services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// sessionAffinity ClientIP, Kubernetes' default timeout.
    Affinity,
    /// Maglev consistent hashing.
    Maglev,
}

impl Kind {
    pub const fn base(self) -> Ipv4Addr {
        match self {
            Kind::Affinity => AFFINITY_VIPS,
            Kind::Maglev => MAGLEV_VIPS,
        }
    }

    pub const fn policy(self) -> Policy {
        match self {
            Kind::Affinity => Policy::client_ip(),
            Kind::Maglev => Policy {
                affinity_timeout: None,
                algorithm: Algorithm::Maglev,
                exposure: Exposure::Internal,
            },
        }
    }

    const fn prefix(self) -> &'static str {
        match self {
            Kind::Affinity => "affinity",
            Kind::Maglev => "maglev",
        }
    }
}

/// Service `i` of a policy: `bench/<kind>-<i>`, VIP from its range.
pub fn policy_service(kind: Kind, i: usize, backends: &[SocketAddr]) -> Service {
    let mut s = berth_service(i, backends);
    s.name = format!("{NAMESPACE}/{}-{i}", kind.prefix());
    s.vips = vec![IpAddr::V4(vip(kind.base(), i))];
    s.policy = kind.policy();
    s
}

/// Services `0..n` for Berth.
pub fn berth_services(n: usize, backends: &[SocketAddr]) -> Vec<Service> {
    (0..n).map(|i| berth_service(i, backends)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_do_not_overlap() {
        let last = vip(BERTH_VIPS, MAX_SERVICES - 1);
        assert_eq!(last, Ipv4Addr::new(10, 111, 255, 254));
        assert!(u32::from(last) < u32::from(IPTABLES_VIPS));
        assert!(u32::from(vip(IPTABLES_VIPS, MAX_SERVICES - 1)) < u32::from(NFTABLES_VIPS));
        let s = berth_service(0, &["10.244.7.2:8080".parse().unwrap()]);
        assert_eq!(s.vips, vec![IpAddr::V4(Ipv4Addr::new(10, 96, 0, 1))]);
        assert_eq!(s.name, "bench/svc-0");
        let last = vip(AFFINITY_VIPS, MAX_POLICY_SERVICES - 1);
        assert!(u32::from(last) < u32::from(MAGLEV_VIPS));
        assert!(u32::from(NFTABLES_VIPS) + (1 << 20) <= u32::from(AFFINITY_VIPS));
        let m = policy_service(Kind::Maglev, 3, &["10.244.7.2:8080".parse().unwrap()]);
        assert_eq!(m.vips, vec![IpAddr::V4(Ipv4Addr::new(10, 152, 0, 4))]);
        assert_eq!(m.policy.algorithm, Algorithm::Maglev);
    }
}
