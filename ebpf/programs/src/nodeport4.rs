//! The IPv4 per-packet path: a packet of a tracked flow is rewritten as its
//! entry says; a new packet to an external frontend (a NodePort on a node
//! address, an externalIP) picks a backend as the socket hooks do, gets
//! its two conntrack entries (SNAT to the node's address unless the
//! frontend is externalTrafficPolicy Local) and is sent on.

use aya_ebpf::{bindings::TC_ACT_SHOT, programs::TcContext};
use berth_ebpf_common::{
    ct::{
        CT_F_REPLY, CT_F_SNAT, Ct4Key, Ct4Value, NP_STAT_FIB_MISS, NP_STAT_NEW, NP_STAT_NO_BACKEND,
        NP_STAT_NO_SNAT_PORT, NP_STAT_TRACKED, SNAT_TRIES, snat_port,
    },
    lb::{SVC_F_EXTERNAL, SVC_F_LOCAL, Service4Key},
};

use crate::{
    ct::{self, CT4},
    ctx::{Skip, now_ns, random},
    family::V4,
    l4::PASS,
    maps::count_translated,
    packet4::{Packet4, forward, parse, rewrite},
    pick::{select, service},
};

/// Marks a client address as one, so it never equals a network-namespace
/// cookie (the client of the socket hooks) in the affinity map.
pub const WIRE_CLIENT: u64 = 1 << 63;

pub fn try_ingress(ctx: &TcContext) -> Result<i32, i64> {
    let Some(p) = parse(ctx) else {
        return Ok(PASS);
    };
    let now = now_ns();
    if let Some(e) = ct::seen(&CT4, &p.key, now, p.tcp_flags) {
        ct::count(NP_STAT_TRACKED);
        return send(ctx, &p, &e);
    }
    let k = &p.key;
    match service::<V4>(Service4Key::master(k.daddr, k.dport, k.proto)) {
        Some(m) if m.flags & SVC_F_EXTERNAL != 0 => {}
        _ => return Ok(PASS),
    }
    let client = WIRE_CLIENT | u64::from(k.saddr);
    let (master, backend_id, be) = match select::<V4>(k.daddr, k.dport, k.proto, client) {
        Ok(found) => found,
        Err(Skip::NotService) => return Ok(PASS),
        Err(Skip::Refuse) => {
            ct::count(NP_STAT_NO_BACKEND);
            return Ok(TC_ACT_SHOT);
        }
    };
    let mut out = Ct4Value {
        saddr: k.saddr,
        daddr: be.addr,
        sport: k.sport,
        dport: be.port,
        flags: 0,
        tcp_flags: p.tcp_flags,
        _pad: [0; 2],
        backend_id,
        service_id: master.service_id,
        last_ns: now,
        packets: 1,
    };
    let mut reply = Ct4Value {
        saddr: k.daddr,
        daddr: k.saddr,
        sport: k.dport,
        dport: k.sport,
        flags: CT_F_REPLY,
        tcp_flags: 0,
        packets: 0,
        ..out
    };
    if master.flags & SVC_F_LOCAL == 0 {
        out.flags |= CT_F_SNAT;
        reply.flags |= CT_F_SNAT;
        if !snat(&mut out, &reply, k.proto) {
            ct::count(NP_STAT_NO_SNAT_PORT);
            return Ok(TC_ACT_SHOT);
        }
    } else {
        let _ = CT4.insert(Ct4Key::reply_of(&out, k.proto), reply, 0);
    }
    // Losing the entry (LRU pressure) costs the flow: its next packet is
    // a new flow, which a backend answers with a reset.
    let _ = CT4.insert(k, out, 0);
    ct::count(NP_STAT_NEW);
    count_translated(master.service_id, backend_id);
    send(ctx, &p, &out)
}

/// Takes the node's address and a free source port for `out`, and records
/// `reply` under the tuple its replies come back with. False: none free.
#[inline(always)]
fn snat(out: &mut Ct4Value, reply: &Ct4Value, proto: u8) -> bool {
    let Some(cfg) = ct::config() else {
        return false;
    };
    if cfg.snat4 == 0 {
        return false;
    }
    out.saddr = cfg.snat4;
    let r = random();
    for attempt in 0..SNAT_TRIES {
        out.sport = snat_port(cfg.snat_port_min, cfg.snat_port_max, r, attempt).to_be();
        // BPF_NOEXIST: a port in use by another flow is never taken over.
        if CT4
            .insert(Ct4Key::reply_of(out, proto), reply, u64::from(NOEXIST))
            .is_ok()
        {
            return true;
        }
    }
    false
}

const NOEXIST: u32 = aya_ebpf::bindings::BPF_NOEXIST;

/// Rewrites the packet to `to` and sends it on.
#[inline(always)]
fn send(ctx: &TcContext, p: &Packet4, to: &Ct4Value) -> Result<i32, i64> {
    rewrite(ctx, p, to)?;
    Ok(match forward(ctx, to, p.key.proto) {
        Some(verdict) => verdict,
        None => {
            ct::count(NP_STAT_FIB_MISS);
            PASS
        }
    })
}
