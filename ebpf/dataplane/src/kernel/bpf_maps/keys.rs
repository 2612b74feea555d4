//! Addresses, ports and keys as the programs store them (network order).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use berth_ebpf_common::lb::{MemberKey, Service4Key, Service6Key};

use super::*;
use crate::{
    error::MapError,
    maps::SlotKey,
    model::{Backend, FrontendKey, Protocol},
};

pub(crate) fn v4(a: Ipv4Addr) -> u32 {
    u32::from_ne_bytes(a.octets())
}

pub(crate) fn v6(a: Ipv6Addr) -> [u32; 4] {
    let o = a.octets();
    [0, 1, 2, 3].map(|i| u32::from_ne_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]))
}

pub(crate) fn from_v4(a: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a.to_ne_bytes()))
}

pub(crate) fn from_v6(w: [u32; 4]) -> IpAddr {
    let mut o = [0u8; 16];
    for (i, word) in w.iter().enumerate() {
        o[4 * i..4 * i + 4].copy_from_slice(&word.to_ne_bytes());
    }
    IpAddr::V6(Ipv6Addr::from(o))
}

/// Network byte order, as `user_port` holds it.
pub(crate) const fn port_be(p: u16) -> u16 {
    p.to_be()
}

pub(crate) fn member_key(service_id: u32, b: &Backend, proto: Protocol) -> MemberKey {
    let (family, addr) = match b.addr {
        IpAddr::V4(a) => (4, [v4(a), 0, 0, 0]),
        IpAddr::V6(a) => (6, v6(a)),
    };
    MemberKey {
        service_id,
        port: port_be(b.port),
        proto: proto.number(),
        family,
        addr,
    }
}

pub(crate) fn key4(k: &SlotKey, a: Ipv4Addr) -> Service4Key {
    Service4Key::slot(
        v4(a),
        port_be(k.frontend.port),
        k.frontend.protocol.number(),
        k.gen_,
        k.slot,
    )
}

pub(crate) fn key6(k: &SlotKey, a: Ipv6Addr) -> Service6Key {
    Service6Key::slot(
        v6(a),
        port_be(k.frontend.port),
        k.frontend.protocol.number(),
        k.gen_,
        k.slot,
    )
}

pub(crate) fn slot_key(
    vip: IpAddr,
    port: u16,
    proto: u8,
    gen_: u8,
    slot: u16,
) -> Result<SlotKey, MapError> {
    let protocol = Protocol::from_number(proto).ok_or_else(|| MapError::Corrupt {
        map: SVC4,
        reason: format!("protocol {proto} in a service key"),
    })?;
    Ok(SlotKey {
        frontend: FrontendKey {
            vip,
            port: u16::from_be(port),
            protocol,
        },
        gen_,
        slot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_in_network_order() {
        let a: Ipv4Addr = "10.96.0.10".parse().unwrap();
        assert_eq!(v4(a).to_ne_bytes(), [10, 96, 0, 10]);
        assert_eq!(from_v4(v4(a)), IpAddr::V4(a));
        let b: Ipv6Addr = "fd00:10:96::a".parse().unwrap();
        assert_eq!(from_v6(v6(b)), IpAddr::V6(b));
        assert_eq!(port_be(80).to_ne_bytes(), [0, 80]);
    }
}
