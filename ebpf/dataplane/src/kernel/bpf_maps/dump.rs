//! Reading every map back (adoption after a restart).

use berth_ebpf_common::lb::{MEMBER_QUARANTINED, MEMBER_TERMINATING};

use super::*;
use crate::{
    error::MapError,
    maps::Dump,
    model::{Backend, BackendOptions, BackendState, Protocol},
};

impl BpfMaps {
    /// Every entry of the maps userspace reads back on adoption.
    pub(super) fn dump_all(&self) -> Result<Dump, MapError> {
        let mut d = Dump::default();
        for e in self.svc4.iter() {
            let (k, v) = e.map_err(conv(SVC4, "dump"))?;
            d.slots.push((
                slot_key(from_v4(k.addr), k.port, k.proto, k.gen_, k.slot)?,
                v,
            ));
        }
        for e in self.svc6.iter() {
            let (k, v) = e.map_err(conv(SVC6, "dump"))?;
            d.slots.push((
                slot_key(from_v6(k.addr), k.port, k.proto, k.gen_, k.slot)?,
                v,
            ));
        }
        for e in self.be4.iter() {
            let (id, b) = e.map_err(conv(BACKEND4, "dump"))?;
            let proto = Protocol::from_number(b.proto).unwrap_or_default();
            d.backends.push((
                id,
                Backend::new(from_v4(b.addr), u16::from_be(b.port)),
                proto,
            ));
        }
        for e in self.be6.iter() {
            let (id, b) = e.map_err(conv(BACKEND6, "dump"))?;
            let proto = Protocol::from_number(b.proto).unwrap_or_default();
            d.backends.push((
                id,
                Backend::new(from_v6(b.addr), u16::from_be(b.port)),
                proto,
            ));
        }
        for e in self.members.iter() {
            let (k, v) = e.map_err(conv(MEMBERS, "dump"))?;
            let addr = if k.family == 4 {
                from_v4(k.addr[0])
            } else {
                from_v6(k.addr)
            };
            let state = match v.state {
                MEMBER_TERMINATING => BackendState::Terminating,
                MEMBER_QUARANTINED => BackendState::Quarantined,
                _ => BackendState::Active,
            };
            d.members.push((
                k.service_id,
                Backend::new(addr, u16::from_be(k.port)),
                Protocol::from_number(k.proto).unwrap_or_default(),
                BackendOptions {
                    state,
                    weight: v.weight,
                },
            ));
        }
        for e in self.vip4.iter() {
            let (a, n) = e.map_err(conv(VIP4, "dump"))?;
            d.vips.push((from_v4(a), n));
        }
        for e in self.vip6.iter() {
            let (a, n) = e.map_err(conv(VIP6, "dump"))?;
            d.vips.push((from_v6(a), n));
        }
        Ok(d)
    }
}
