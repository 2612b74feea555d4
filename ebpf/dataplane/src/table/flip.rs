//! The generation flip: a frontend's backend set replaced so that a reader
//! in the kernel sees the old set or the new one, never a mix; the member
//! records and Maglev table that go with it.

use std::collections::{BTreeMap, BTreeSet};

use berth_ebpf_common::{
    lb::ServiceValue,
    select::{SlotPlan, plan_replace},
};
use tracing::warn;

use super::{Frontend, Lb, master_value};
use crate::{
    error::MapError,
    maglev,
    maps::{LbMaps, SlotKey},
    model::{Algorithm, Backend, BackendOptions, FrontendKey, Policy},
    validate::{Wanted, selectable},
};

/// The set a flip replaces: its backend ids, and its affinity marks.
struct Old {
    ids: BTreeMap<Backend, u32>,
    matched: Vec<u32>,
}

impl Old {
    fn of(f: &Frontend) -> Self {
        let ids = f.ids();
        let matched = match f.policy.affinity_timeout {
            Some(_) => ids.values().copied().collect(),
            None => Vec::new(),
        };
        Self { ids, matched }
    }
}

/// What one flip has written so far: the new set, and enough to undo it.
struct Flip {
    plan: SlotPlan,
    /// The slots: backend ids in order (a backend once per unit of weight).
    ids: Vec<(u32, Backend)>,
    new_ids: BTreeMap<Backend, u32>,
    /// References taken: (id, backend, whether its entry is new).
    acquired: Vec<(u32, Backend, bool)>,
    /// Affinity marks written.
    matched: Vec<u32>,
    /// Slots of the new generation written.
    written: u16,
}

impl Flip {
    fn new(plan: SlotPlan) -> Self {
        Self {
            plan,
            ids: Vec::new(),
            new_ids: BTreeMap::new(),
            acquired: Vec::new(),
            matched: Vec::new(),
            written: 0,
        }
    }
}

impl<M: LbMaps> Lb<M> {
    /// Replaces a frontend's backend set: new backends and the other
    /// generation's slots are written first (with the affinity marks and
    /// Maglev table of the new set), then the master flips in one update,
    /// then the old slots, marks and removed backends go, and connections
    /// to backends that left the frontend are queued to be ended. On a
    /// failure before the flip, everything written is removed again.
    pub(super) fn write_backends(
        &mut self,
        k: &FrontendKey,
        want: &Wanted,
        policy: Policy,
        old_count: u16,
        force: bool,
    ) -> Result<(), MapError> {
        let f = self.frontends.get(k).expect("frontend exists").clone();
        let wanted: BTreeSet<&Backend> = want.members.iter().map(|(b, _)| b).collect();
        let left: Vec<Backend> = f
            .members
            .iter()
            .map(|(b, _)| *b)
            .filter(|b| !wanted.contains(b))
            .collect();
        if !force && f.policy == policy && f.backends.iter().map(|(_, b)| b).eq(want.slots.iter()) {
            // Only states or weights of unselected backends changed: nothing
            // to write but their records.
            self.record_members(k, f.service_id, &f.members, &want.members);
            self.frontends.get_mut(k).expect("frontend exists").members = want.members.clone();
            self.removed.extend(left.into_iter().map(|b| (*k, b)));
            return Ok(());
        }
        let old = Old::of(&f);
        let mut flip = Flip::new(plan_replace(f.gen_, old_count, want.slots.len() as u16));
        if let Err(e) = self.write_generation(k, &f, want, policy, &old, &mut flip) {
            self.undo_generation(k, &f, policy, &old, flip);
            return Err(e);
        }
        self.retire_generation(k, &f, want, policy, old, flip);
        self.removed.extend(left.into_iter().map(|b| (*k, b)));
        Ok(())
    }

    /// Writes the new generation and flips the master to it: backend
    /// entries (references taken), affinity marks, the Maglev table, the
    /// slots, and last the master. What was written is in `flip`.
    fn write_generation(
        &mut self,
        k: &FrontendKey,
        f: &Frontend,
        want: &Wanted,
        policy: Policy,
        old: &Old,
        flip: &mut Flip,
    ) -> Result<(), MapError> {
        let proto = k.protocol;
        for b in &want.slots {
            let id = match flip.new_ids.get(b).or(old.ids.get(b)) {
                Some(id) => *id,
                None => {
                    let (id, fresh) = self.backends.acquire(*b, proto).ok_or(MapError::Full {
                        map: "BACKEND",
                        op: "allocate backend id",
                    })?;
                    flip.acquired.push((id, *b, fresh));
                    if fresh {
                        self.maps.put_backend(id, b, proto)?;
                    }
                    id
                }
            };
            flip.new_ids.insert(*b, id);
            flip.ids.push((id, *b));
        }
        let mut master = master_value(
            f.service_id,
            want.slots.len(),
            flip.plan.write_gen,
            policy,
            &self.limits,
        );
        if policy.affinity_timeout.is_some() {
            for id in flip.new_ids.values() {
                if !old.matched.contains(id) {
                    self.maps.put_affinity_match(f.service_id, *id)?;
                    flip.matched.push(*id);
                }
            }
        }
        if policy.algorithm == Algorithm::Maglev {
            let table = self.maglev_table(&want.members, &flip.new_ids);
            self.maps.put_maglev(f.service_id, &table)?;
        }
        for (i, (id, _)) in flip.ids.iter().enumerate() {
            if flip.plan.write_count == 0 {
                master.inline[i] = *id;
                continue;
            }
            let v = ServiceValue {
                backend_id: *id,
                service_id: f.service_id,
                ..ServiceValue::default()
            };
            self.maps
                .put_slot(&SlotKey::slot(*k, flip.plan.write_gen, i as u16 + 1), &v)?;
            flip.written += 1;
        }
        self.maps.put_slot(&SlotKey::master(*k), &master)
    }

