//! The host-side veth name, derived from the attachment alone so that DEL
//! and GC find it without the container's namespace.

/// `veth` + 11 hex digits of a hash of (network, container id, ifname).
pub fn host_veth_name(network: &str, container_id: &str, ifname: &str) -> String {
    // FNV-1a, 64 bits: stable across builds and releases (unlike std's hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [network, container_id, ifname] {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("veth{:011x}", h >> 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_short() {
        let a = host_veth_name("net", "abc", "eth0");
        assert_eq!(a, host_veth_name("net", "abc", "eth0"));
        assert_ne!(a, host_veth_name("net", "abc", "eth1"));
        assert_ne!(a, host_veth_name("net", "abd", "eth0"));
        assert_eq!(a.len(), 15);
    }
}
