//! Maglev selection for both families: each Maglev frontend has its own
//! lookup table (an inner array of backend ids in `MAGLEV`, keyed by
//! service id), indexed by a hash of the client.

use aya_ebpf::{
    bindings::BPF_F_INNER_MAP,
    btf_maps::{Array, HashOfMaps},
    macros::btf_map,
};
use berth_ebpf_common::{
    lb::{SVC_F_MAGLEV, ServiceValue},
    select::{client_hash, maglev_index},
};

/// Inner maps may be of any size (BPF_F_INNER_MAP); the template's one
/// entry is only its shape. The outer size (the cap on Maglev frontends)
/// is set by the loader.
#[btf_map]
pub static MAGLEV: HashOfMaps<u32, Array<u32, 1, { BPF_F_INNER_MAP as usize }>, 1> =
    HashOfMaps::new();

#[inline(always)]
pub fn wanted(master: &ServiceValue) -> bool {
    master.flags & SVC_F_MAGLEV != 0
}

/// The backend id the frontend's table gives this client.
#[inline(always)]
pub fn pick(master: &ServiceValue, client: u64) -> Option<u32> {
    let i = maglev_index(client_hash(client), master.table_size)?;
    // SAFETY: inner tables are replaced whole (a new map swapped in by one
    // outer update), never written in place, and the id is copied out.
    unsafe { MAGLEV.get_value(&master.service_id, &i) }.copied()
}
