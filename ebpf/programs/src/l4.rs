//! What the IPv4 and IPv6 packet paths share: the L4 header's place and
//! checksum, port rewriting, and the FIB lookup's redirect.

use core::{mem::size_of, ptr::null_mut};

use aya_ebpf::{
    bindings::{
        BPF_F_MARK_MANGLED_0, BPF_FIB_LKUP_RET_NO_NEIGH, BPF_FIB_LKUP_RET_SUCCESS, TC_ACT_OK,
        bpf_fib_lookup,
    },
    helpers::generated::{bpf_fib_lookup as fib_lookup, bpf_redirect_neigh},
    programs::TcContext,
};
use berth_ebpf_common::{PROTO_TCP, PROTO_UDP};

pub const ETH_HLEN: usize = 14;
pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;

/// The frame's ethertype (host order).
#[inline(always)]
pub fn ethertype(ctx: &TcContext) -> Option<u16> {
    ctx.load::<u16>(12).ok().map(u16::from_be)
}

/// The verdict that hands the packet to the kernel unchanged.
pub const PASS: i32 = TC_ACT_OK;

/// Where a packet's TCP or UDP header and its checksum are.
pub struct L4 {
    pub offset: usize,
    pub csum: usize,
}

impl L4 {
    /// The header at `offset` of protocol `proto` (TCP or UDP) and the TCP
    /// flags (FIN, SYN, RST bits; 0 for UDP).
    #[inline(always)]
    pub fn parse(ctx: &TcContext, offset: usize, proto: u8) -> Option<(L4, u8)> {
        let (csum, flags) = match proto {
            PROTO_TCP => (offset + 16, ctx.load::<u8>(offset + 13).ok()? & 0x07),
            PROTO_UDP => (offset + 6, 0),
            _ => return None,
        };
        Some((L4 { offset, csum }, flags))
    }
}

/// How the L4 checksum is updated.
#[derive(Clone, Copy)]
pub struct Sum {
    /// Whether there is one (a UDP checksum of 0 means none: it stays 0).
    pub l4: bool,
    /// `BPF_F_MARK_MANGLED_0` for UDP: a computed 0 is written as 0xffff.
    pub mangled: u64,
}

impl Sum {
    #[inline(always)]
    pub fn of(ctx: &TcContext, at: &L4, proto: u8) -> Result<Sum, i64> {
        let udp = proto == PROTO_UDP;
        Ok(Sum {
            l4: !udp || ctx.load::<u16>(at.csum)? != 0,
            mangled: if udp {
                u64::from(BPF_F_MARK_MANGLED_0)
            } else {
                0
            },
        })
    }
}

/// Rewrites the source and destination ports `from` → `to` (network
/// order), checksum included.
#[inline(always)]
pub fn ports(
    ctx: &TcContext,
    at: &L4,
    sum: Sum,
    from: (u16, u16),
    to: (u16, u16),
) -> Result<(), i64> {
    for (offset, old, new) in [(at.offset, from.0, to.0), (at.offset + 2, from.1, to.1)] {
        if old != new {
            ctx.store(offset, &new, 0)?;
            if sum.l4 {
                ctx.l4_csum_replace(at.csum, u64::from(old), u64::from(new), sum.mangled | 2)?;
            }
        }
    }
    Ok(())
}

/// Looks the rewritten packet's route up (`params` filled but for the
/// ingress device) and sends it out of that device, the neighbour's
/// address filled in. `None`: no route (the kernel gets the packet).
#[inline(always)]
pub fn redirect(ctx: &TcContext, params: &mut bpf_fib_lookup) -> Option<i32> {
    // SAFETY: the skb pointer is the program's context, valid for its run.
    params.ifindex = unsafe { (*ctx.skb.skb).ingress_ifindex };
    // SAFETY: the helper reads and writes `params`, a value of the size
    // passed, and takes the context pointer of a tc program.
    let r = unsafe {
        fib_lookup(
            ctx.skb.skb.cast(),
            params,
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
