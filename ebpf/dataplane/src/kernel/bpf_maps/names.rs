//! The maps' names (in the object and as pins), and MEMBERS, the one map
//! userspace creates.

use std::io;

use aya::maps::{Map, MapData};
use berth_ebpf_common::lb::{MemberKey, MemberValue};

use super::*;
use crate::error::MapError;

/// Names of the maps in the object (and of their pins).
pub(crate) const SVC4: &str = "SVC4";
pub(crate) const SVC6: &str = "SVC6";
pub(crate) const BACKEND4: &str = "BACKEND4";
pub(crate) const BACKEND6: &str = "BACKEND6";
pub(crate) const VIP4: &str = "VIP4";
pub(crate) const VIP6: &str = "VIP6";
pub(crate) const REVNAT4: &str = "REVNAT4";
pub(crate) const REVNAT6: &str = "REVNAT6";
pub(crate) const SVC_STATS: &str = "SVC_STATS";
pub(crate) const BACKEND_STATS: &str = "BACKEND_STATS";
pub(crate) const AFFINITY: &str = "AFFINITY";
pub(crate) const AFFINITY_MATCH: &str = "AFFINITY_MATCH";
/// The outer map of the Maglev tables (a BTF map, pinned by path).
pub(crate) const MAGLEV: &str = "MAGLEV";
/// Member states and weights: created and pinned by userspace (no program
/// reads it).
pub(crate) const MEMBERS: &str = "MEMBERS";

/// `BPF_F_INNER_MAP`: inner maps of any size fit the outer map.
pub(super) const BPF_F_INNER_MAP: u32 = 1 << 12;
/// `BPF_MAP_TYPE_ARRAY`.
pub(super) const BPF_MAP_TYPE_ARRAY: u32 = 2;

/// Every map, for pinning and removal.
pub(crate) const ALL: [&str; 14] = [
    SVC4,
    SVC6,
    BACKEND4,
    BACKEND6,
    VIP4,
    VIP6,
    REVNAT4,
    REVNAT6,
    SVC_STATS,
    BACKEND_STATS,
    AFFINITY,
    AFFINITY_MATCH,
    MAGLEV,
    MEMBERS,
];

/// Creates the (empty) MEMBERS map of `max_entries` and pins it at `path`,
/// or opens the one pinned there.
pub(crate) fn open_or_create_members(
    path: &std::path::Path,
    max_entries: u32,
) -> Result<Map, MapError> {
    const BPF_MAP_TYPE_HASH: u32 = 1;
    const BPF_F_NO_PREALLOC: u32 = 1;
    let data = if path.exists() {
        MapData::from_pin(path).map_err(conv(MEMBERS, "open pinned"))?
    } else {
        let obj = aya_obj::Map::new_from_params(
            BPF_MAP_TYPE_HASH,
            size_of::<MemberKey>() as u32,
            size_of::<MemberValue>() as u32,
            max_entries,
            BPF_F_NO_PREALLOC,
        );
        let data = MapData::create(obj, MEMBERS, None).map_err(conv(MEMBERS, "create"))?;
        data.pin(path).map_err(|e| MapError::Os {
            map: MEMBERS,
            op: "pin",
            source: io::Error::other(e.to_string()),
        })?;
        data
    };
    Map::from_map_data(data).map_err(conv(MEMBERS, "open"))
}
