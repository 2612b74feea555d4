//! IPv4 hooks: connect4/sendmsg4 translate a VIP to a backend,
//! recvmsg4/getpeername4 show the VIP again.

use aya_ebpf::{macros::cgroup_sock_addr, programs::SockAddrContext};
use berth_ebpf_common::{
    lb::{Backend4, RevNat4Key, RevNat4Value, Service4Key, ServiceValue},
    select::{Place, pick_slot, place},
};

use crate::{
    affinity,
    ctx::{ALLOW, Skip, client, cookie, l4_proto, random, set_user_port, user_port, verdict},
    maglev,
    maps::{BACKEND4, REVNAT4, SVC4, VIP4, count_refused, count_translated},
};

#[cgroup_sock_addr(connect4)]
pub fn berth_connect4(ctx: SockAddrContext) -> i32 {
    verdict(try_xlate4(&ctx))
}

#[cgroup_sock_addr(sendmsg4)]
pub fn berth_sendmsg4(ctx: SockAddrContext) -> i32 {
    verdict(try_xlate4(&ctx))
}

#[cgroup_sock_addr(recvmsg4)]
pub fn berth_recvmsg4(ctx: SockAddrContext) -> i32 {
    let _ = try_revnat4(&ctx);
    ALLOW
}

#[cgroup_sock_addr(getpeername4)]
pub fn berth_getpeername4(ctx: SockAddrContext) -> i32 {
    let _ = try_revnat4(&ctx);
    ALLOW
}

#[inline(always)]
fn user_ip4(ctx: &SockAddrContext) -> u32 {
    // SAFETY: ctx.sock_addr is the context pointer the kernel passed in.
    unsafe { (*ctx.sock_addr).user_ip4 }
}

#[inline(always)]
fn set_user_ip4(ctx: &SockAddrContext, addr: u32) {
    // SAFETY: user_ip4 is writable in the hooks this object attaches to.
    unsafe { (*ctx.sock_addr).user_ip4 = addr };
}

fn try_xlate4(ctx: &SockAddrContext) -> Result<(), Skip> {
    let proto = l4_proto(ctx).ok_or(Skip::NotService)?;
    let vip = user_ip4(ctx);
    let port = user_port(ctx);
    let (service_id, backend_id, be) = select4(vip, port, proto, client(ctx))?;
    let key = RevNat4Key {
        cookie: cookie(ctx),
        addr: be.addr,
        port: be.port,
        _pad: 0,
    };
    let value = RevNat4Value {
        addr: vip,
        port,
        _pad: 0,
    };
    // Losing a reverse entry only affects what recvmsg/getpeername show;
    // the connection itself still goes to the backend.
    let _ = REVNAT4.insert(key, value, 0);
    set_user_ip4(ctx, be.addr);
    set_user_port(ctx, be.port);
    count_translated(service_id, backend_id);
    Ok(())
}

/// Picks a backend of frontend (vip, port, proto) for `client`:
/// (service id, backend id, backend). An affinity frontend first offers
/// the client's backend; otherwise the frontend's Maglev table or a random
/// slot decides.
#[inline(always)]
fn select4(vip: u32, port: u16, proto: u8, client: u64) -> Result<(u32, u32, Backend4), Skip> {
    let master_key = Service4Key::master(vip, port, proto);
    // SAFETY: SVC4 is BPF_F_NO_PREALLOC, so the value is RCU-protected and
    // never reused under us; it is copied out at once.
    let Some(master) = (unsafe { SVC4.get(master_key) }).copied() else {
        // SAFETY: as above, for VIP4.
        return match unsafe { VIP4.get(vip) } {
            Some(_) => Err(Skip::Refuse),
            None => Err(Skip::NotService),
        };
    };
    if affinity::wanted(&master)
        && let Some(id) = affinity::lookup(client, &master)
        // SAFETY: NO_PREALLOC map; the value is copied out at once.
        && let Some(be) = unsafe { BACKEND4.get(id) }.copied()
    {
        return Ok((master.service_id, id, be));
    }
    let found = match pick4(vip, port, proto, &master, client) {
        Some(found) => Some((master, found)),
        // The backend set was replaced between the two lookups: the master
        // has flipped to the other generation. Read it once more.
        // SAFETY: as above.
        None => match unsafe { SVC4.get(master_key) }.copied() {
            Some(m) => pick4(vip, port, proto, &m, client).map(|f| (m, f)),
            None => return Err(Skip::Refuse),
        },
    };
    match found {
        Some((m, (id, be))) => {
            if affinity::wanted(&m) {
                affinity::store(client, &m, id);
            }
            Ok((m.service_id, id, be))
        }
        None => {
            count_refused(master.service_id);
            Err(Skip::Refuse)
        }
    }
}

#[inline(always)]
fn pick4(
    vip: u32,
    port: u16,
    proto: u8,
    master: &ServiceValue,
    client: u64,
) -> Option<(u32, Backend4)> {
    let backend_id = if maglev::wanted(master) {
        if master.count == 0 {
            return None;
        }
        maglev::pick(master, client)?
    } else {
        let slot = pick_slot(master.count, random())?;
        match place(master.count, slot) {
            Place::Inline(i) => *master.inline.get(i)?,
            Place::Slot(slot) => {
                let key = Service4Key::slot(vip, port, proto, master.gen_, slot);
                // SAFETY: NO_PREALLOC map; the value is copied out at once.
                unsafe { SVC4.get(key) }?.backend_id
            }
        }
    };
    // SAFETY: as above.
    let be = unsafe { BACKEND4.get(backend_id) }.copied()?;
    Some((backend_id, be))
}

fn try_revnat4(ctx: &SockAddrContext) -> Option<()> {
    let key = RevNat4Key {
        cookie: cookie(ctx),
        addr: user_ip4(ctx),
        port: user_port(ctx),
        _pad: 0,
    };
    // SAFETY: the value is copied out at once. LRU maps are preallocated:
    // an entry evicted and reused during this copy could show another
    // socket's VIP, a race of a few instructions under LRU pressure only.
    let vip = unsafe { REVNAT4.get(key) }.copied()?;
    set_user_ip4(ctx, vip.addr);
    set_user_port(ctx, vip.port);
    Some(())
}
