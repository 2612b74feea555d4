//! Conflist chaining: when berth-cni is not the first plugin of a list, the
//! runtime passes the result so far as `prevResult`. ADD keeps its
//! interfaces, addresses, routes and DNS and appends its own; CHECK compares
//! the container interface with the `prevResult` it is given (the final
//! result of the whole list).

use std::net::IpAddr;

use serde_json::Value;

use super::PluginError;
use crate::config::ConfigError;
use crate::result::CniResult;

/// Decodes `prevResult` (any supported version's shape); a wrong shape is a
/// decode error naming the JSON path.
pub(super) fn parse_prev(v: &Value) -> Result<CniResult, PluginError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let field = format!("prevResult.{}", e.path());
        PluginError::from(ConfigError::WrongType {
            field,
            source: e.into_inner(),
        })
    })
}

/// `prev` followed by `ours`: our `ips[].interface` indices shift past the
/// previous interfaces; our DNS replaces the previous one only when set.
pub(super) fn merge(prev: Option<CniResult>, mut ours: CniResult) -> CniResult {
    let Some(mut prev) = prev else { return ours };
    let offset = prev.interfaces.len();
    for ip in &mut ours.ips {
        ip.interface = ip.interface.map(|i| i + offset);
    }
    prev.interfaces.append(&mut ours.interfaces);
    prev.ips.append(&mut ours.ips);
    for r in ours.routes {
        if !prev.routes.contains(&r) {
            prev.routes.push(r);
        }
    }
    if ours.dns != Default::default() {
        prev.dns = ours.dns;
    }
    prev
}

/// What CHECK expects of the container interface according to `prevResult`.
#[derive(Debug)]
pub(super) struct Expected {
    /// Addresses (with prefix length) `prevResult` gives the interface.
    pub ips: Vec<(IpAddr, u8)>,
    /// Its MAC in `prevResult`, if recorded.
    pub mac: Option<String>,
}

/// The container interface `ifname` in `prev` (the entry with that name and
/// a `sandbox`) and the addresses pointing at it.
pub(super) fn expected_for(prev: &CniResult, ifname: &str) -> Result<Expected, PluginError> {
    let index = prev
        .interfaces
        .iter()
        .position(|i| i.name == ifname && i.sandbox.is_some())
        .ok_or_else(|| PluginError::Check {
            what: format!("prevResult.interfaces: no container interface named {ifname:?}"),
        })?;
    let ips = prev
        .ips
        .iter()
        .filter(|ip| ip.interface == Some(index))
        .map(|ip| (ip.address.addr(), ip.address.prefix_len()))
        .collect();
    let mac = Some(prev.interfaces[index].mac.to_lowercase()).filter(|m| !m.is_empty());
    Ok(Expected { ips, mac })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_shifts_our_interface_indices() {
        let prev = parse_prev(&json!({
            "cniVersion": "1.0.0",
            "interfaces": [{"name": "lo0", "sandbox": "/x"}],
            "ips": [{"address": "192.168.9.2/24", "interface": 0}],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dns": {"nameservers": ["1.1.1.1"]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let ours = parse_prev(&json!({
            "cniVersion": "1.0.0",
            "interfaces": [{"name": "br0"}, {"name": "veth1"}, {"name": "eth0", "sandbox": "/x"}],
            "ips": [{"address": "10.0.0.2/24", "interface": 2}],
            "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.1.0.0/16"}],
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let m = merge(Some(prev), ours);
        assert_eq!(m.interfaces.len(), 4);
        assert_eq!(m.ips[0].interface, Some(0));
        assert_eq!(m.ips[1].interface, Some(3));
        assert_eq!(m.routes.len(), 2);
        assert_eq!(m.dns.nameservers, ["1.1.1.1"]);
        let e = expected_for(&m, "eth0").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            e.ips,
            [("10.0.0.2".parse().unwrap_or(IpAddr::from([0; 4])), 24)]
        );
        assert!(expected_for(&m, "eth9").is_err());
    }

    #[test]
    fn bad_prev_result_names_the_path() {
        let e = parse_prev(&json!({"cniVersion": "1.0.0", "ips": [{"address": "nope"}]}))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("prevResult.ips[0].address"), "{e}");
    }
}
