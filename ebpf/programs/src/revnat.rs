//! The reverse-NAT maps (socket cookie + backend → the VIP it asked for),
//! shared by the socket LB object and the socket-destroy iterators: both
//! declare them here and find the same pinned maps.

use aya_ebpf::{macros::map, maps::LruHashMap};
use berth_ebpf_common::lb::{RevNat4Key, RevNat4Value, RevNat6Key, RevNat6Value};

#[map]
pub static REVNAT4: LruHashMap<RevNat4Key, RevNat4Value> = LruHashMap::pinned(65536, 0);
#[map]
pub static REVNAT6: LruHashMap<RevNat6Key, RevNat6Value> = LruHashMap::pinned(65536, 0);
