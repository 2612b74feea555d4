//! Ending the sockets of removed backends from inside the kernel (the
//! `iter/tcp` and `iter/udp` programs of the `berth-sock-destroy` object,
//! kernels with the `bpf_sock_destroy` kfunc, 6.5+).
//!
//! Userspace writes one [`DoomedKey`] per (frontend, removed backend) into
//! the object's `DOOMED` map, then reads an iterator in each network
//! namespace: the program looks up each connected socket's reverse-NAT
//! entry (which VIP it asked for) and destroys it when `DOOMED` names that
//! VIP and its peer. `DOOMED` is private to one loaded object, never pinned.

/// `AF_INET`, as `sock_common.skc_family` holds it.
pub const AF_INET: u8 = 2;
/// `AF_INET6`.
pub const AF_INET6: u8 = 10;

/// The call immediate the kernel program uses for `bpf_sock_destroy`: the
/// loader rewrites each such helper call into a kfunc call with the
/// kfunc's BTF id in the running kernel (aya has no kfunc relocation).
pub const SOCK_DESTROY_PLACEHOLDER: u32 = 0x7b57_d357;

/// Offsets in `struct sock_common` (x86-64 and every 64-bit arch; stable
/// since 4.x): destination address and port, family, state, v6 peer.
pub mod sock_common {
    /// `skc_daddr` (`__be32`).
    pub const DADDR: usize = 0;
    /// `skc_dport` (`__be16`).
    pub const DPORT: usize = 12;
    /// `skc_family` (`unsigned short`).
    pub const FAMILY: usize = 16;
    /// `skc_state` (`unsigned char`).
    pub const STATE: usize = 18;
    /// `skc_v6_daddr` (`struct in6_addr`).
    pub const V6_DADDR: usize = 56;
}

/// A socket to end: its peer (the removed backend) and the frontend it
/// reached it through. v4 addresses use word 0, the rest zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct DoomedKey {
    /// Backend address, network byte order.
    pub backend: [u32; 4],
    /// VIP, network byte order.
    pub vip: [u32; 4],
    /// Backend port, network byte order.
    pub backend_port: u16,
    /// Service port, network byte order.
    pub vip_port: u16,
    /// [`AF_INET`] or [`AF_INET6`].
    pub family: u8,
    /// [`crate::PROTO_TCP`] or [`crate::PROTO_UDP`].
    pub proto: u8,
    pub _pad: [u8; 2],
}

const _: () = assert!(core::mem::size_of::<DoomedKey>() == 40);

#[cfg(feature = "user")]
// SAFETY: #[repr(C)], integers and integer arrays only, explicit padding:
// every bit pattern is valid and there is no implicit padding.
unsafe impl aya::Pod for DoomedKey {}