    /// Removes what a failed [`Lb::write_generation`] wrote: the old set
    /// stays whole (best effort: a leftover is repaired on the next start).
    fn undo_generation(
        &mut self,
        k: &FrontendKey,
        f: &Frontend,
        policy: Policy,
        old: &Old,
        flip: Flip,
    ) {
        for id in flip.matched {
            let _ = self.maps.delete_affinity_match(f.service_id, id);
        }
        if f.policy.algorithm == Algorithm::Maglev {
            // The table went with the write: put the old one back.
            let table = self.maglev_table(&f.members, &old.ids);
            let _ = self.maps.put_maglev(f.service_id, &table);
        } else if policy.algorithm == Algorithm::Maglev {
            let _ = self.maps.delete_maglev(f.service_id);
        }
        for i in 1..=flip.written {
            let _ = self
                .maps
                .delete_slot(&SlotKey::slot(*k, flip.plan.write_gen, i));
        }
        for (id, b, fresh) in flip.acquired {
            if self.backends.release(id, b, k.protocol) && fresh {
                let _ = self.maps.delete_backend(id, b.addr.is_ipv6());
            }
        }
    }

    /// After the flip, the new set is live: records it, and removes the old
    /// generation's slots, marks and table and the backends no longer used.
    fn retire_generation(
        &mut self,
        k: &FrontendKey,
        f: &Frontend,
        want: &Wanted,
        policy: Policy,
        old: Old,
        flip: Flip,
    ) {
        let keep_match: Vec<u32> = match policy.affinity_timeout {
            Some(_) => flip.new_ids.values().copied().collect(),
            None => Vec::new(),
        };
        for id in old.matched.iter().filter(|id| !keep_match.contains(id)) {
            if let Err(e) = self.maps.delete_affinity_match(f.service_id, *id) {
                warn!(frontend = %k, error = %e, "stale affinity match not deleted");
            }
        }
        if f.policy.algorithm == Algorithm::Maglev
            && policy.algorithm != Algorithm::Maglev
            && let Err(e) = self.maps.delete_maglev(f.service_id)
        {
            warn!(frontend = %k, error = %e, "old Maglev table not deleted");
        }
        let entry = self.frontends.get_mut(k).expect("frontend exists");
        entry.gen_ = flip.plan.write_gen;
        entry.backends = flip.ids;
        entry.members = want.members.clone();
        entry.policy = policy;
        self.record_members(k, f.service_id, &f.members, &want.members);
        for i in 1..=flip.plan.delete_count {
            if let Err(e) = self
                .maps
                .delete_slot(&SlotKey::slot(*k, flip.plan.delete_gen, i))
            {
                warn!(frontend = %k, error = %e, "old slot not deleted; repaired on next start");
            }
        }
        for (b, id) in old.ids {
            if flip.new_ids.contains_key(&b) || !self.backends.release(id, b, k.protocol) {
                continue;
            }
            let _ = self.maps.reset_backend_stats(id);
            if let Err(e) = self.maps.delete_backend(id, b.addr.is_ipv6()) {
                warn!(frontend = %k, backend = %b, error = %e, "old backend not deleted; repaired on next start");
            }
        }
    }

    /// Brings MEMBERS from `old` to `new` for one frontend: records for
    /// members that are not active with weight 1, none for the others. A
    /// failure is logged: traffic does not depend on these records.
    pub(super) fn record_members(
        &mut self,
        k: &FrontendKey,
        service_id: u32,
        old: &[(Backend, BackendOptions)],
        new: &[(Backend, BackendOptions)],
    ) {
        let default = BackendOptions::default();
        let old: BTreeMap<&Backend, &BackendOptions> = old.iter().map(|(b, o)| (b, o)).collect();
        let new_map: BTreeMap<&Backend, &BackendOptions> =
            new.iter().map(|(b, o)| (b, o)).collect();
        for (b, o) in &new_map {
            if **o != default
                && old.get(b) != Some(o)
                && let Err(e) = self.maps.put_member(service_id, b, k.protocol, **o)
            {
                warn!(frontend = %k, backend = %b, error = %e, "member state not recorded");
            }
        }
        for (b, o) in &old {
            let gone_or_default = new_map.get(b).is_none_or(|n| **n == default);
            if **o != default
                && gone_or_default
                && let Err(e) = self.maps.delete_member(service_id, b, k.protocol)
            {
                warn!(frontend = %k, backend = %b, error = %e, "member record not deleted");
            }
        }
    }

    /// The Maglev table (backend ids) of the selectable `members`, whose
    /// ids are in `ids`.
    pub(super) fn maglev_table(
        &self,
        members: &[(Backend, BackendOptions)],
        ids: &BTreeMap<Backend, u32>,
    ) -> Vec<u32> {
        let weighted: Vec<(Backend, u32)> = selectable(members)
            .into_iter()
            .filter(|(b, _)| ids.contains_key(b))
            .map(|(b, w)| (b, u32::from(w)))
            .collect();
        maglev::table(&weighted, self.limits.maglev_table_size)
            .into_iter()
            .map(|i| ids[&weighted[i as usize].0])
            .collect()
    }
}
