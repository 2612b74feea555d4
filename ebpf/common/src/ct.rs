//! Connection tracking and NAT of the per-packet path (NodePort,
//! externalIPs), after Cilium's bpf/lib/conntrack.h, kept small.
//!
//! * `CT4` (LRU, pinned): one entry per direction of a flow, keyed by the
//!   tuple as it is seen on the wire in that direction. The value is the
//!   tuple the packet leaves with (its NAT) and what the flow is. A
//!   north-south flow has two entries: the *original* one (client →
//!   frontend, rewritten to node → backend with SNAT, or client → backend
//!   without) and the *reply* one (backend → node or client, rewritten to
//!   frontend → client).
//! * `CT6`: its IPv6 twin.
//! * `NP_CONFIG`: the node's addresses that SNAT uses and the SNAT port
//!   range, written by userspace.
//!
//! The entries carry no policy yet. NetworkPolicy reuses this map for the
//! return traffic of allowed flows: a flow it admits gets an entry whose
//! [`CT_F_REPLY`] twin lets the replies through, and `flags` has room for
//! the verdict bits.

/// A flow direction's tuple, network byte order.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Ct4Key {
    pub saddr: u32,
    pub daddr: u32,
    pub sport: u16,
    pub dport: u16,
    /// `PROTO_TCP` or `PROTO_UDP`.
    pub proto: u8,
    pub _pad: [u8; 3],
}

/// What a direction of a flow is rewritten to, and its state.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ct4Value {
    /// The tuple the packet leaves with (network byte order).
    pub saddr: u32,
    pub daddr: u32,
    pub sport: u16,
    pub dport: u16,
    /// `CT_F_*`.
    pub flags: u8,
    /// TCP flags seen in this direction (FIN 0x01, SYN 0x02, RST 0x04).
    pub tcp_flags: u8,
    pub _pad: [u8; 2],
    /// The backend of the flow (index into `BACKEND_STATS`).
    pub backend_id: u32,
    /// The frontend's service id (index into `SVC_STATS`).
    pub service_id: u32,
    /// `bpf_ktime_get_ns` of the last packet in this direction.
    pub last_ns: u64,
    /// Packets seen in this direction.
    pub packets: u64,
}

/// The reply direction of a flow (backend → client).
pub const CT_F_REPLY: u8 = 1;
/// The flow's source was translated to the node's address.
pub const CT_F_SNAT: u8 = 2;

/// TCP flag bits kept in [`Ct4Value::tcp_flags`].
pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;

/// IPv6 twin of [`Ct4Key`]: addresses as four 32-bit words, network order.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Ct6Key {
    pub saddr: [u32; 4],
    pub daddr: [u32; 4],
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub _pad: [u8; 3],
}

/// IPv6 twin of [`Ct4Value`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ct6Value {
    pub saddr: [u32; 4],
    pub daddr: [u32; 4],
    pub sport: u16,
    pub dport: u16,
    pub flags: u8,
    pub tcp_flags: u8,
    pub _pad: [u8; 2],
    pub backend_id: u32,
    pub service_id: u32,
    pub last_ns: u64,
    pub packets: u64,
}

/// The per-packet path's settings (`NP_CONFIG`, one entry).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NodePortConfig {
    /// The node's IPv4 address that SNAT uses (network byte order); 0: no
    /// SNAT possible, flows that need it are dropped.
    pub snat4: u32,
    /// SNAT source ports: `snat_port_min..=snat_port_max` (host order).
    pub snat_port_min: u16,
    pub snat_port_max: u16,
    /// The node's IPv6 address that SNAT uses; all zero: none.
    pub snat6: [u32; 4],
}

/// Default SNAT source ports: below Linux's ephemeral range
/// (32768-60999), so a SNATed flow never takes the port of a local socket
/// that connects out. A reply comes back to the node's address and one of
/// these ports and is matched by its conntrack entry before anything else,
/// so a local service listening on such a port is not disturbed. 31,744
/// ports per backend address and port: a port is taken only when no entry
/// holds it, so a closed flow's port is not reused while the LRU keeps it.
pub const SNAT_PORTS: (u16, u16) = (1_024, 32_767);

