//! An IPv4 TCP or UDP packet in a tc program: its tuple read with
//! `bpf_skb_load_bytes`, rewritten with `bpf_skb_store_bytes` and the
//! checksum helpers, and sent on after a FIB lookup.

use core::{mem::size_of, ptr::null_mut};

use aya_ebpf::{
    bindings::{
        BPF_F_MARK_MANGLED_0, BPF_F_PSEUDO_HDR, BPF_FIB_LKUP_RET_NO_NEIGH,
        BPF_FIB_LKUP_RET_SUCCESS, TC_ACT_OK, bpf_fib_lookup,
    },
    helpers::generated::{bpf_fib_lookup as fib_lookup, bpf_redirect_neigh},
    programs::TcContext,
};
use berth_ebpf_common::{
    PROTO_TCP, PROTO_UDP,
    ct::{Ct4Key, Ct4Value},
};

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const AF_INET: u8 = 2;
const IP_CSUM: usize = ETH_HLEN + 10;
const IP_SADDR: usize = ETH_HLEN + 12;
const IP_DADDR: usize = ETH_HLEN + 16;

/// A parsed packet: its tuple and where its L4 header and checksum are.
pub struct Packet4 {
    pub key: Ct4Key,
    /// TCP flags (FIN, SYN, RST bits), 0 for UDP.
    pub tcp_flags: u8,
    l4: usize,
    csum: usize,
}

/// The packet's tuple, if it is an unfragmented IPv4 TCP or UDP packet.
#[inline(always)]
pub fn parse(ctx: &TcContext) -> Option<Packet4> {
    let ethertype: u16 = ctx.load(12).ok()?;
    if u16::from_be(ethertype) != ETH_P_IP {
        return None;
    }
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
    let l4 = ETH_HLEN + ihl;
    let (csum, tcp_flags) = match proto {
        PROTO_TCP => (l4 + 16, ctx.load::<u8>(l4 + 13).ok()? & 0x07),
        PROTO_UDP => (l4 + 6, 0),
        _ => return None,
    };
    Some(Packet4 {
        key: Ct4Key {
            saddr: ctx.load(IP_SADDR).ok()?,
            daddr: ctx.load(IP_DADDR).ok()?,
            sport: ctx.load(l4).ok()?,
            dport: ctx.load(l4 + 2).ok()?,
            proto,
            _pad: [0; 3],
        },
        tcp_flags,
        l4,
        csum,
    })
}

/// Rewrites the packet's tuple to `to`'s, checksums included.
#[inline(always)]
pub fn rewrite(ctx: &TcContext, p: &Packet4, to: &Ct4Value) -> Result<(), i64> {
    let k = &p.key;
    let udp = k.proto == PROTO_UDP;
    // A UDP checksum of 0 means none: it stays 0 (MARK_MANGLED_0 keeps a
    // computed 0 from reading as "none").
    let l4_sum = !udp || ctx.load::<u16>(p.csum)? != 0;
    let mangled = if udp {
        u64::from(BPF_F_MARK_MANGLED_0)
    } else {
        0
    };
    let pseudo = u64::from(BPF_F_PSEUDO_HDR);
    if to.saddr != k.saddr {
        ctx.store(IP_SADDR, &to.saddr, 0)?;
        ctx.l3_csum_replace(IP_CSUM, u64::from(k.saddr), u64::from(to.saddr), 4)?;
        if l4_sum {
            ctx.l4_csum_replace(
                p.csum,
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
                p.csum,
                u64::from(k.daddr),
                u64::from(to.daddr),
                pseudo | mangled | 4,
            )?;
        }
    }
    if to.sport != k.sport {
        ctx.store(p.l4, &to.sport, 0)?;
        if l4_sum {
            ctx.l4_csum_replace(p.csum, u64::from(k.sport), u64::from(to.sport), mangled | 2)?;
        }
    }
    if to.dport != k.dport {
        ctx.store(p.l4 + 2, &to.dport, 0)?;
        if l4_sum {
            ctx.l4_csum_replace(p.csum, u64::from(k.dport), u64::from(to.dport), mangled | 2)?;
        }
    }
    Ok(())
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
    // SAFETY: the skb pointer is the program's context, valid for its run.
    params.ifindex = unsafe { (*ctx.skb.skb).ingress_ifindex };
    params.__bindgen_anon_3.ipv4_src = to.saddr;
    params.__bindgen_anon_4.ipv4_dst = to.daddr;
    // SAFETY: the helper reads and writes `params`, a stack value of the
    // size passed, and takes the context pointer of a tc program.
    let r = unsafe {
        fib_lookup(
            ctx.skb.skb.cast(),
            &mut params,
            size_of::<bpf_fib_lookup>() as i32,
            0,
        )
    };
    if r != i64::from(BPF_FIB_LKUP_RET_SUCCESS) && r != i64::from(BPF_FIB_LKUP_RET_NO_NEIGH) {
        return None;
    }
    // SAFETY: no neighbour parameters (the helper resolves the next hop
    // from the FIB itself); tc programs may call it (5.10+).
    Some(unsafe { bpf_redirect_neigh(params.ifindex, null_mut(), 0, 0) } as i32)
}

/// The verdict that hands the packet to the kernel unchanged.
pub const PASS: i32 = TC_ACT_OK;
