//! Validation of the `ipam` section into range sets and routes.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use super::ConfigError;
use super::raw::{RawIpam, RawRange, RawRoute};
use crate::ipam::range::{Range, RangeSet, from_u128, same_family, to_u128};

/// Where reservations live unless `ipam.dataDir` says otherwise.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/berth/cni/networks";

/// The validated `ipam` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpamConf {
    /// One address is taken from each set (at most one set per family is
    /// typical: dual-stack).
    pub range_sets: Vec<RangeSet>,
    /// Routes to install in the container.
    pub routes: Vec<Route>,
    /// Parent of the per-network reservation directories.
    pub data_dir: PathBuf,
}

/// A route for the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination.
    pub dst: IpNet,
    /// Next hop; when absent the gateway of the same family is used.
    pub gw: Option<IpAddr>,
}

pub(super) fn validate(raw: RawIpam) -> Result<IpamConf, ConfigError> {
    if let Some(kind) = raw.kind.as_deref()
        && !matches!(kind, "host-local" | "berth")
    {
        return Err(ConfigError::Unsupported {
            field: "ipam.type".into(),
            value: kind.into(),
            reason: "only the built-in host-local-compatible IPAM (\"host-local\" or \"berth\") is available",
        });
    }
    if raw.subnet.is_some() {
        return Err(ConfigError::Unsupported {
            field: "ipam.subnet".into(),
            value: "…".into(),
            reason: "use ipam.ranges",
        });
    }
    if raw.resolv_conf.is_some() {
        return Err(ConfigError::Unsupported {
            field: "ipam.resolvConf".into(),
            value: "…".into(),
            reason: "not implemented; use the top-level dns object",
        });
    }
    let raw_sets = raw.ranges.ok_or_else(|| missing("ipam.ranges"))?;
    if raw_sets.is_empty() {
        return Err(invalid(
            "ipam.ranges",
            "[]",
            "at least one range set is required",
        ));
    }
    let mut range_sets = Vec::with_capacity(raw_sets.len());
    for (i, raw_set) in raw_sets.into_iter().enumerate() {
        if raw_set.is_empty() {
            return Err(invalid(
                &format!("ipam.ranges[{i}]"),
                "[]",
                "a range set needs at least one range",
            ));
        }
        let mut ranges: Vec<Range> = Vec::with_capacity(raw_set.len());
        for (j, raw_range) in raw_set.into_iter().enumerate() {
            let path = format!("ipam.ranges[{i}][{j}]");
            let range = validate_range(&path, raw_range)?;
            if let Some(first) = ranges.first()
                && !same_family(first.start, range.start)
            {
                return Err(invalid(
                    &format!("{path}.subnet"),
                    &range.subnet.to_string(),
                    "a range set must hold one address family",
                ));
            }
            ranges.push(range);
        }
        range_sets.push(RangeSet { ranges });
    }
    check_overlaps(&range_sets)?;
    let routes = raw
        .routes
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, r)| validate_route(i, r))
        .collect::<Result<Vec<_>, _>>()?;
    let data_dir = PathBuf::from(raw.data_dir.unwrap_or_else(|| DEFAULT_DATA_DIR.to_string()));
    if !data_dir.is_absolute() {
        return Err(invalid(
            "ipam.dataDir",
            &data_dir.display().to_string(),
            "must be an absolute path",
        ));
    }
    Ok(IpamConf {
        range_sets,
        routes,
        data_dir,
    })
}

