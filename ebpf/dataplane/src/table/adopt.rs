//! Adoption of maps a killed process left ([`Lb::adopt`]), and the repair
//! of what no live frontend uses ([`Lb::repair`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use berth_ebpf_common::lb::INLINE_BACKENDS;
use tracing::debug;

use super::check::master_counts;
use super::{Frontend, Lb, policy_of};
use crate::{
    backends::BackendTable,
    error::MapError,
    ids::IdAlloc,
    maps::LbMaps,
    model::{Backend, BackendOptions, FrontendKey, Limits},
    validate::Wanted,
};

impl<M: LbMaps> Lb<M> {
    /// A load balancer over maps that may already hold frontends (a
    /// restart). Nothing is written: adopted frontends keep serving, owned
    /// by no service until an upsert claims them; [`Lb::reconcile`] removes
    /// the ones nobody claims, and [`Lb::repair`] what no frontend uses.
    pub fn adopt(maps: M, limits: Limits) -> Result<Self, MapError> {
        let dump = maps.dump()?;
        let backends: BTreeMap<u32, Backend> =
            dump.backends.iter().map(|(id, b, _)| (*id, *b)).collect();
        let mut frontends = BTreeMap::new();
        let mut inline = Vec::new();
        for (key, v) in &dump.slots {
            if key.slot == 0 && key.gen_ == 0 {
                if v.count <= INLINE_BACKENDS {
                    let ids = &v.inline[..v.count as usize];
                    inline.push((
                        key.frontend,
                        ids.iter()
                            .enumerate()
                            .map(|(i, id)| (i as u16 + 1, *id))
                            .collect::<Vec<_>>(),
                    ));
                }
                frontends.insert(
                    key.frontend,
                    Frontend {
                        owner: None,
                        service_id: v.service_id,
                        gen_: v.gen_,
                        backends: Vec::new(),
                        members: Vec::new(),
                        policy: policy_of(v),
                    },
                );
            }
        }
        let mut stale_slots = Vec::new();
        let mut live: BTreeMap<FrontendKey, Vec<(u16, u32)>> = BTreeMap::new();
        let counts = master_counts(&dump.slots);
        for (key, v) in &dump.slots {
            if key.slot == 0 {
                if key.gen_ != 0 {
                    stale_slots.push(*key);
                }
                continue;
            }
            let in_use = frontends.get(&key.frontend).is_some_and(|f| {
                let count = counts[&key.frontend];
                count > INLINE_BACKENDS && f.gen_ == key.gen_ && u32::from(key.slot) <= count
            });
            if in_use && backends.contains_key(&v.backend_id) {
                live.entry(key.frontend)
                    .or_default()
                    .push((key.slot, v.backend_id));
            } else {
                stale_slots.push(*key);
            }
        }
        for (fk, ids) in inline {
            let known: Vec<(u16, u32)> = ids
                .into_iter()
                .filter(|(_, id)| backends.contains_key(id))
                .collect();
            live.insert(fk, known);
        }
        let mut used_backends = BTreeSet::new();
        let mut references = Vec::new();
        for (fk, mut slots) in live {
            slots.sort_unstable();
            let f = frontends.get_mut(&fk).expect("frontend of a live slot");
            let mut seen = BTreeSet::new();
            for (_, id) in slots {
                used_backends.insert(id);
                f.backends.push((id, backends[&id]));
                if seen.insert(id) {
                    references.push((id, backends[&id], fk.protocol));
                }
            }
        }
        // Members: the backends of the slots (active, weight 1), overridden
        // and completed by MEMBERS, which records every member that is not
        // active with weight 1.
        let mut recorded: BTreeMap<u32, Vec<(Backend, BackendOptions)>> = BTreeMap::new();
        for (sid, b, _, o) in &dump.members {
            recorded.entry(*sid).or_default().push((*b, *o));
        }
        for f in frontends.values_mut() {
            let mut members: BTreeMap<Backend, BackendOptions> = f
                .backends
                .iter()
                .map(|(_, b)| (*b, BackendOptions::default()))
                .collect();
            for (b, o) in recorded.remove(&f.service_id).unwrap_or_default() {
                members.insert(b, o);
            }
            f.members = members.into_iter().collect();
        }
        let stale_backends = dump
            .backends
            .iter()
            .filter(|(id, _, _)| !used_backends.contains(id))
            .map(|(id, b, _)| (*id, b.addr.is_ipv6()))
            .collect();
        let mut vips = BTreeMap::new();
        for (k, f) in &frontends {
            if f.policy.exposure.marks_vip() {
                *vips.entry(k.vip).or_insert(0) += 1;
            }
        }
        let service_ids =
            IdAlloc::with_used(limits.frontends, frontends.values().map(|f| f.service_id));
        let backend_table = BackendTable::adopted(limits.backends, references);
        Ok(Self {
            maps,
            limits,
            frontends,
            services: BTreeMap::new(),
            vips,
            service_ids,
            backends: backend_table,
            stale_slots,
            stale_backends,
            removed: Vec::new(),
        })
    }

    /// Deletes map entries found on adoption that no frontend uses, fixes
    /// the VIP counts, and rewrites frontends whose slots were incomplete.
    pub fn repair(&mut self) -> Result<usize, MapError> {
        let mut n = 0;
        for key in std::mem::take(&mut self.stale_slots) {
            self.maps.delete_slot(&key)?;
            n += 1;
        }
        for (id, v6) in std::mem::take(&mut self.stale_backends) {
            self.maps.delete_backend(id, v6)?;
            n += 1;
        }
        let dump = self.maps.dump()?;
        let in_maps: BTreeMap<IpAddr, u32> = dump.vips.into_iter().collect();
        for (vip, count) in &in_maps {
            if self.vips.get(vip) != Some(count) {
                match self.vips.get(vip) {
                    Some(c) => self.maps.put_vip(*vip, *c)?,
                    None => self.maps.delete_vip(*vip)?,
                }
                n += 1;
            }
        }
        for (vip, count) in &self.vips {
            if !in_maps.contains_key(vip) {
                self.maps.put_vip(*vip, *count)?;
                n += 1;
            }
        }
        // A master whose count disagrees with the slots found gets its live
        // slots rewritten (atomically, into the other generation).
        let counts = master_counts(&dump.slots);
        let broken: Vec<FrontendKey> = self
            .frontends
            .iter()
            .filter(|(k, f)| counts.get(k).copied() != Some(f.backends.len() as u32))
            .map(|(k, _)| *k)
            .collect();
        for k in broken {
            let f = &self.frontends[&k];
            let want = Wanted {
                field: String::new(),
                exposure: f.policy.exposure,
                slots: f.backends.iter().map(|(_, b)| *b).collect(),
                members: f.members.clone(),
            };
            let old_count = counts.get(&k).copied().unwrap_or(0) as u16;
            let policy = f.policy;
            self.write_backends(&k, &want, policy, old_count, true)?;
            n += 1;
        }
        if n > 0 {
            debug!(entries = n, "repaired adopted maps");
        }
        Ok(n)
    }
}
