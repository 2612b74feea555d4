//! Load-balancer map layout (after Cilium's bpf/lib/lb.h).
//!
//! * `SVC4`/`SVC6`: key {vip, port, proto, gen, slot}. Slot 0 (with gen 0) is
//!   the *master* entry of a frontend: its backend count, the generation
//!   whose slots are live, and its service id. Slots 1..=count of the live
//!   generation hold backend ids. A backend set is replaced by writing the
//!   other generation's slots and then flipping the master in one map
//!   update, so a reader sees either the whole old set or the whole new one.
//! * `BACKEND4`/`BACKEND6`: backend id -> address and port.
//! * `VIP4`/`VIP6`: VIP -> number of frontends on it, so an unknown port on a
//!   known VIP is refused instead of leaking to the network.
//! * `REVNAT4`/`REVNAT6` (LRU): {socket cookie, backend addr, port} -> VIP and
//!   port, for recvmsg and getpeername.
//! * `SVC_STATS`/`BACKEND_STATS` (per-CPU arrays): counters by service id and
//!   backend id.
//! * `AFFINITY` (LRU): {client, service id} -> the backend a client was
//!   given and when it last connected, for frontends with
//!   [`SVC_F_AFFINITY`]. The client is its network namespace (its cookie):
//!   at the socket layer that is the pod, as ClientIP is in Kubernetes.
//! * `AFFINITY_MATCH`: {service id, backend id} for every backend an
//!   affinity frontend may still hand out; an affinity entry whose pair is
//!   missing is stale (the backend left the frontend) and is ignored.

/// A frontend key for IPv4 VIPs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Service4Key {
    /// VIP, network byte order.
    pub addr: u32,
    /// Service port, network byte order.
    pub port: u16,
    /// 0 for the master entry, 1..=count for backend slots.
    pub slot: u16,
    /// `PROTO_TCP` or `PROTO_UDP`.
    pub proto: u8,
    /// Generation of a backend slot (0 or 1); always 0 in master keys.
    pub gen_: u8,
    pub _pad: [u8; 2],
}

/// A frontend key for IPv6 VIPs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Service6Key {
    /// VIP, network byte order, as four 32-bit words (`user_ip6`).
    pub addr: [u32; 4],
    pub port: u16,
    pub slot: u16,
    pub proto: u8,
    pub gen_: u8,
    pub _pad: [u8; 2],
}

/// Master entry (slot 0) or backend slot (slot > 0) of a frontend.
///
/// A frontend with at most [`INLINE_BACKENDS`] backends keeps their ids in
/// the master itself (`inline`) and has no slots: its whole backend set is
/// one value, replaced by one update, and a connection needs one lookup
/// less. Larger sets use the slots.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ServiceValue {
    /// Master: number of backends. Slot: unused (0).
    pub count: u32,
    /// Slot: the backend id. Master: unused (0).
    pub backend_id: u32,
    /// Service id of the frontend: index into `SVC_STATS`.
    pub service_id: u32,
    /// Master: the live generation of slots.
    pub gen_: u8,
    /// `SVC_F_*` flags.
    pub flags: u8,
    pub _pad: [u8; 2],
    /// Master with [`SVC_F_AFFINITY`]: how long (seconds) a client keeps its
    /// backend after its last connection.
    pub affinity_timeout: u32,
    /// Master with [`SVC_F_MAGLEV`]: entries of its Maglev table.
    pub table_size: u32,
    /// Master with `count <= INLINE_BACKENDS`: the backend ids.
    pub inline: [u32; INLINE_BACKENDS as usize],
}

/// Master flag: sessionAffinity ClientIP (see `AFFINITY`).
pub const SVC_F_AFFINITY: u8 = 1;
/// Master flag: backends are picked from the frontend's Maglev table
/// (`MAGLEV`, keyed by service id) by a hash of the client.
pub const SVC_F_MAGLEV: u8 = 2;
/// Master flag: a frontend reachable from outside the node (a NodePort on
/// a node address, or an externalIP): the per-packet path serves it, and
/// its address is not a VIP of its own (no `VIP4`/`VIP6` marker: other
/// ports of a node address are the node's).
pub const SVC_F_EXTERNAL: u8 = 4;
/// Master flag with [`SVC_F_EXTERNAL`]: externalTrafficPolicy Local, the
/// client's address is kept (no SNAT) and only local backends are listed.
pub const SVC_F_LOCAL: u8 = 8;

/// Key of `AFFINITY`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AffinityKey {
    /// The client's network-namespace cookie.
    pub client: u64,
    pub service_id: u32,
    pub _pad: u32,
}

/// Value of `AFFINITY`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AffinityValue {
    /// `bpf_ktime_get_ns` of the client's last connection.
    pub last_ns: u64,
    pub backend_id: u32,
    pub _pad: u32,
}

/// Key of `MEMBERS`, a map only userspace reads: the state and weight of
/// each backend of a frontend that is not active with weight 1, so that a
/// restarted owner, or `berth dataplane list`, knows them.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemberKey {
    pub service_id: u32,
    /// Network byte order.
    pub port: u16,
    pub proto: u8,
    /// 4 or 6.
    pub family: u8,
    /// IPv4 in the first word.
    pub addr: [u32; 4],
}

