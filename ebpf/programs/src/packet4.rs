//! An IPv4 TCP or UDP packet in a tc program: its tuple read with
//! `bpf_skb_load_bytes`, rewritten with `bpf_skb_store_bytes` and the
//! checksum helpers, and sent on after a FIB lookup.

use aya_ebpf::{
    bindings::{BPF_F_PSEUDO_HDR, bpf_fib_lookup},
    programs::TcContext,
};
use berth_ebpf_common::ct::{Ct4Key, Ct4Value};

use crate::l4::{ETH_HLEN, L4, Sum, ports, redirect};

const AF_INET: u8 = 2;
const IP_CSUM: usize = ETH_HLEN + 10;
const IP_SADDR: usize = ETH_HLEN + 12;
const IP_DADDR: usize = ETH_HLEN + 16;

/// A parsed packet: its tuple and where its L4 header and checksum are.
pub struct Packet4 {
    pub key: Ct4Key,
    /// TCP flags (FIN, SYN, RST bits), 0 for UDP.
    pub tcp_flags: u8,
    at: L4,
}

/// The packet's tuple, if it is an unfragmented IPv4 TCP or UDP packet.
#[inline(always)]
pub fn parse(ctx: &TcContext) -> Option<Packet4> {
    let vihl: u8 = ctx.load(ETH_HLEN).ok()?;
    if vihl >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    if ihl < 20 {
        return None;
    }
    let frag: u16 = ctx.load(ETH_HLEN + 6).ok()?;
    // More fragments, or an offset: not the whole datagram, no ports.
    if u16::from_be(frag) & 0x3fff != 0 {
        return None;
    }
    let proto: u8 = ctx.load(ETH_HLEN + 9).ok()?;
    let (at, tcp_flags) = L4::parse(ctx, ETH_HLEN + ihl, proto)?;
    Some(Packet4 {
        key: Ct4Key {
            saddr: ctx.load(IP_SADDR).ok()?,
            daddr: ctx.load(IP_DADDR).ok()?,
            sport: ctx.load(at.offset).ok()?,
            dport: ctx.load(at.offset + 2).ok()?,
            proto,
            _pad: [0; 3],
        },
        tcp_flags,
        at,
    })
}

/// Rewrites the packet's tuple to `to`'s, checksums included.
#[inline(always)]
pub fn rewrite(ctx: &TcContext, p: &Packet4, to: &Ct4Value) -> Result<(), i64> {
    let k = &p.key;
    let Sum {
        l4: l4_sum,
        mangled,
    } = Sum::of(ctx, &p.at, k.proto)?;
    let pseudo = u64::from(BPF_F_PSEUDO_HDR);
    if to.saddr != k.saddr {
        ctx.store(IP_SADDR, &to.saddr, 0)?;
        ctx.l3_csum_replace(IP_CSUM, u64::from(k.saddr), u64::from(to.saddr), 4)?;
        if l4_sum {
            ctx.l4_csum_replace(
                p.at.csum,
                u64::from(k.saddr),
                u64::from(to.saddr),
                pseudo | mangled | 4,
            )?;
        }
    }
    if to.daddr != k.daddr {
        ctx.store(IP_DADDR, &to.daddr, 0)?;
        ctx.l3_csum_replace(IP_CSUM, u64::from(k.daddr), u64::from(to.daddr), 4)?;
        if l4_sum {
            ctx.l4_csum_replace(
                p.at.csum,
                u64::from(k.daddr),
                u64::from(to.daddr),
                pseudo | mangled | 4,
            )?;
        }
    }
    let sum = Sum {
        l4: l4_sum,
        mangled,
    };
    ports(ctx, &p.at, sum, (k.sport, k.dport), (to.sport, to.dport))
}

/// Sends the rewritten packet (now `to`'s tuple) out of the device the FIB
/// routes it to, with the neighbour's address filled in. `None`: no route
/// (the kernel gets the packet as it is).
#[inline(always)]
pub fn forward(ctx: &TcContext, to: &Ct4Value, proto: u8) -> Option<i32> {
    // SAFETY: all-zero is a valid bpf_fib_lookup (integers and unions of
    // integers only).
    let mut params: bpf_fib_lookup = unsafe { core::mem::zeroed() };
    params.family = AF_INET;
    params.l4_protocol = proto;
    params.sport = to.sport;
    params.dport = to.dport;
    params.__bindgen_anon_3.ipv4_src = to.saddr;
    params.__bindgen_anon_4.ipv4_dst = to.daddr;
    redirect(ctx, &mut params)
}
