//! The per-packet path's connection tracking (`CT4`, `CT6`), its settings
//! (`NP_CONFIG`) and counters (`NP_STATS`). See `berth_ebpf_common::ct`.

use aya_ebpf::{
    macros::map,
    maps::{Array, LruHashMap, PerCpuArray},
};
use berth_ebpf_common::ct::{Ct4Key, Ct4Value, Ct6Key, Ct6Value, NodePortConfig};

/// Flows, one entry per direction. The loader sets the size
/// (`--ct-entries`).
#[map]
pub static CT4: LruHashMap<Ct4Key, Ct4Value> = LruHashMap::pinned(65536, 0);

/// IPv6 flows, sized as `CT4`.
#[map]
pub static CT6: LruHashMap<Ct6Key, Ct6Value> = LruHashMap::pinned(65536, 0);

/// The SNAT address and ports.
#[map]
pub static NP_CONFIG: Array<NodePortConfig> = Array::pinned(1, 0);

/// Counters by `NP_STAT_*` (per CPU, summed by userspace).
#[map]
pub static NP_STATS: PerCpuArray<u64> = PerCpuArray::pinned(8, 0);

/// A flow direction's state, as both families keep it.
pub trait Flow: Copy + 'static {
    /// Notes a packet: its time, count and TCP flags.
    fn touch(&mut self, now: u64, tcp_flags: u8);
}

impl Flow for Ct4Value {
    #[inline(always)]
    fn touch(&mut self, now: u64, tcp_flags: u8) {
        self.last_ns = now;
        self.packets += 1;
        self.tcp_flags |= tcp_flags;
    }
}

impl Flow for Ct6Value {
    #[inline(always)]
    fn touch(&mut self, now: u64, tcp_flags: u8) {
        self.last_ns = now;
        self.packets += 1;
        self.tcp_flags |= tcp_flags;
    }
}

/// The flow of `key` (one direction) in `map`, copied out, after noting
/// this packet in it.
#[inline(always)]
pub fn seen<K, V: Flow>(map: &LruHashMap<K, V>, key: &K, now: u64, tcp_flags: u8) -> Option<V> {
    let p = map.get_ptr_mut(key)?;
    // SAFETY: p points at a live LRU value. The stores are aligned, and
    // concurrent packets of the same flow write the same kind of values;
    // an entry evicted and reused meanwhile is a race of a few
    // instructions under LRU pressure only, as for the socket maps.
    unsafe {
        (*p).touch(now, tcp_flags);
        Some(*p)
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
