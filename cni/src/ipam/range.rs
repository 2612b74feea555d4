//! Address ranges and range sets (host-local's `ranges`), and the order in
//! which candidates are tried.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// One `{subnet, rangeStart, rangeEnd, gateway}` entry, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The subnet; addresses are given to containers with its prefix length.
    pub subnet: IpNet,
    /// First address handed out.
    pub start: IpAddr,
    /// Last address handed out.
    pub end: IpAddr,
    /// The gateway (never handed out).
    pub gateway: IpAddr,
}

impl Range {
    /// Whether `ip` lies within `start..=end`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        same_family(ip, self.start)
            && (to_u128(self.start)..=to_u128(self.end)).contains(&to_u128(ip))
    }

    /// How many addresses this range can hand out.
    pub fn capacity(&self) -> u128 {
        let span = to_u128(self.end) - to_u128(self.start) + 1;
        if self.contains(self.gateway) {
            span - 1
        } else {
            span
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}-{})", self.subnet, self.start, self.end)
    }
}

/// A list of ranges from which one address is taken (one per family in a
/// dual-stack configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet {
    /// The ranges, tried in order.
    pub ranges: Vec<Range>,
}

impl RangeSet {
    /// The range containing `ip`, if any.
    pub fn range_of(&self, ip: IpAddr) -> Option<&Range> {
        self.ranges.iter().find(|r| r.contains(ip))
    }

    /// How many addresses the set can hand out in total.
    pub fn capacity(&self) -> u128 {
        self.ranges
            .iter()
            .map(Range::capacity)
            .fold(0, u128::saturating_add)
    }

    /// Every address of the set exactly once, starting right after `last`
    /// (round-robin) or at the first range's start, wrapping around; the
    /// gateways are skipped.
    pub fn candidates(&self, last: Option<IpAddr>) -> impl Iterator<Item = IpAddr> + '_ {
        let n = self.ranges.len();
        let pos = last.and_then(|ip| {
            self.ranges
                .iter()
                .position(|r| r.contains(ip))
                .map(|i| (i, to_u128(ip)))
        });
        // Segments (range index, first, last) in visiting order.
        let mut segments: Vec<(usize, u128, u128)> = Vec::with_capacity(n + 1);
        match pos {
            None => {
                for (i, r) in self.ranges.iter().enumerate() {
                    segments.push((i, to_u128(r.start), to_u128(r.end)));
                }
            }
            Some((i, v)) => {
                let r = &self.ranges[i];
                if v < to_u128(r.end) {
                    segments.push((i, v + 1, to_u128(r.end)));
                }
                for k in 1..n {
                    let j = (i + k) % n;
                    let rj = &self.ranges[j];
                    segments.push((j, to_u128(rj.start), to_u128(rj.end)));
                }
                segments.push((i, to_u128(r.start), v));
            }
        }
        segments.into_iter().flat_map(move |(i, lo, hi)| {
            let r = &self.ranges[i];
            (lo..=hi)
                .map(move |v| from_u128(v, r.start))
                .filter(move |ip| *ip != r.gateway)
        })
    }
}

impl fmt::Display for RangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// The address as an integer (IPv4 in the low 32 bits).
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The integer as an address of the same family as `like`.
pub fn from_u128(v: u128, like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX))),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// Whether both addresses are IPv4 or both IPv6.
pub fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(subnet: &str, start: &str, end: &str, gw: &str) -> Range {
        Range {
            subnet: subnet.parse().unwrap_or_else(|e| panic!("{e}")),
            start: start.parse().unwrap_or_else(|e| panic!("{e}")),
            end: end.parse().unwrap_or_else(|e| panic!("{e}")),
            gateway: gw.parse().unwrap_or_else(|e| panic!("{e}")),
        }
    }

    #[test]
    fn candidates_round_robin_and_skip_gateway() {
        let set = RangeSet {
            ranges: vec![
                range("10.0.0.0/29", "10.0.0.1", "10.0.0.3", "10.0.0.1"),
                range("10.0.1.0/29", "10.0.1.1", "10.0.1.2", "10.0.1.6"),
            ],
        };
        assert_eq!(set.capacity(), 4);
        let all: Vec<String> = set.candidates(None).map(|ip| ip.to_string()).collect();
        assert_eq!(all, ["10.0.0.2", "10.0.0.3", "10.0.1.1", "10.0.1.2"]);
        let after: Vec<String> = set
            .candidates(Some("10.0.0.3".parse().unwrap_or_else(|e| panic!("{e}"))))
            .map(|ip| ip.to_string())
            .collect();
        assert_eq!(after, ["10.0.1.1", "10.0.1.2", "10.0.0.2", "10.0.0.3"]);
    }

    #[test]
    fn ipv6_huge_range_is_lazy() {
        let set = RangeSet {
            ranges: vec![range(
                "fd00::/64",
                "fd00::1",
                "fd00::ffff:ffff:ffff:ffff",
                "fd00::1",
            )],
        };
        let first: Vec<String> = set
            .candidates(None)
            .take(2)
            .map(|i| i.to_string())
            .collect();
        assert_eq!(first, ["fd00::2", "fd00::3"]);
        assert_eq!(set.capacity(), (1u128 << 64) - 2);
    }
}