/// `NP_STATS` counters: new flows.
pub const NP_STAT_NEW: u32 = 0;
/// Packets of tracked flows.
pub const NP_STAT_TRACKED: u32 = 1;
/// Dropped: the frontend has no backend.
pub const NP_STAT_NO_BACKEND: u32 = 2;
/// Dropped: no SNAT port was free (or no SNAT address is set).
pub const NP_STAT_NO_SNAT_PORT: u32 = 3;
/// Passed to the kernel: no route to the backend from the FIB lookup.
pub const NP_STAT_FIB_MISS: u32 = 4;
/// Counters in `NP_STATS`.
pub const NP_STATS_LEN: u32 = 5;

/// How many ports a new flow tries before it gives up (each try is one
/// `BPF_NOEXIST` insert of its reply entry).
pub const SNAT_TRIES: u32 = 8;

impl Ct6Key {
    /// IPv6 twin of [`Ct4Key::reply_of`].
    pub const fn reply_of(v: &Ct6Value, proto: u8) -> Self {
        Self {
            saddr: v.daddr,
            daddr: v.saddr,
            sport: v.dport,
            dport: v.sport,
            proto,
            _pad: [0; 3],
        }
    }
}

impl Ct4Key {
    /// The key the packet with this value's tuple is seen with, reversed:
    /// the tuple of the reply to a packet that leaves as `v`.
    pub const fn reply_of(v: &Ct4Value, proto: u8) -> Self {
        Self {
            saddr: v.daddr,
            daddr: v.saddr,
            sport: v.dport,
            dport: v.sport,
            proto,
            _pad: [0; 3],
        }
    }
}

/// The SNAT port a try picks: `min + (random + try) % span`, host order.
#[inline(always)]
pub const fn snat_port(min: u16, max: u16, random: u32, attempt: u32) -> u16 {
    let span = if max >= min {
        (max - min) as u32 + 1
    } else {
        1
    };
    min.wrapping_add((random.wrapping_add(attempt.wrapping_mul(7919)) % span) as u16)
}

const _: () = assert!(core::mem::size_of::<Ct4Key>() == 16);
const _: () = assert!(core::mem::size_of::<Ct4Value>() == 40);
const _: () = assert!(core::mem::size_of::<Ct6Key>() == 40);
const _: () = assert!(core::mem::size_of::<Ct6Value>() == 64);
const _: () = assert!(core::mem::size_of::<NodePortConfig>() == 24);

#[cfg(feature = "user")]
mod pod {
    use super::*;

    // SAFETY: #[repr(C)], integers and integer arrays only, explicit
    // padding: every bit pattern is valid and there is no implicit padding.
    unsafe impl aya::Pod for Ct4Key {}
    // SAFETY: as above.
    unsafe impl aya::Pod for Ct4Value {}
    // SAFETY: as above.
    unsafe impl aya::Pod for NodePortConfig {}
    // SAFETY: as above.
    unsafe impl aya::Pod for Ct6Key {}
    // SAFETY: as above.
    unsafe impl aya::Pod for Ct6Value {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snat_ports_stay_in_range() {
        for r in [0u32, 1, 4535, 4536, u32::MAX] {
            for t in 0..SNAT_TRIES {
                let p = snat_port(SNAT_PORTS.0, SNAT_PORTS.1, r, t);
                assert!((SNAT_PORTS.0..=SNAT_PORTS.1).contains(&p), "{r} {t} {p}");
            }
        }
        assert_eq!(snat_port(100, 100, 12345, 3), 100);
        // A reversed range degrades to its minimum, never out of it.
        assert_eq!(snat_port(200, 100, 7, 0), 200);
    }

    #[test]
    fn tries_pick_different_ports() {
        let a = snat_port(61_000, 65_535, 42, 0);
        let b = snat_port(61_000, 65_535, 42, 1);
        assert_ne!(a, b);
    }

    #[test]
    fn the_reply_key_reverses_the_rewritten_tuple() {
        let v = Ct4Value {
            saddr: 1,
            daddr: 2,
            sport: 3,
            dport: 4,
            ..Ct4Value::default()
        };
        let k = Ct4Key::reply_of(&v, 6);
        assert_eq!(
            (k.saddr, k.daddr, k.sport, k.dport, k.proto),
            (2, 1, 4, 3, 6)
        );
    }
}
