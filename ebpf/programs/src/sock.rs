//! The socket hooks' logic, once for both families ([`Family`]): connect
//! and sendmsg translate a VIP to a backend, recvmsg and getpeername show
//! the VIP again. The entry points are the twins `sock4` and `sock6`.

use aya_ebpf::programs::SockAddrContext;
use berth_ebpf_common::{
    lb::ServiceValue,
    select::{Place, pick_slot, place},
};

use crate::{
    affinity,
    ctx::{Skip, client, cookie, l4_proto, random, set_user_port, user_port},
    family::{Endpoint, Family},
    maglev,
    maps::{count_refused, count_translated},
};

/// Rewrites the VIP:port the socket goes to into a backend's, and records
/// the VIP for [`try_revnat`].
pub fn try_xlate<F: Family>(ctx: &SockAddrContext) -> Result<(), Skip> {
    let proto = l4_proto(ctx).ok_or(Skip::NotService)?;
    let vip = F::user_ip(ctx);
    let port = user_port(ctx);
    let (service_id, backend_id, be) = select::<F>(vip, port, proto, client(ctx))?;
    let (addr, be_port) = F::backend_endpoint(&be);
    let key = F::revnat_key(cookie(ctx), (addr, be_port));
    // Losing a reverse entry only affects what recvmsg/getpeername show;
    // the connection itself still goes to the backend.
    let _ = F::revnat().insert(key, F::revnat_value((vip, port)), 0);
    F::set_user_ip(ctx, addr);
    set_user_port(ctx, be_port);
    count_translated(service_id, backend_id);
    Ok(())
}

/// Shows the VIP:port the socket asked for instead of the backend's.
pub fn try_revnat<F: Family>(ctx: &SockAddrContext) -> Option<()> {
    let key = F::revnat_key(cookie(ctx), (F::user_ip(ctx), user_port(ctx)));
    // SAFETY: the value is copied out at once. LRU maps are preallocated:
    // an entry evicted and reused during this copy could show another
    // socket's VIP, a race of a few instructions under LRU pressure only.
    let v = unsafe { F::revnat().get(key) }.copied()?;
    let (addr, port) = F::revnat_vip(&v);
    F::set_user_ip(ctx, addr);
    set_user_port(ctx, port);
    Some(())
}

/// Picks a backend of frontend (vip, port, proto) for `client`:
/// (service id, backend id, backend). An affinity frontend first offers
/// the client's backend; otherwise the frontend's Maglev table or a random
/// slot decides.
#[inline(always)]
fn select<F: Family>(
    vip: F::Addr,
    port: u16,
    proto: u8,
    client: u64,
) -> Result<(u32, u32, F::Backend), Skip> {
    let Some(master) = service::<F>(F::service_key(vip, port, proto, 0, 0)) else {
        // SAFETY: a NO_PREALLOC map (as in `service`); only whether the
        // entry exists is read.
        return match unsafe { F::vips().get(vip) } {
            Some(_) => Err(Skip::Refuse),
            None => Err(Skip::NotService),
        };
    };
    if affinity::wanted(&master)
        && let Some(id) = affinity::lookup(client, &master)
        && let Some(be) = backend::<F>(id)
    {
        return Ok((master.service_id, id, be));
    }
    let found = match pick::<F>((vip, port), proto, &master, client) {
        Some(found) => Some((master, found)),
        // The backend set was replaced between the two lookups: the master
        // has flipped to the other generation. Read it once more.
        None => match service::<F>(F::service_key(vip, port, proto, 0, 0)) {
            Some(m) => pick::<F>((vip, port), proto, &m, client).map(|f| (m, f)),
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

/// A backend of `master` (frontend `vip`, `proto`) by its Maglev table or a
/// random slot: (backend id, backend).
#[inline(always)]
fn pick<F: Family>(
    (vip, port): Endpoint<F::Addr>,
    proto: u8,
    master: &ServiceValue,
    client: u64,
) -> Option<(u32, F::Backend)> {
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
                service::<F>(F::service_key(vip, port, proto, master.gen_, slot))?.backend_id
            }
        }
    };
    let be = backend::<F>(backend_id)?;
    Some((backend_id, be))
}

/// A frontend's master or slot entry, copied out.
#[inline(always)]
fn service<F: Family>(key: F::ServiceKey) -> Option<ServiceValue> {
    // SAFETY: the service maps are BPF_F_NO_PREALLOC, so the value is
    // RCU-protected and never reused under us; it is copied out at once.
    unsafe { F::services().get(key) }.copied()
}

/// Backend `id`, copied out.
#[inline(always)]
fn backend<F: Family>(id: u32) -> Option<F::Backend> {
    // SAFETY: the backend maps are BPF_F_NO_PREALLOC, as the service maps
    // are; the value is copied out at once.
    unsafe { F::backends().get(id) }.copied()
}
