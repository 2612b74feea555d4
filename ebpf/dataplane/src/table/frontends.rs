//! One frontend (VIP, port, protocol) made or removed in the maps.

use std::sync::Arc;

use berth_ebpf_common::lb::INLINE_BACKENDS;

use super::{Frontend, Lb, master_value};
use crate::{
    error::MapError,
    maps::{LbMaps, SlotKey},
    model::{Algorithm, BackendOptions, FrontendKey, Policy},
};

impl<M: LbMaps> Lb<M> {
    pub(super) fn create_frontend(&mut self, k: &FrontendKey, owner: &str) -> Result<(), MapError> {
        let id = self.service_ids.alloc().ok_or(MapError::Full {
            map: "SVC",
            op: "allocate service id",
        })?;
        let master = master_value(id, 0, 0, Policy::default(), &self.limits);
        let vip_count = self.vips.get(&k.vip).copied().unwrap_or(0) + 1;
        // The VIP marker goes first: a master is never without one.
        let r = self.maps.put_vip(k.vip, vip_count);
        let r = r.and_then(|()| {
            self.maps
                .put_slot(&SlotKey::master(*k), &master)
                .inspect_err(|_| {
                    let _ = match vip_count - 1 {
                        0 => self.maps.delete_vip(k.vip),
                        n => self.maps.put_vip(k.vip, n),
                    };
                })
        });
        if let Err(e) = r {
            self.service_ids.release(id);
            return Err(e);
        }
        self.vips.insert(k.vip, vip_count);
        self.frontends.insert(
            *k,
            Frontend {
                owner: Some(Arc::from(owner)),
                service_id: id,
                gen_: 0,
                backends: Vec::new(),
                members: Vec::new(),
                policy: Policy::default(),
            },
        );
        Ok(())
    }

    pub(super) fn delete_frontend(&mut self, k: &FrontendKey) -> Result<(), MapError> {
        let Some(f) = self.frontends.get(k).cloned() else {
            return Ok(());
        };
        // The master goes first: from then on no new connection picks a slot.
        self.maps.delete_slot(&SlotKey::master(*k))?;
        self.frontends.remove(k);
        if f.policy.algorithm == Algorithm::Maglev {
            self.maps.delete_maglev(f.service_id)?;
        }
        let ids = f.ids();
        if f.policy.affinity_timeout.is_some() {
            for id in ids.values() {
                self.maps.delete_affinity_match(f.service_id, *id)?;
            }
        }
        // Counters are zeroed when an id is released, so a fresh id always
        // starts from zero.
        self.maps.reset_service_stats(f.service_id)?;
        self.service_ids.release(f.service_id);
        let has_slots = f.backends.len() as u32 > INLINE_BACKENDS;
        if has_slots {
            for i in 0..f.backends.len() {
                self.maps
                    .delete_slot(&SlotKey::slot(*k, f.gen_, i as u16 + 1))?;
            }
        }
        for (b, id) in ids {
            if self.backends.release(id, b, k.protocol) {
                self.maps.delete_backend(id, b.addr.is_ipv6())?;
                self.maps.reset_backend_stats(id)?;
            }
        }
        self.removed.extend(f.members.iter().map(|(b, _)| (*k, *b)));
        for (b, o) in &f.members {
            if *o != BackendOptions::default() {
                self.maps.delete_member(f.service_id, b, k.protocol)?;
            }
        }
        let count = self.vips.get(&k.vip).copied().unwrap_or(1) - 1;
        if count == 0 {
            self.vips.remove(&k.vip);
            self.maps.delete_vip(k.vip)?;
        } else {
            self.vips.insert(k.vip, count);
            self.maps.put_vip(k.vip, count)?;
        }
        Ok(())
    }
}
