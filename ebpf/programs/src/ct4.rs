//! The per-packet path's IPv4 connection tracking (`CT4`), its settings
//! (`NP_CONFIG`) and drop counters (`NP_STATS`). See
//! `berth_ebpf_common::ct`.

use aya_ebpf::{
    macros::map,
    maps::{Array, LruHashMap, PerCpuArray},
};
use berth_ebpf_common::ct::{Ct4Key, Ct4Value, NodePortConfig};

/// Flows, one entry per direction. The loader sets the size
/// (`--ct-entries`).
#[map]
pub static CT4: LruHashMap<Ct4Key, Ct4Value> = LruHashMap::pinned(65536, 0);

/// The SNAT address and ports.
#[map]
pub static NP_CONFIG: Array<NodePortConfig> = Array::pinned(1, 0);

/// Counters by `NP_STAT_*` (per CPU, summed by userspace).
#[map]
pub static NP_STATS: PerCpuArray<u64> = PerCpuArray::pinned(8, 0);

/// The flow of `key` (one direction), copied out.
#[inline(always)]
pub fn get(key: &Ct4Key) -> Option<Ct4Value> {
    let p = CT4.get_ptr_mut(key)?;
    // SAFETY: p points at a live LRU value; it is copied out at once. An
    // entry evicted and reused during the copy is a race of a few
    // instructions under LRU pressure only, as for the socket maps.
    Some(unsafe { *p })
}

/// Notes a packet of the flow of `key`: its time, count and TCP flags.
#[inline(always)]
pub fn touch(key: &Ct4Key, now: u64, tcp_flags: u8) {
    if let Some(p) = CT4.get_ptr_mut(key) {
        // SAFETY: aligned stores into a live LRU value; concurrent packets
        // of the same flow write the same kind of values.
        unsafe {
            (*p).last_ns = now;
            (*p).packets += 1;
            (*p).tcp_flags |= tcp_flags;
        }
    }
}

/// The SNAT settings.
#[inline(always)]
pub fn config() -> Option<NodePortConfig> {
    NP_CONFIG.get(0).copied()
}

/// Adds one to counter `i`.
#[inline(always)]
pub fn count(i: u32) {
    if let Some(c) = NP_STATS.get_ptr_mut(i) {
        // SAFETY: a per-CPU slot only this CPU writes while the program runs.
        unsafe { *c += 1 };
    }
}