fn validate_range(path: &str, raw: RawRange) -> Result<Range, ConfigError> {
    let subnet_path = format!("{path}.subnet");
    let subnet_str = raw.subnet.ok_or_else(|| missing(&subnet_path))?;
    let subnet: IpNet = subnet_str
        .parse()
        .map_err(|_| invalid(&subnet_path, &subnet_str, "not a CIDR (address/prefix)"))?;
    if subnet.trunc() != subnet {
        return Err(invalid(&subnet_path, &subnet_str, "host bits are set"));
    }
    let (first, last) = usable_bounds(subnet)
        .ok_or_else(|| invalid(&subnet_path, &subnet_str, "too small: no usable addresses"))?;
    let in_subnet =
        |field: &str, value: Option<String>, default: IpAddr| -> Result<IpAddr, ConfigError> {
            let Some(v) = value else { return Ok(default) };
            let fpath = format!("{path}.{field}");
            let ip: IpAddr = v
                .parse()
                .map_err(|_| invalid(&fpath, &v, "not an IP address"))?;
            let n = to_u128(ip);
            if !same_family(ip, first) || n < to_u128(first) || n > to_u128(last) {
                return Err(invalid(
                    &fpath,
                    &v,
                    &format!("not a usable address of {subnet}"),
                ));
            }
            Ok(ip)
        };
    let start = in_subnet("rangeStart", raw.range_start, first)?;
    let end = in_subnet("rangeEnd", raw.range_end, last)?;
    let gateway = in_subnet("gateway", raw.gateway, first)?;
    if to_u128(start) > to_u128(end) {
        return Err(invalid(
            &format!("{path}.rangeEnd"),
            &end.to_string(),
            &format!("before rangeStart {start}"),
        ));
    }
    let range = Range {
        subnet,
        start,
        end,
        gateway,
    };
    if range.capacity() == 0 {
        return Err(invalid(
            &subnet_path,
            &subnet_str,
            "the range holds only the gateway",
        ));
    }
    Ok(range)
}

/// First and last address usable for hosts: network+1 up to broadcast-1
/// (IPv4) or the last address (IPv6).
fn usable_bounds(subnet: IpNet) -> Option<(IpAddr, IpAddr)> {
    let net = to_u128(subnet.network());
    let last = to_u128(subnet.broadcast());
    let last = if subnet.network().is_ipv4() {
        last.checked_sub(1)?
    } else {
        last
    };
    let first = net.checked_add(1)?;
    (first <= last).then(|| {
        (
            from_u128(first, subnet.network()),
            from_u128(last, subnet.network()),
        )
    })
}

fn check_overlaps(sets: &[RangeSet]) -> Result<(), ConfigError> {
    let all: Vec<(usize, usize, &Range)> = sets
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.ranges.iter().enumerate().map(move |(j, r)| (i, j, r)))
        .collect();
    for (k, (i, j, a)) in all.iter().enumerate() {
        for (i2, j2, b) in &all[k + 1..] {
            if same_family(a.start, b.start)
                && to_u128(a.start) <= to_u128(b.end)
                && to_u128(b.start) <= to_u128(a.end)
            {
                return Err(invalid(
                    &format!("ipam.ranges[{i2}][{j2}]"),
                    &b.to_string(),
                    &format!("overlaps ipam.ranges[{i}][{j}] {a}"),
                ));
            }
        }
    }
    Ok(())
}

fn validate_route(i: usize, raw: RawRoute) -> Result<Route, ConfigError> {
    let dst_path = format!("ipam.routes[{i}].dst");
    let dst_str = raw.dst.ok_or_else(|| missing(&dst_path))?;
    let dst: IpNet = dst_str
        .parse()
        .map_err(|_| invalid(&dst_path, &dst_str, "not a CIDR (address/prefix)"))?;
    let gw = match raw.gw {
        None => None,
        Some(g) => {
            let gw_path = format!("ipam.routes[{i}].gw");
            let ip: IpAddr = g
                .parse()
                .map_err(|_| invalid(&gw_path, &g, "not an IP address"))?;
            if !same_family(ip, dst.addr()) {
                return Err(invalid(&gw_path, &g, "address family differs from dst"));
            }
            Some(ip)
        }
    };
    Ok(Route {
        dst: dst.trunc(),
        gw,
    })
}

fn missing(field: &str) -> ConfigError {
    ConfigError::Missing {
        field: field.to_string(),
    }
}

fn invalid(field: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}
