//! sessionAffinity ClientIP at the socket layer, for both families: a
//! client (network namespace) keeps the backend it was given while it
//! connects again within the frontend's timeout and the backend is still
//! one the frontend hands out (`AFFINITY_MATCH`).

use berth_ebpf_common::{
    lb::{AffinityKey, AffinityMatchKey, AffinityValue, SVC_F_AFFINITY, ServiceValue},
    select::affinity_holds,
};

use crate::{
    ctx::now_ns,
    maps::{AFFINITY, AFFINITY_MATCH},
};

#[inline(always)]
pub fn wanted(master: &ServiceValue) -> bool {
    master.flags & SVC_F_AFFINITY != 0
}

#[inline(always)]
fn key(client: u64, master: &ServiceValue) -> AffinityKey {
    AffinityKey {
        client,
        service_id: master.service_id,
        _pad: 0,
    }
}

/// The backend id the client holds, if its entry is fresh and the backend
/// still serves the frontend; the entry's last use becomes now, in place.
#[inline(always)]
pub fn lookup(client: u64, master: &ServiceValue) -> Option<u32> {
    let entry = AFFINITY.get_ptr_mut(key(client, master))?;
    // SAFETY: entry points at a live LRU value; it is read whole at once.
    // An entry reused during the read could only give another live backend
    // of some frontend, which the match check below then vets.
    let v = unsafe { *entry };
    let now = now_ns();
    if !affinity_holds(now, v.last_ns, master.affinity_timeout) {
        return None;
    }
    let m = AffinityMatchKey {
        service_id: master.service_id,
        backend_id: v.backend_id,
    };
    // SAFETY: only presence is checked.
    unsafe { AFFINITY_MATCH.get(m) }?;
    // SAFETY: an aligned 8-byte store into the same live value; a racing
    // connection of the same client writes the same kind of timestamp.
    unsafe { (*entry).last_ns = now };
    Some(v.backend_id)
}

/// Records the client's backend after a fresh pick.
#[inline(always)]
pub fn store(client: u64, master: &ServiceValue, backend_id: u32) {
    let v = AffinityValue {
        last_ns: now_ns(),
        backend_id,
        _pad: 0,
    };
    // Losing an entry (LRU pressure) only means a new pick next time.
    let _ = AFFINITY.insert(key(client, master), v, 0);
}
