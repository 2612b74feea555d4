//! An IPv6 TCP or UDP packet in a tc program (no extension headers: a
//! packet with any is left to the kernel), read, rewritten and sent on as
//! [`crate::packet4`] does; IPv6 has no header checksum.

use aya_ebpf::{
    bindings::{BPF_F_PSEUDO_HDR, bpf_fib_lookup},
    programs::TcContext,
};
use berth_ebpf_common::ct::{Ct6Key, Ct6Value};

use crate::l4::{ETH_HLEN, L4, Sum, ports, redirect};

const AF_INET6: u8 = 10;
const IP6_NEXTHDR: usize = ETH_HLEN + 6;
const IP6_SADDR: usize = ETH_HLEN + 8;
const IP6_DADDR: usize = ETH_HLEN + 24;
const IP6_HLEN: usize = 40;

/// A parsed packet: its tuple and where its L4 header is.
pub struct Packet6 {
    pub key: Ct6Key,
    /// TCP flags (FIN, SYN, RST bits), 0 for UDP.
    pub tcp_flags: u8,
    at: L4,
}

/// The packet's tuple, if it is an IPv6 TCP or UDP packet without
/// extension headers.
#[inline(always)]
pub fn parse(ctx: &TcContext) -> Option<Packet6> {
    let proto: u8 = ctx.load(IP6_NEXTHDR).ok()?;
    let (at, tcp_flags) = L4::parse(ctx, ETH_HLEN + IP6_HLEN, proto)?;
    Some(Packet6 {
        key: Ct6Key {
            saddr: ctx.load(IP6_SADDR).ok()?,
            daddr: ctx.load(IP6_DADDR).ok()?,
            sport: ctx.load(at.offset).ok()?,
            dport: ctx.load(at.offset + 2).ok()?,
            proto,
            _pad: [0; 3],
        },
        tcp_flags,
        at,
    })
}

/// Rewrites one address at `offset` (16 bytes), and the L4 checksum's
/// pseudo-header, word by word.
#[inline(always)]
fn address6(
    ctx: &TcContext,
    offset: usize,
    at: &L4,
    sum: Sum,
    from: &[u32; 4],
    to: &[u32; 4],
) -> Result<(), i64> {
    if from == to {
        return Ok(());
    }
    ctx.store(offset, to, 0)?;
    if sum.l4 {
        let flags = u64::from(BPF_F_PSEUDO_HDR) | sum.mangled | 4;
        for i in 0..4 {
            ctx.l4_csum_replace(at.csum, u64::from(from[i]), u64::from(to[i]), flags)?;
        }
    }
    Ok(())
}

/// Rewrites the packet's tuple to `to`'s, checksum included.
#[inline(always)]
pub fn rewrite(ctx: &TcContext, p: &Packet6, to: &Ct6Value) -> Result<(), i64> {
    let k = &p.key;
    let sum = Sum::of(ctx, &p.at, k.proto)?;
    address6(ctx, IP6_SADDR, &p.at, sum, &k.saddr, &to.saddr)?;
    address6(ctx, IP6_DADDR, &p.at, sum, &k.daddr, &to.daddr)?;
    ports(ctx, &p.at, sum, (k.sport, k.dport), (to.sport, to.dport))
}

/// Sends the rewritten packet on ([`crate::l4::redirect`]).
#[inline(always)]
pub fn forward(ctx: &TcContext, to: &Ct6Value, proto: u8) -> Option<i32> {
    // SAFETY: all-zero is a valid bpf_fib_lookup (integers and unions of
    // integers only).
    let mut params: bpf_fib_lookup = unsafe { core::mem::zeroed() };
    params.family = AF_INET6;
    params.l4_protocol = proto;
    params.sport = to.sport;
    params.dport = to.dport;
    params.__bindgen_anon_3.ipv6_src = to.saddr;
    params.__bindgen_anon_4.ipv6_dst = to.daddr;
    redirect(ctx, &mut params)
}
