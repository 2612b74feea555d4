//! Ending the sockets of removed backends inside the kernel (6.5+): BPF
//! socket iterators (`iter/tcp`, `iter/udp`) that destroy, with the
//! `bpf_sock_destroy` kfunc, each socket of the iterated network namespace
//! whose reverse-NAT entry names a (frontend, backend) pair that `DOOMED`
//! lists. One byte goes to the iterator's seq file per socket ended, so the
//! reader counts them. See `berth_ebpf_common::destroy`.
//!
//! One object per attach point, apart from the socket LB: it loads only
//! where the kernel has the kfunc, and finds the LB's pinned reverse-NAT
//! maps by name.
#![no_std]
#![no_main]

mod revnat;
mod rt;

use core::{ffi::c_void, ptr::read_volatile};

use aya_ebpf::{
    helpers::{bpf_get_socket_cookie, bpf_seq_write},
    macros::map,
    maps::HashMap,
};
use berth_ebpf_common::{
    PROTO_TCP, PROTO_UDP,
    destroy::{AF_INET, AF_INET6, DoomedKey, SOCK_DESTROY_PLACEHOLDER, sock_common},
    lb::{RevNat4Key, RevNat6Key},
};

use revnat::{REVNAT4, REVNAT6};

/// The pairs whose sockets are to end; filled by userspace per batch.
#[map]
static DOOMED: HashMap<DoomedKey, u8> = HashMap::with_max_entries(4096, 0);

/// TCP states whose sockets have no peer to end: TCP_TIME_WAIT,
/// TCP_CLOSE, TCP_LISTEN, TCP_NEW_SYN_RECV.
const SKIP_STATES: [u8; 4] = [6, 7, 10, 12];

/// `struct bpf_iter__tcp` / `bpf_iter__udp`: the meta pointer, then the
/// socket (`sock_common *` / `udp_sock *`, both starting with a
/// `sock_common`).
#[repr(C)]
struct IterCtx {
    meta: *const IterMeta,
    sk: *mut u8,
}

/// `struct bpf_iter_meta`: its seq file first.
#[repr(C)]
struct IterMeta {
    seq: *mut c_void,
}

#[unsafe(no_mangle)]
#[unsafe(link_section = "iter/tcp")]
pub extern "C" fn berth_destroy_tcp(ctx: *mut c_void) -> i32 {
    let _ = try_destroy(ctx, PROTO_TCP);
    0
}

#[unsafe(no_mangle)]
#[unsafe(link_section = "iter/udp")]
pub extern "C" fn berth_destroy_udp(ctx: *mut c_void) -> i32 {
    let _ = try_destroy(ctx, PROTO_UDP);
    0
}

/// Nothing to do for this socket.
struct Keep;

#[inline(always)]
fn try_destroy(ctx: *mut c_void, proto: u8) -> Result<(), Keep> {
    let ctx = ctx as *const IterCtx;
    // SAFETY: ctx is the iterator context the kernel passed in.
    let sk = unsafe { read_volatile(&(*ctx).sk) };
    if sk.is_null() {
        return Err(Keep);
    }
    // SAFETY: sk is a non-null sock_common the kernel hands the iterator;
    // the verifier checks each load against its BTF type.
    let (family, state, dport) = unsafe {
        (
            read_volatile(sk.add(sock_common::FAMILY) as *const u16),
            read_volatile(sk.add(sock_common::STATE)),
            read_volatile(sk.add(sock_common::DPORT) as *const u16),
        )
    };
    if dport == 0 || (proto == PROTO_TCP && SKIP_STATES.contains(&state)) {
        return Err(Keep);
    }
    // SAFETY: tracing programs may ask a sock_common pointer its cookie.
    let cookie = unsafe { bpf_get_socket_cookie(sk as *mut c_void) };
    let mut key = DoomedKey {
        backend_port: dport,
        proto,
        ..DoomedKey::default()
    };
    if family == u16::from(AF_INET) {
        // SAFETY: sk is the same non-null sock_common; the verifier checks
        // this load against its BTF type too.
        let daddr = unsafe { read_volatile(sk.add(sock_common::DADDR) as *const u32) };
        let rk = RevNat4Key {
            cookie,
            addr: daddr,
            port: dport,
            _pad: 0,
        };
        // SAFETY: the value's fields are read at once. LRU maps are
        // preallocated: an entry reused meanwhile could give another
        // socket's VIP, a race of a few instructions under LRU pressure.
        let v = unsafe { REVNAT4.get(rk) }.ok_or(Keep)?;
        key.family = AF_INET;
        key.backend[0] = daddr;
        key.vip[0] = v.addr;
        key.vip_port = v.port;
    } else if family == u16::from(AF_INET6) {
        let a = sock_common::V6_DADDR;
        // SAFETY: sk is the same non-null sock_common; its in6_addr is read
        // word by word, each load checked by the verifier against BTF.
        let daddr = unsafe {
            [
                read_volatile(sk.add(a) as *const u32),
                read_volatile(sk.add(a + 4) as *const u32),
                read_volatile(sk.add(a + 8) as *const u32),
                read_volatile(sk.add(a + 12) as *const u32),
            ]
        };
        let rk = RevNat6Key {
            cookie,
            addr: daddr,
            port: dport,
            _pad: [0; 6],
        };
        // SAFETY: the value's fields are read at once. LRU maps are
        // preallocated: an entry reused meanwhile could give another
        // socket's VIP, a race of a few instructions under LRU pressure.
        let v = unsafe { REVNAT6.get(rk) }.ok_or(Keep)?;
        key.family = AF_INET6;
        key.backend = daddr;
        key.vip = v.addr;
        key.vip_port = v.port;
    } else {
        return Err(Keep);
    }
    // SAFETY: only presence is read.
    if unsafe { DOOMED.get(key) }.is_none() {
        return Err(Keep);
    }
    if sock_destroy(sk as *mut c_void) != 0 {
        return Err(Keep);
    }
    let one = 1u8;
    // SAFETY: meta and its seq file come from the kernel's context; one
    // byte of the stack is written to it.
    unsafe {
        let meta = read_volatile(&(*ctx).meta);
        let seq = read_volatile(&(*meta).seq);
        bpf_seq_write(seq as *mut _, &one as *const u8 as *const c_void, 1);
    }
    Ok(())
}

/// `bpf_sock_destroy(struct sock_common *)`: emitted as a helper call with
/// [`SOCK_DESTROY_PLACEHOLDER`], which the loader turns into a kfunc call.
#[inline(always)]
fn sock_destroy(sk: *mut c_void) -> i64 {
    // SAFETY: the call's immediate is rewritten before loading into a call
    // of the kernel's bpf_sock_destroy, which takes a sock_common and
    // returns 0 or a negative errno; an object that was not rewritten is
    // never loaded.
    unsafe {
        let f: unsafe extern "C" fn(*mut c_void) -> i64 =
            core::mem::transmute(SOCK_DESTROY_PLACEHOLDER as usize);
        f(sk)
    }
}