/// Value of `MEMBERS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemberValue {
    pub weight: u16,
    /// `MEMBER_*`.
    pub state: u8,
    pub _pad: u8,
}

/// `MemberValue::state`: active.
pub const MEMBER_ACTIVE: u8 = 0;
/// Terminating.
pub const MEMBER_TERMINATING: u8 = 1;
/// Quarantined.
pub const MEMBER_QUARANTINED: u8 = 2;

/// Key of `AFFINITY_MATCH` (the value is a `u32`, always 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct AffinityMatchKey {
    pub service_id: u32,
    pub backend_id: u32,
}

/// Backends a master holds inline.
pub const INLINE_BACKENDS: u32 = 4;

/// An IPv4 backend.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Backend4 {
    /// Network byte order.
    pub addr: u32,
    /// Network byte order.
    pub port: u16,
    pub proto: u8,
    /// `BE_F_*` flags.
    pub flags: u8,
}

/// An IPv6 backend.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Backend6 {
    pub addr: [u32; 4],
    pub port: u16,
    pub proto: u8,
    pub flags: u8,
}

/// Reverse translation key: which VIP a socket meant when it talks to a backend.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RevNat4Key {
    pub cookie: u64,
    pub addr: u32,
    pub port: u16,
    pub _pad: u16,
}

/// The VIP and port a socket asked for.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RevNat4Value {
    pub addr: u32,
    pub port: u16,
    pub _pad: u16,
}

/// IPv6 twin of [`RevNat4Key`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RevNat6Key {
    pub cookie: u64,
    pub addr: [u32; 4],
    pub port: u16,
    pub _pad: [u8; 6],
}

/// IPv6 twin of [`RevNat4Value`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RevNat6Value {
    pub addr: [u32; 4],
    pub port: u16,
    pub _pad: u16,
}

/// Per-service counters (per CPU in the kernel, summed by userspace).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ServiceStats {
    /// Connections / datagrams sent to a backend of this service.
    pub translated: u64,
    /// Attempts refused because the frontend had no backend.
    pub refused: u64,
}

impl Service4Key {
    /// The master key of a frontend.
    pub const fn master(addr: u32, port: u16, proto: u8) -> Self {
        Self::slot(addr, port, proto, 0, 0)
    }

    /// A backend slot key.
    pub const fn slot(addr: u32, port: u16, proto: u8, gen_: u8, slot: u16) -> Self {
        Self {
            addr,
            port,
            slot,
            proto,
            gen_,
            _pad: [0; 2],
        }
    }
}

impl Service6Key {
    /// The master key of a frontend.
    pub const fn master(addr: [u32; 4], port: u16, proto: u8) -> Self {
        Self::slot(addr, port, proto, 0, 0)
    }

    /// A backend slot key.
    pub const fn slot(addr: [u32; 4], port: u16, proto: u8, gen_: u8, slot: u16) -> Self {
        Self {
            addr,
            port,
            slot,
            proto,
            gen_,
            _pad: [0; 2],
        }
    }
}

// Layout guards: these sizes are the map ABI.
const _: () = assert!(core::mem::size_of::<Service4Key>() == 12);
const _: () = assert!(core::mem::size_of::<Service6Key>() == 24);
const _: () = assert!(core::mem::size_of::<ServiceValue>() == 40);
const _: () = assert!(core::mem::size_of::<AffinityKey>() == 16);
const _: () = assert!(core::mem::size_of::<AffinityValue>() == 16);
const _: () = assert!(core::mem::size_of::<AffinityMatchKey>() == 8);
const _: () = assert!(core::mem::size_of::<MemberKey>() == 24);
const _: () = assert!(core::mem::size_of::<MemberValue>() == 4);
const _: () = assert!(core::mem::size_of::<Backend4>() == 8);
const _: () = assert!(core::mem::size_of::<Backend6>() == 20);
const _: () = assert!(core::mem::size_of::<RevNat4Key>() == 16);
const _: () = assert!(core::mem::size_of::<RevNat4Value>() == 8);
const _: () = assert!(core::mem::size_of::<RevNat6Key>() == 32);
const _: () = assert!(core::mem::size_of::<RevNat6Value>() == 20);
const _: () = assert!(core::mem::size_of::<ServiceStats>() == 16);

#[cfg(feature = "user")]
mod pod {
    use super::*;

    macro_rules! pod {
        ($($t:ty),* $(,)?) => {$(
            // SAFETY: the type is #[repr(C)], made only of integers and
            // integer arrays with explicit padding fields, so every bit
            // pattern is valid and it has no implicit padding.
            unsafe impl aya::Pod for $t {}
        )*};
    }

    pod!(
        Service4Key,
        Service6Key,
        ServiceValue,
        Backend4,
        Backend6,
        RevNat4Key,
        RevNat4Value,
        RevNat6Key,
        RevNat6Value,
        ServiceStats,
        AffinityKey,
        AffinityValue,
        AffinityMatchKey,
        MemberKey,
        MemberValue,
    );
}
