//! What the socket hooks need of an address family, so that their logic
//! ([`crate::sock`]) is written once: the sockaddr's address field, the
//! family's service, VIP, backend and reverse-NAT maps, and their keys.
//! [`V4`] and [`V6`] are the two. Every method is `#[inline(always)]`:
//! the generic logic becomes one function per family, as the hand-written
//! twins were, with no calls through the trait left in the object.

use aya_ebpf::{
    maps::{HashMap, LruHashMap},
    programs::SockAddrContext,
};
use berth_ebpf_common::lb::{
    Backend4, Backend6, RevNat4Key, RevNat4Value, RevNat6Key, RevNat6Value, Service4Key,
    Service6Key, ServiceValue,
};

use crate::maps::{BACKEND4, BACKEND6, REVNAT4, REVNAT6, SVC4, SVC6, VIP4, VIP6};

/// An address and port, network byte order.
pub type Endpoint<A> = (A, u16);

/// An address family of the socket hooks.
pub trait Family {
    /// An address, network byte order, as the sockaddr holds it.
    type Addr: Copy + 'static;
    /// Key of [`Family::services`].
    type ServiceKey: 'static;
    /// Value of [`Family::backends`].
    type Backend: Copy + 'static;
    /// Key of [`Family::revnat`].
    type RevNatKey: 'static;
    /// Value of [`Family::revnat`].
    type RevNatValue: Copy + 'static;

    /// Frontends: masters and backend slots (`SVC4`/`SVC6`).
    fn services() -> &'static HashMap<Self::ServiceKey, ServiceValue>;
    /// Addresses that are VIPs (`VIP4`/`VIP6`).
    fn vips() -> &'static HashMap<Self::Addr, u32>;
    /// Backends by id (`BACKEND4`/`BACKEND6`).
    fn backends() -> &'static HashMap<u32, Self::Backend>;
    /// Socket and backend → the VIP it asked for (`REVNAT4`/`REVNAT6`).
    fn revnat() -> &'static LruHashMap<Self::RevNatKey, Self::RevNatValue>;

    /// The address the application named.
    fn user_ip(ctx: &SockAddrContext) -> Self::Addr;
    /// Rewrites the address the application named.
    fn set_user_ip(ctx: &SockAddrContext, addr: Self::Addr);
    /// Key of slot `slot` of generation `gen_` of frontend (vip, port,
    /// proto); slot 0 of generation 0 is the frontend's master.
    fn service_key(vip: Self::Addr, port: u16, proto: u8, gen_: u8, slot: u16) -> Self::ServiceKey;
    /// A backend's address and port.
    fn backend_endpoint(be: &Self::Backend) -> Endpoint<Self::Addr>;
    /// Reverse-NAT key of socket `cookie` talking to `backend`.
    fn revnat_key(cookie: u64, backend: Endpoint<Self::Addr>) -> Self::RevNatKey;
    /// Reverse-NAT value: the VIP and port the socket asked for.
    fn revnat_value(vip: Endpoint<Self::Addr>) -> Self::RevNatValue;
    /// What [`Family::revnat_value`] holds.
    fn revnat_vip(v: &Self::RevNatValue) -> Endpoint<Self::Addr>;
}

/// IPv4.
pub struct V4;

impl Family for V4 {
    type Addr = u32;
    type ServiceKey = Service4Key;
    type Backend = Backend4;
    type RevNatKey = RevNat4Key;
    type RevNatValue = RevNat4Value;

