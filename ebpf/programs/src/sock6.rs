//! IPv6 hooks: connect6/sendmsg6 translate a VIP to a backend,
//! recvmsg6/getpeername6 show the VIP again.

use aya_ebpf::{macros::cgroup_sock_addr, programs::SockAddrContext};
use berth_ebpf_common::{
    lb::{Backend6, RevNat6Key, RevNat6Value, Service6Key, ServiceValue},
    select::{Place, pick_slot, place},
};

use crate::{
    affinity,
    ctx::{ALLOW, Skip, client, cookie, l4_proto, random, set_user_port, user_port, verdict},
    maglev,
    maps::{BACKEND6, REVNAT6, SVC6, VIP6, count_refused, count_translated},
};

#[cgroup_sock_addr(connect6)]
pub fn berth_connect6(ctx: SockAddrContext) -> i32 {
    verdict(try_xlate6(&ctx))
}

#[cgroup_sock_addr(sendmsg6)]
pub fn berth_sendmsg6(ctx: SockAddrContext) -> i32 {
    verdict(try_xlate6(&ctx))
}

#[cgroup_sock_addr(recvmsg6)]
pub fn berth_recvmsg6(ctx: SockAddrContext) -> i32 {
    let _ = try_revnat6(&ctx);
    ALLOW
}

#[cgroup_sock_addr(getpeername6)]
pub fn berth_getpeername6(ctx: SockAddrContext) -> i32 {
    let _ = try_revnat6(&ctx);
    ALLOW
}

#[inline(always)]
fn user_ip6(ctx: &SockAddrContext) -> [u32; 4] {
    // SAFETY: ctx.sock_addr is the context pointer the kernel passed in;
    // each word is read whole, as the verifier requires.
    unsafe {
        let a = &(*ctx.sock_addr).user_ip6;
        [a[0], a[1], a[2], a[3]]
    }
}

#[inline(always)]
fn set_user_ip6(ctx: &SockAddrContext, addr: [u32; 4]) {
    // SAFETY: user_ip6 is writable in the hooks this object attaches to.
    unsafe {
        let a = &mut (*ctx.sock_addr).user_ip6;
        a[0] = addr[0];
        a[1] = addr[1];
        a[2] = addr[2];
        a[3] = addr[3];
    }
}

fn try_xlate6(ctx: &SockAddrContext) -> Result<(), Skip> {
    let proto = l4_proto(ctx).ok_or(Skip::NotService)?;
    let vip = user_ip6(ctx);
    let port = user_port(ctx);
    let (service_id, backend_id, be) = select6(vip, port, proto, client(ctx))?;
    let key = RevNat6Key {
        cookie: cookie(ctx),
        addr: be.addr,
        port: be.port,
        _pad: [0; 6],
    };
    let value = RevNat6Value {
        addr: vip,
        port,
        _pad: 0,
    };
    // Losing a reverse entry only affects what recvmsg/getpeername show;
    // the connection itself still goes to the backend.
    let _ = REVNAT6.insert(key, value, 0);
    set_user_ip6(ctx, be.addr);
    set_user_port(ctx, be.port);
    count_translated(service_id, backend_id);
    Ok(())
}

/// Picks a backend of frontend (vip, port, proto) for `client`:
/// (service id, backend id, backend). An affinity frontend first offers
/// the client's backend; otherwise the frontend's Maglev table or a random
/// slot decides.
#[inline(always)]
fn select6(vip: [u32; 4], port: u16, proto: u8, client: u64) -> Result<(u32, u32, Backend6), Skip> {
    let master_key = Service6Key::master(vip, port, proto);
    // SAFETY: SVC6 is BPF_F_NO_PREALLOC, so the value is RCU-protected and
    // never reused under us; it is copied out at once.
    let Some(master) = (unsafe { SVC6.get(master_key) }).copied() else {
        // SAFETY: as above, for VIP6.
        return match unsafe { VIP6.get(vip) } {
            Some(_) => Err(Skip::Refuse),
            None => Err(Skip::NotService),
        };
    };
    if affinity::wanted(&master)
        && let Some(id) = affinity::lookup(client, &master)
        // SAFETY: NO_PREALLOC map; the value is copied out at once.
        && let Some(be) = unsafe { BACKEND6.get(id) }.copied()
    {
        return Ok((master.service_id, id, be));
    }
    let found = match pick6(vip, port, proto, &master, client) {
        Some(found) => Some((master, found)),
        // The backend set was replaced between the two lookups: the master
        // has flipped to the other generation. Read it once more.
        // SAFETY: as above.
        None => match unsafe { SVC6.get(master_key) }.copied() {
            Some(m) => pick6(vip, port, proto, &m, client).map(|f| (m, f)),
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
fn pick6(
    vip: [u32; 4],
    port: u16,
    proto: u8,
    master: &ServiceValue,
    client: u64,
) -> Option<(u32, Backend6)> {
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
                let key = Service6Key::slot(vip, port, proto, master.gen_, slot);
                // SAFETY: NO_PREALLOC map; the value is copied out at once.
                unsafe { SVC6.get(key) }?.backend_id
            }
        }
    };
    // SAFETY: as above.
    let be = unsafe { BACKEND6.get(backend_id) }.copied()?;
    Some((backend_id, be))
}

fn try_revnat6(ctx: &SockAddrContext) -> Option<()> {
    let key = RevNat6Key {
        cookie: cookie(ctx),
        addr: user_ip6(ctx),
        port: user_port(ctx),
        _pad: [0; 6],
    };
    // SAFETY: the value is copied out at once. LRU maps are preallocated:
    // an entry evicted and reused during this copy could show another
    // socket's VIP, a race of a few instructions under LRU pressure only.
    let vip = unsafe { REVNAT6.get(key) }.copied()?;
    set_user_ip6(ctx, vip.addr);
    set_user_port(ctx, vip.port);
    Some(())
}
