//! Helpers around `bpf_sock_addr` shared by the v4 and v6 hooks.

use aya_ebpf::{
    helpers::{bpf_get_netns_cookie, bpf_get_prandom_u32, bpf_get_socket_cookie, bpf_ktime_get_ns},
    programs::SockAddrContext,
};
use berth_ebpf_common::{ECONNREFUSED, PROTO_TCP, PROTO_UDP};

/// Let the syscall go on (rewritten or untouched).
pub const ALLOW: i32 = 1;
/// Fail the syscall; the errno is what `bpf_set_retval` set.
pub const DENY: i32 = 0;

/// Why a translation did not happen.
pub enum Skip {
    /// Not a service address: leave the syscall alone.
    NotService,
    /// A service address with nothing to serve it: refuse (ECONNREFUSED).
    Refuse,
}

/// The socket's protocol if the load balancer handles it.
#[inline(always)]
pub fn l4_proto(ctx: &SockAddrContext) -> Option<u8> {
    // SAFETY: ctx.sock_addr is the context pointer the kernel passed in.
    let proto = unsafe { (*ctx.sock_addr).protocol };
    match proto as u8 {
        PROTO_TCP => Some(PROTO_TCP),
        PROTO_UDP => Some(PROTO_UDP),
        _ => None,
    }
}

/// The destination port the application asked for, network byte order.
#[inline(always)]
pub fn user_port(ctx: &SockAddrContext) -> u16 {
    // SAFETY: ctx.sock_addr is the context pointer; user_port is a u32 field
    // read whole, as the verifier requires.
    (unsafe { (*ctx.sock_addr).user_port }) as u16
}

#[inline(always)]
pub fn set_user_port(ctx: &SockAddrContext, port: u16) {
    // SAFETY: writable context field of connect/sendmsg/recvmsg/getpeername.
    unsafe { (*ctx.sock_addr).user_port = port as u32 };
}

#[inline(always)]
pub fn cookie(ctx: &SockAddrContext) -> u64 {
    // SAFETY: the helper takes the context pointer of a sock_addr program.
    unsafe { bpf_get_socket_cookie(ctx.sock_addr.cast()) }
}

/// The client of a connection: the cookie of its socket's network
/// namespace (the pod), what affinity and Maglev key on.
#[inline(always)]
pub fn client(ctx: &SockAddrContext) -> u64 {
    // SAFETY: sock_addr programs may call this helper (5.7+) with their
    // context pointer.
    unsafe { bpf_get_netns_cookie(ctx.sock_addr.cast()) }
}

#[inline(always)]
pub fn now_ns() -> u64 {
    // SAFETY: a helper without arguments or side effects on memory.
    unsafe { bpf_ktime_get_ns() }
}

#[inline(always)]
pub fn random() -> u32 {
    // SAFETY: a helper without arguments or side effects on memory.
    unsafe { bpf_get_prandom_u32() }
}

/// Fails the syscall with ECONNREFUSED.
#[inline(always)]
pub fn refuse() -> i32 {
    // SAFETY: bpf_set_retval only sets the syscall's return value; cgroup
    // programs may call it (kernel 5.18+).
    unsafe { aya_ebpf::helpers::generated::bpf_set_retval(-ECONNREFUSED) };
    DENY
}

/// Maps a translation result to the program's return value.
#[inline(always)]
pub fn verdict(r: Result<(), Skip>) -> i32 {
    match r {
        Ok(()) | Err(Skip::NotService) => ALLOW,
        Err(Skip::Refuse) => refuse(),
    }
}
