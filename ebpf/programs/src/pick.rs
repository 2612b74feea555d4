//! Backend selection, shared by the socket hooks and the per-packet path:
//! a frontend's master, then affinity, its Maglev table or a random slot.
//! The client is what affinity and Maglev key on: a pod's network
//! namespace cookie at the socket layer, a hash of the client's address
//! and port on the wire.

use berth_ebpf_common::{
    lb::ServiceValue,
    select::{Place, pick_slot, place},
};

use crate::{
    affinity,
    ctx::{Skip, random},
    family::{Endpoint, Family},
    maglev,
    maps::count_refused,
};

/// Picks a backend of frontend (vip, port, proto) for `client`:
/// (master, backend id, backend). An affinity frontend first offers
/// the client's backend; otherwise the frontend's Maglev table or a random
/// slot decides.
#[inline(always)]
pub fn select<F: Family>(
    vip: F::Addr,
    port: u16,
    proto: u8,
    client: u64,
) -> Result<(ServiceValue, u32, F::Backend), Skip> {
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
        return Ok((master, id, be));
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
            Ok((m, id, be))
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
pub fn service<F: Family>(key: F::ServiceKey) -> Option<ServiceValue> {
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
