//! Label helpers: validation and the dashed form of IP addresses.

use std::net::IpAddr;

/// Whether `label` is an RFC 1123 DNS label (lowercase letters, digits, '-').
pub(crate) fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `10.1.2.3` → `10-1-2-3`; `fd00::1` → `fd00--1`.
pub(crate) fn dashed(ip: IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

/// The inverse of [`dashed`]: `10-1-2-3` → `10.1.2.3`, `fd00--1` → `fd00::1`.
pub(crate) fn undashed(label: &str) -> Option<IpAddr> {
    let v4 = label.replace('-', ".");
    if let Ok(ip) = v4.parse::<std::net::Ipv4Addr>() {
        return Some(IpAddr::V4(ip));
    }
    label
        .replace('-', ":")
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashed_round_trips() {
        for ip in ["10.1.2.3", "fd00::1", "2001:db8:0:1::a"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(undashed(&dashed(ip)), Some(ip));
        }
        assert_eq!(undashed("not-an-ip"), None);
    }

    #[test]
    fn labels() {
        assert!(is_dns_label("web-1"));
        assert!(!is_dns_label("Web"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label(&"a".repeat(64)));
    }
}
