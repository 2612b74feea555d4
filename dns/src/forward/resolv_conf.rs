//! The node's upstreams: `nameserver` lines of resolv.conf(5).

use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::path::Path;

use super::config::ForwardError;

/// The DNS port every resolv.conf nameserver listens on.
const DNS_PORT: u16 = 53;

/// The upstreams named by the `nameserver` lines of a resolv.conf file, in
/// order, on port 53.
///
/// IPv6 addresses may carry a zone (`fe80::1%2` or `fe80::1%eth0`; a name is
/// resolved through `/sys/class/net/<name>/ifindex`). Other lines are
/// ignored, as are nameservers that do not parse (with a warning, like the
/// C library does); a file without any usable nameserver is an error.
pub fn upstreams_from_resolv_conf(path: &Path) -> Result<Vec<SocketAddr>, ForwardError> {
    let text = std::fs::read_to_string(path).map_err(|source| ForwardError::ReadResolvConf {
        path: path.to_owned(),
        source,
    })?;
    let mut upstreams = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(value) = words.next() else {
            tracing::warn!(
                ?path,
                line = index + 1,
                "nameserver line without an address"
            );
            continue;
        };
        match parse_nameserver(value) {
            Some(addr) => upstreams.push(addr),
            None => {
                tracing::warn!(
                    ?path,
                    line = index + 1,
                    value,
                    "ignoring unusable nameserver"
                );
            }
        }
    }
    if upstreams.is_empty() {
        return Err(ForwardError::NoNameservers {
            path: path.to_owned(),
        });
    }
    Ok(upstreams)
}

/// `10.0.0.1`, `2001:db8::1`, `fe80::1%2`, `fe80::1%eth0` → port 53.
fn parse_nameserver(value: &str) -> Option<SocketAddr> {
    let (addr, zone) = match value.split_once('%') {
        Some((addr, zone)) => (addr, Some(zone)),
        None => (value, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    if ip.is_unspecified() {
        return None;
    }
    match (ip, zone) {
        (ip, None) => Some(SocketAddr::new(ip, DNS_PORT)),
        (IpAddr::V6(v6), Some(zone)) => {
            let scope = scope_id(zone)?;
            Some(SocketAddr::V6(SocketAddrV6::new(v6, DNS_PORT, 0, scope)))
        }
        (IpAddr::V4(_), Some(_)) => None,
    }
}

/// A numeric zone, or the index of the interface it names.
fn scope_id(zone: &str) -> Option<u32> {
    if let Ok(index) = zone.parse() {
        return Some(index);
    }
    let valid_name = !zone.is_empty()
        && zone.len() < 16
        && zone != "."
        && zone != ".."
        && !zone.contains(['/', '\0']);
    if !valid_name {
        return None;
    }
    let path = Path::new("/sys/class/net").join(zone).join("ifindex");
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<SocketAddr>, ForwardError> {
        let dir = std::env::temp_dir().join(format!(
            "berth-dns-resolv-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("resolv.conf");
        std::fs::write(&path, text).unwrap();
        let result = upstreams_from_resolv_conf(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    #[test]
    fn nameservers_in_order_on_port_53() {
        let text = "# generated\n\
                    search default.svc.cluster.local svc.cluster.local\n\
                    nameserver 10.0.0.2\n\
                    ; a comment\n\
                    nameserver   2001:db8::53  # trailing words are ignored\n\
                    nameserver fe80::1%3\n\
                    options ndots:5 timeout:1\n\
                    \tnameserver 192.0.2.1\n";
        let got = parse(text).unwrap();
        let want: Vec<SocketAddr> = vec![
            "10.0.0.2:53".parse().unwrap(),
            "[2001:db8::53]:53".parse().unwrap(),
            SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 53, 0, 3)),
            "192.0.2.1:53".parse().unwrap(),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn zone_by_interface_name() {
        // `lo` exists on every Linux host; its index is read from sysfs.
        let Ok(index) = std::fs::read_to_string("/sys/class/net/lo/ifindex") else {
            return;
        };
        let got = parse("nameserver fe80::1%lo\n").unwrap();
        let SocketAddr::V6(v6) = got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(v6.scope_id(), index.trim().parse::<u32>().unwrap());
    }

    #[test]
    fn unusable_lines_are_skipped() {
        let text = "nameserver\n\
                    nameserver not-an-address\n\
                    nameserver 0.0.0.0\n\
                    nameserver 10.0.0.1%eth0\n\
                    nameserver fe80::1%no-such-interface0\n\
                    nameserver fe80::1%../../etc\n\
                    nameservers 10.9.9.9\n\
                    nameserver 10.0.0.3\n";
        assert_eq!(parse(text).unwrap(), ["10.0.0.3:53".parse().unwrap()]);
    }

    #[test]
    fn no_nameserver_is_an_error() {
        let err = parse("search example.com\n# nameserver 10.0.0.1\n").unwrap_err();
        assert!(matches!(err, ForwardError::NoNameservers { .. }), "{err}");
        let missing = Path::new("/nonexistent/berth/resolv.conf");
        let err = upstreams_from_resolv_conf(missing).unwrap_err();
        assert!(matches!(err, ForwardError::ReadResolvConf { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/berth/resolv.conf"));
    }
}
