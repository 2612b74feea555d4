//! Map definitions. Sizes here are defaults; the loader sets the real ones
//! at start (`EbpfLoader::set_max_entries`). All maps are pinned by name so
//! a restart of the managing process finds them again.

pub use crate::revnat::{REVNAT4, REVNAT6};

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    macros::map,
    maps::{HashMap, LruHashMap, PerCpuArray},
};
use berth_ebpf_common::lb::{
    AffinityKey, AffinityMatchKey, AffinityValue, Backend4, Backend6, Service4Key, Service6Key,
    ServiceStats, ServiceValue,
};

// Backend sets are replaced by a single master update; NO_PREALLOC makes
// updates and deletes RCU-safe for concurrent readers.
#[map]
pub static SVC4: HashMap<Service4Key, ServiceValue> = HashMap::pinned(65536, BPF_F_NO_PREALLOC);
#[map]
pub static SVC6: HashMap<Service6Key, ServiceValue> = HashMap::pinned(65536, BPF_F_NO_PREALLOC);
#[map]
pub static BACKEND4: HashMap<u32, Backend4> = HashMap::pinned(65536, BPF_F_NO_PREALLOC);
#[map]
pub static BACKEND6: HashMap<u32, Backend6> = HashMap::pinned(65536, BPF_F_NO_PREALLOC);
#[map]
pub static VIP4: HashMap<u32, u32> = HashMap::pinned(65536, BPF_F_NO_PREALLOC);
#[map]
pub static VIP6: HashMap<[u32; 4], u32> = HashMap::pinned(65536, BPF_F_NO_PREALLOC);
#[map]
pub static AFFINITY: LruHashMap<AffinityKey, AffinityValue> = LruHashMap::pinned(65536, 0);
#[map]
pub static AFFINITY_MATCH: HashMap<AffinityMatchKey, u32> =
    HashMap::pinned(65536, BPF_F_NO_PREALLOC);
#[map]
pub static SVC_STATS: PerCpuArray<ServiceStats> = PerCpuArray::pinned(65536, 0);
#[map]
pub static BACKEND_STATS: PerCpuArray<u64> = PerCpuArray::pinned(65536, 0);

#[inline(always)]
pub fn count_translated(service_id: u32, backend_id: u32) {
    if let Some(s) = SVC_STATS.get_ptr_mut(service_id) {
        // SAFETY: a per-CPU slot only this CPU writes while the program runs.
        unsafe { (*s).translated += 1 };
    }
    if let Some(b) = BACKEND_STATS.get_ptr_mut(backend_id) {
        // SAFETY: a per-CPU slot, likewise written only by this CPU.
        unsafe { *b += 1 };
    }
}

#[inline(always)]
pub fn count_refused(service_id: u32) {
    if let Some(s) = SVC_STATS.get_ptr_mut(service_id) {
        // SAFETY: a per-CPU slot only this CPU writes while the program runs.
        unsafe { (*s).refused += 1 };
    }
}
