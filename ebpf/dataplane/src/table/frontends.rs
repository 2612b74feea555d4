//! One frontend (VIP, port, protocol) made or removed in the maps.

use std::sync::Arc;

use berth_ebpf_common::lb::INLINE_BACKENDS;

use super::{Frontend, Lb, master_value};
use crate::{
    error::MapError,
    maps::{LbMaps, SlotKey},
    model::{Algorithm, BackendOptions, Exposure, FrontendKey, Policy},
};

impl<M: LbMaps> Lb<M> {
    /// Makes a frontend with no backend yet. An internal one first gets
    /// its VIP marker: a master is never without one.
    pub(super) fn create_frontend(
        &mut self,
        k: &FrontendKey,
        owner: &str,
        exposure: Exposure,
    ) -> Result<(), MapError> {
        let id = self.service_ids.alloc().ok_or(MapError::Full {
            map: "SVC",
            op: "allocate service id",
        })?;
        let policy = Policy {
            exposure,
            ..Policy::default()
        };
        let master = master_value(id, 0, 0, policy, &self.limits);
        let marks = exposure.marks_vip();
        let r = if marks { self.mark_vip(k) } else { Ok(()) };
        let r = r.and_then(|()| {
            self.maps
                .put_slot(&SlotKey::master(*k), &master)
                .inspect_err(|_| {
                    if marks {
                        let _ = self.unmark_vip(k);
                    }
                })
        });
        if let Err(e) = r {
            self.service_ids.release(id);
            return Err(e);
        }
        self.frontends.insert(
            *k,
            Frontend {
                owner: Some(Arc::from(owner)),
                service_id: id,
                gen_: 0,
                backends: Vec::new(),
                members: Vec::new(),
                policy,
            },
        );
        Ok(())
    }

    /// Counts one more frontend on `k`'s VIP, in the map and here.
    pub(super) fn mark_vip(&mut self, k: &FrontendKey) -> Result<(), MapError> {
        let n = self.vips.get(&k.vip).copied().unwrap_or(0) + 1;
        self.maps.put_vip(k.vip, n)?;
        self.vips.insert(k.vip, n);
        Ok(())
    }

    /// Counts one frontend less on `k`'s VIP; the marker goes with the
    /// last.
    pub(super) fn unmark_vip(&mut self, k: &FrontendKey) -> Result<(), MapError> {
        match self.vips.get(&k.vip).copied().unwrap_or(1) - 1 {
            0 => {
                self.maps.delete_vip(k.vip)?;
                self.vips.remove(&k.vip);
            }
            n => {
                self.maps.put_vip(k.vip, n)?;
                self.vips.insert(k.vip, n);
            }
        }
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
        if f.policy.exposure.marks_vip() {
            self.unmark_vip(k)?;
        }
        Ok(())
    }
}