    #[inline(always)]
    fn services() -> &'static HashMap<Service4Key, ServiceValue> {
        &SVC4
    }

    #[inline(always)]
    fn vips() -> &'static HashMap<u32, u32> {
        &VIP4
    }

    #[inline(always)]
    fn backends() -> &'static HashMap<u32, Backend4> {
        &BACKEND4
    }

    #[inline(always)]
    fn revnat() -> &'static LruHashMap<RevNat4Key, RevNat4Value> {
        &REVNAT4
    }

    #[inline(always)]
    fn user_ip(ctx: &SockAddrContext) -> u32 {
        // SAFETY: ctx.sock_addr is the context pointer the kernel passed in,
        // valid for the whole run of the program.
        unsafe { (*ctx.sock_addr).user_ip4 }
    }

    #[inline(always)]
    fn set_user_ip(ctx: &SockAddrContext, addr: u32) {
        // SAFETY: the context pointer, as in user_ip; user_ip4 is writable
        // in the v4 hooks (connect4, sendmsg4, recvmsg4, getpeername4).
        unsafe { (*ctx.sock_addr).user_ip4 = addr };
    }

    #[inline(always)]
    fn service_key(vip: u32, port: u16, proto: u8, gen_: u8, slot: u16) -> Service4Key {
        Service4Key::slot(vip, port, proto, gen_, slot)
    }

    #[inline(always)]
    fn backend_endpoint(be: &Backend4) -> Endpoint<u32> {
        (be.addr, be.port)
    }

    #[inline(always)]
    fn revnat_key(cookie: u64, (addr, port): Endpoint<u32>) -> RevNat4Key {
        RevNat4Key {
            cookie,
            addr,
            port,
            _pad: 0,
        }
    }

    #[inline(always)]
    fn revnat_value((addr, port): Endpoint<u32>) -> RevNat4Value {
        RevNat4Value {
            addr,
            port,
            _pad: 0,
        }
    }

    #[inline(always)]
    fn revnat_vip(v: &RevNat4Value) -> Endpoint<u32> {
        (v.addr, v.port)
    }
}

/// IPv6.
pub struct V6;

impl Family for V6 {
    type Addr = [u32; 4];
    type ServiceKey = Service6Key;
    type Backend = Backend6;
    type RevNatKey = RevNat6Key;
    type RevNatValue = RevNat6Value;

    #[inline(always)]
    fn services() -> &'static HashMap<Service6Key, ServiceValue> {
        &SVC6
    }

    #[inline(always)]
    fn vips() -> &'static HashMap<[u32; 4], u32> {
        &VIP6
    }

    #[inline(always)]
    fn backends() -> &'static HashMap<u32, Backend6> {
        &BACKEND6
    }

    #[inline(always)]
    fn revnat() -> &'static LruHashMap<RevNat6Key, RevNat6Value> {
        &REVNAT6
    }

    #[inline(always)]
    fn user_ip(ctx: &SockAddrContext) -> [u32; 4] {
        // SAFETY: ctx.sock_addr is the context pointer the kernel passed in,
        // valid for the whole run of the program; each word is read whole,
        // as the verifier requires of context fields.
        unsafe {
            let a = &(*ctx.sock_addr).user_ip6;
            [a[0], a[1], a[2], a[3]]
        }
    }

    #[inline(always)]
    fn set_user_ip(ctx: &SockAddrContext, addr: [u32; 4]) {
        // SAFETY: the context pointer, as in user_ip; user_ip6 is writable
        // in the v6 hooks, word by word (as the verifier requires).
        unsafe {
            let a = &mut (*ctx.sock_addr).user_ip6;
            a[0] = addr[0];
            a[1] = addr[1];
            a[2] = addr[2];
            a[3] = addr[3];
        }
    }

    #[inline(always)]
    fn service_key(vip: [u32; 4], port: u16, proto: u8, gen_: u8, slot: u16) -> Service6Key {
        Service6Key::slot(vip, port, proto, gen_, slot)
    }

    #[inline(always)]
    fn backend_endpoint(be: &Backend6) -> Endpoint<[u32; 4]> {
        (be.addr, be.port)
    }

    #[inline(always)]
    fn revnat_key(cookie: u64, (addr, port): Endpoint<[u32; 4]>) -> RevNat6Key {
        RevNat6Key {
            cookie,
            addr,
            port,
            _pad: [0; 6],
        }
    }

    #[inline(always)]
    fn revnat_value((addr, port): Endpoint<[u32; 4]>) -> RevNat6Value {
        RevNat6Value {
            addr,
            port,
            _pad: 0,
        }
    }

    #[inline(always)]
    fn revnat_vip(v: &RevNat6Value) -> Endpoint<[u32; 4]> {
        (v.addr, v.port)
    }
}
