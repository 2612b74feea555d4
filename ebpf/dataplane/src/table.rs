//! [`Lb`]: the load-balancer table in userspace. It keeps what the maps
//! hold, turns service changes into the few map writes they need, and
//! implements [`Dataplane`] over any [`LbMaps`].

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    sync::Arc,
};

use berth_ebpf_common::{
    lb::{INLINE_BACKENDS, SVC_F_AFFINITY, SVC_F_MAGLEV, ServiceValue},
    select::plan_replace,
};
use tracing::{debug, warn};

use crate::{
    Dataplane,
    backends::BackendTable,
    error::{Error, MapError},
    ids::IdAlloc,
    maglev,
    maps::{LbMaps, SlotKey},
    model::{Algorithm, Backend, BackendOptions, FrontendKey, Limits, Policy, Protocol, Service},
    status::{BackendStatus, FrontendStatus},
    validate::{Desired, Wanted, selectable, validate},
};

#[derive(Debug, Clone)]
struct Frontend {
    owner: Option<Arc<str>>,
    service_id: u32,
    gen_: u8,
    /// The slots: backend ids new connections pick from (a backend
    /// appears once per unit of its reduced weight).
    backends: Vec<(u32, Backend)>,
    /// Every backend with its state and weight (what a removal is judged
    /// against: a backend leaving this list has its connections ended).
    members: Vec<(Backend, BackendOptions)>,
    policy: Policy,
}

impl Frontend {
    /// The distinct backends of the slots with their ids.
    fn ids(&self) -> BTreeMap<Backend, u32> {
        self.backends.iter().map(|(id, b)| (*b, *id)).collect()
    }
}

/// A master entry: the backend count, live generation and how to pick.
fn master_value(
    service_id: u32,
    count: usize,
    gen_: u8,
    policy: Policy,
    limits: &Limits,
) -> ServiceValue {
    let mut m = ServiceValue {
        count: count as u32,
        service_id,
        gen_,
        ..ServiceValue::default()
    };
    if let Some(t) = policy.affinity_timeout {
        m.flags |= SVC_F_AFFINITY;
        m.affinity_timeout = t;
    }
    if policy.algorithm == Algorithm::Maglev {
        m.flags |= SVC_F_MAGLEV;
        m.table_size = limits.maglev_table_size;
    }
    m
}

/// The policy a master entry read back says.
fn policy_of(m: &ServiceValue) -> Policy {
    Policy {
        affinity_timeout: (m.flags & SVC_F_AFFINITY != 0).then_some(m.affinity_timeout),
        algorithm: if m.flags & SVC_F_MAGLEV != 0 {
            Algorithm::Maglev
        } else {
            Algorithm::Random
        },
    }
}

/// The load balancer over a set of maps.
#[derive(Debug)]
pub struct Lb<M> {
    maps: M,
    limits: Limits,
    frontends: BTreeMap<FrontendKey, Frontend>,
    services: BTreeMap<String, BTreeSet<FrontendKey>>,
    vips: BTreeMap<IpAddr, u32>,
    service_ids: IdAlloc,
    backends: BackendTable,
    /// Entries found on adoption that no live frontend uses.
    stale_slots: Vec<SlotKey>,
    stale_backends: Vec<(u32, bool)>,
    /// Backends removed from frontends whose connections are still to be
    /// ended (at the end of the public call that removed them).
    removed: Vec<(FrontendKey, Backend)>,
}

impl<M: LbMaps> Lb<M> {
    /// A load balancer over empty maps.
    pub fn new(maps: M, limits: Limits) -> Self {
        Self {
            maps,
            limits,
            frontends: BTreeMap::new(),
            services: BTreeMap::new(),
            vips: BTreeMap::new(),
            service_ids: IdAlloc::new(limits.frontends),
            backends: BackendTable::new(limits.backends),
            stale_slots: Vec::new(),
            stale_backends: Vec::new(),
            removed: Vec::new(),
        }
    }

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
        for k in frontends.keys() {
            *vips.entry(k.vip).or_insert(0) += 1;
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
                field: 0,
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

    /// Makes the maps hold exactly `desired`: services are upserted
    /// (frontends whose backends did not change are not touched), services
    /// and adopted frontends that nobody wants any more are deleted.
    /// Everything is validated before anything is written.
    pub fn reconcile(&mut self, desired: &[Service]) -> Result<(), Error> {
        let expanded = check_all(desired, &self.limits)?;
        let names: BTreeSet<&str> = desired.iter().map(|s| s.name.as_str()).collect();
        let gone: Vec<String> = self
            .services
            .keys()
            .filter(|n| !names.contains(n.as_str()))
            .cloned()
            .collect();
        for name in gone {
            self.delete_service(&name)?;
        }
        // Services that are entirely new are written in bulk (batched map
        // updates); the others one by one, touching only what changed.
        let mut fresh = Vec::new();
        for (svc, frontends) in desired.iter().zip(expanded) {
            if simple(svc) && self.is_new(&svc.name, &frontends) {
                fresh.push((svc.name.as_str(), frontends));
            } else {
                self.upsert(svc, frontends)?;
            }
        }
        let created = self.create_new(fresh);
        self.end_removed();
        created?;
        let orphans: Vec<FrontendKey> = self
            .frontends
            .iter()
            .filter(|(_, f)| f.owner.is_none())
            .map(|(k, _)| *k)
            .collect();
        for k in orphans {
            self.delete_frontend(&k).map_err(|source| Error::Map {
                service: format!("(adopted {k})"),
                source,
            })?;
        }
        self.end_removed();
        Ok(())
    }

    /// Ends the connections through the VIP to backends removed by this
    /// call: the maps already send no new one there. A failure is logged
    /// (what is programmed is right either way).
    fn end_removed(&mut self) {
        if self.removed.is_empty() {
            return;
        }
        let targets = std::mem::take(&mut self.removed);
        match self.maps.terminate_sockets(&targets) {
            Ok(()) => debug!(
                backends = targets.len(),
                "connections to removed backends handed off to be ended"
            ),
            Err(e) => {
                warn!(backends = targets.len(), error = %e, "connections to removed backends not ended")
            }
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn maps(&self) -> &M {
        &self.maps
    }

    pub fn maps_mut(&mut self) -> &mut M {
        &mut self.maps
    }

    /// Number of frontends and backends programmed.
    pub fn counts(&self) -> (usize, usize) {
        let backends = self.frontends.values().map(|f| f.backends.len()).sum();
        (self.frontends.len(), backends)
    }

    fn check_capacity(&self, desired: &Desired) -> Result<(), Error> {
        let new_frontends = desired
            .keys()
            .filter(|k| !self.frontends.contains_key(k))
            .count() as u64;
        if new_frontends > self.service_ids.available() {
            return Err(Error::Full {
                what: "frontend",
                needed: new_frontends,
                free: self.service_ids.available(),
                capacity: self.service_ids.capacity(),
            });
        }
        let new_backends = self.backends.needed(desired.iter().flat_map(|(k, w)| {
            let current = self.frontends.get(k).map(|f| &f.backends);
            w.slots
                .iter()
                .filter(move |b| current.is_none_or(|c| !c.iter().any(|(_, x)| x == *b)))
                .map(move |b| (b, k.protocol))
        }));
        if new_backends > self.backends.available() {
            return Err(Error::Full {
                what: "backend",
                needed: new_backends,
                free: self.backends.available(),
                capacity: self.backends.capacity(),
            });
        }
        Ok(())
    }

    fn is_new(&self, name: &str, frontends: &Desired) -> bool {
        !self.services.contains_key(name)
            && frontends.keys().all(|k| !self.frontends.contains_key(k))
    }

    /// Writes services none of whose frontends exist yet, in four batched
    /// steps: VIP markers, backends, slots, and last the masters, so a
    /// frontend goes live only whole. On failure everything written is
    /// removed again.
    fn create_new(&mut self, batch: Vec<(&str, Desired)>) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let nf: u64 = batch.iter().map(|(_, d)| d.len() as u64).sum();
        let nb = self.backends.needed(
            batch
                .iter()
                .flat_map(|(_, d)| d.iter())
                .flat_map(|(k, w)| w.slots.iter().map(move |b| (b, k.protocol))),
        );
        if nf > self.service_ids.available() {
            return Err(Error::Full {
                what: "frontend",
                needed: nf,
                free: self.service_ids.available(),
                capacity: self.service_ids.capacity(),
            });
        }
        if nb > self.backends.available() {
            return Err(Error::Full {
                what: "backend",
                needed: nb,
                free: self.backends.available(),
                capacity: self.backends.capacity(),
            });
        }
        let mut vip_counts: BTreeMap<IpAddr, u32> = BTreeMap::new();
        let mut backends = Vec::with_capacity(nb as usize);
        let mut slots = Vec::new();
        let mut masters = Vec::with_capacity(nf as usize);
        let mut made = Vec::with_capacity(nf as usize);
        for (name, d) in &batch {
            let owner: Arc<str> = Arc::from(*name);
            for (k, w) in d {
                let bes = &w.slots;
                let service_id = self.service_ids.alloc().expect("capacity checked");
                let mut fb = Vec::with_capacity(bes.len());
                let mut m = master_value(service_id, bes.len(), 0, Policy::default(), &self.limits);
                let in_master = bes.len() as u32 <= INLINE_BACKENDS;
                for (i, b) in bes.iter().enumerate() {
                    let (id, fresh) = self
                        .backends
                        .acquire(*b, k.protocol)
                        .expect("capacity checked");
                    if fresh {
                        backends.push((id, *b, k.protocol));
                    }
                    if in_master {
                        m.inline[i] = id;
                    } else {
                        let v = ServiceValue {
                            backend_id: id,
                            service_id,
                            ..ServiceValue::default()
                        };
                        slots.push((SlotKey::slot(*k, 0, i as u16 + 1), v));
                    }
                    fb.push((id, *b));
                }
                masters.push((SlotKey::master(*k), m));
                *vip_counts
                    .entry(k.vip)
                    .or_insert_with(|| self.vips.get(&k.vip).copied().unwrap_or(0)) += 1;
                let f = Frontend {
                    owner: Some(Arc::clone(&owner)),
                    service_id,
                    gen_: 0,
                    backends: fb,
                    members: w.members.clone(),
                    policy: Policy::default(),
                };
                made.push((*name, *k, f));
            }
        }
        let vips: Vec<(IpAddr, u32)> = vip_counts.iter().map(|(v, n)| (*v, *n)).collect();
        let written = self
            .maps
            .put_vips(&vips)
            .and_then(|()| self.maps.put_backends(&backends))
            .and_then(|()| self.maps.put_slots(&slots))
            .and_then(|()| self.maps.put_slots(&masters));
        let service = match batch.as_slice() {
            [(name, _)] => name.to_string(),
            many => format!("({} new services)", many.len()),
        };
        if let Err(source) = written {
            let rollback = (|| {
                for (k, _) in masters.iter().chain(&slots) {
                    self.maps.delete_slot(k)?;
                }
                for (id, b, _) in &backends {
                    self.maps.delete_backend(*id, b.addr.is_ipv6())?;
                }
                for vip in vip_counts.keys() {
                    match self.vips.get(vip) {
                        Some(n) => self.maps.put_vip(*vip, *n)?,
                        None => self.maps.delete_vip(*vip)?,
                    }
                }
                Ok(())
            })();
            for (_, k, f) in &made {
                self.service_ids.release(f.service_id);
                for (id, b) in &f.backends {
                    self.backends.release(*id, *b, k.protocol);
                }
            }
            return Err(match rollback {
                Ok(()) => Error::Map { service, source },
                Err(rollback) => Error::Rollback {
                    service,
                    source,
                    rollback,
                },
            });
        }
        self.vips.extend(vip_counts);
        for (name, k, f) in made {
            self.frontends.insert(k, f);
            self.services.entry(name.to_string()).or_default().insert(k);
        }
        Ok(())
    }

    fn create_frontend(&mut self, k: &FrontendKey, owner: &str) -> Result<(), MapError> {
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

    fn delete_frontend(&mut self, k: &FrontendKey) -> Result<(), MapError> {
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

    /// Replaces a frontend's backend set: new backends and the other
    /// generation's slots are written first (with the affinity marks and
    /// Maglev table of the new set), then the master flips in one update,
    /// then the old slots, marks and removed backends go, and connections
    /// to backends that left the frontend are queued to be ended. On a
    /// failure before the flip, everything written is removed again.
    fn write_backends(
        &mut self,
        k: &FrontendKey,
        want: &Wanted,
        policy: Policy,
        old_count: u16,
        force: bool,
    ) -> Result<(), MapError> {
        let f = self.frontends.get(k).expect("frontend exists").clone();
        let new = &want.slots;
        let wanted: BTreeSet<&Backend> = want.members.iter().map(|(b, _)| b).collect();
        let left: Vec<Backend> = f
            .members
            .iter()
            .map(|(b, _)| *b)
            .filter(|b| !wanted.contains(b))
            .collect();
        if !force && f.policy == policy && f.backends.iter().map(|(_, b)| b).eq(new.iter()) {
            // Only states or weights of unselected backends changed: nothing
            // to write but their records.
            self.record_members(k, f.service_id, &f.members, &want.members);
            self.frontends.get_mut(k).expect("frontend exists").members = want.members.clone();
            self.removed.extend(left.into_iter().map(|b| (*k, b)));
            return Ok(());
        }
        let old_ids = f.ids();
        let old_matched: Vec<u32> = match f.policy.affinity_timeout {
            Some(_) => old_ids.values().copied().collect(),
            None => Vec::new(),
        };
        let mut matched = Vec::new();
        let proto = k.protocol;
        let mut ids = Vec::with_capacity(new.len());
        let mut new_ids: BTreeMap<Backend, u32> = BTreeMap::new();
        // References taken by this call: (id, backend, whether its entry is new).
        let mut acquired = Vec::new();
        let plan = plan_replace(f.gen_, old_count, new.len() as u16);
        let mut written = 0u16;
        let r = (|| {
            for b in new {
                let id = match new_ids.get(b).or(old_ids.get(b)) {
                    Some(id) => *id,
                    None => {
                        let (id, fresh) =
                            self.backends.acquire(*b, proto).ok_or(MapError::Full {
                                map: "BACKEND",
                                op: "allocate backend id",
                            })?;
                        acquired.push((id, *b, fresh));
                        if fresh {
                            self.maps.put_backend(id, b, proto)?;
                        }
                        id
                    }
                };
                new_ids.insert(*b, id);
                ids.push((id, *b));
            }
            let mut master = master_value(
                f.service_id,
                new.len(),
                plan.write_gen,
                policy,
                &self.limits,
            );
            if policy.affinity_timeout.is_some() {
                for id in new_ids.values() {
                    if !old_matched.contains(id) {
                        self.maps.put_affinity_match(f.service_id, *id)?;
                        matched.push(*id);
                    }
                }
            }
            if policy.algorithm == Algorithm::Maglev {
                let table = self.maglev_table(&want.members, &new_ids);
                self.maps.put_maglev(f.service_id, &table)?;
            }
            for (i, (id, _)) in ids.iter().enumerate() {
                if plan.write_count == 0 {
                    master.inline[i] = *id;
                    continue;
                }
                let v = ServiceValue {
                    backend_id: *id,
                    service_id: f.service_id,
                    ..ServiceValue::default()
                };
                self.maps
                    .put_slot(&SlotKey::slot(*k, plan.write_gen, i as u16 + 1), &v)?;
                written += 1;
            }
            self.maps.put_slot(&SlotKey::master(*k), &master)
        })();
        if let Err(e) = r {
            for id in matched {
                let _ = self.maps.delete_affinity_match(f.service_id, id);
            }
            if f.policy.algorithm == Algorithm::Maglev {
                // The table went with the write: put the old one back.
                let table = self.maglev_table(&f.members, &old_ids);
                let _ = self.maps.put_maglev(f.service_id, &table);
            } else if policy.algorithm == Algorithm::Maglev {
                let _ = self.maps.delete_maglev(f.service_id);
            }
            for i in 1..=written {
                let _ = self.maps.delete_slot(&SlotKey::slot(*k, plan.write_gen, i));
            }
            for (id, b, fresh) in acquired {
                if self.backends.release(id, b, proto) && fresh {
                    let _ = self.maps.delete_backend(id, b.addr.is_ipv6());
                }
            }
            return Err(e);
        }
        // Flipped: the new set is live. Clean up the old generation.
        let keep_match: Vec<u32> = match policy.affinity_timeout {
            Some(_) => new_ids.values().copied().collect(),
            None => Vec::new(),
        };
        for id in old_matched.iter().filter(|id| !keep_match.contains(id)) {
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
        entry.gen_ = plan.write_gen;
        entry.backends = ids;
        entry.members = want.members.clone();
        entry.policy = policy;
        self.record_members(k, f.service_id, &f.members, &want.members);
        for i in 1..=plan.delete_count {
            if let Err(e) = self
                .maps
                .delete_slot(&SlotKey::slot(*k, plan.delete_gen, i))
            {
                warn!(frontend = %k, error = %e, "old slot not deleted; repaired on next start");
            }
        }
        for (b, id) in old_ids {
            if new_ids.contains_key(&b) || !self.backends.release(id, b, proto) {
                continue;
            }
            let _ = self.maps.reset_backend_stats(id);
            if let Err(e) = self.maps.delete_backend(id, b.addr.is_ipv6()) {
                warn!(frontend = %k, backend = %b, error = %e, "old backend not deleted; repaired on next start");
            }
        }
        self.removed.extend(left.into_iter().map(|b| (*k, b)));
        Ok(())
    }

    /// Brings MEMBERS from `old` to `new` for one frontend: records for
    /// members that are not active with weight 1, none for the others. A
    /// failure is logged: traffic does not depend on these records.
    fn record_members(
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
    fn maglev_table(
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

    fn upsert(&mut self, svc: &Service, desired: Desired) -> Result<(), Error> {
        for (k, Wanted { field, .. }) in &desired {
            if let Some(owner) = self.frontends.get(k).and_then(|f| f.owner.as_ref())
                && **owner != *svc.name
            {
                return Err(Error::Conflict {
                    field: format!("vips[{field}]"),
                    frontend: *k,
                    owner: owner.to_string(),
                });
            }
        }
        if simple(svc) && self.is_new(&svc.name, &desired) {
            return self.create_new(vec![(svc.name.as_str(), desired)]);
        }
        self.check_capacity(&desired)?;
        if svc.policy.algorithm == Algorithm::Maglev {
            let have = self
                .frontends
                .values()
                .filter(|f| f.policy.algorithm == Algorithm::Maglev)
                .count() as u64;
            let more = desired
                .keys()
                .filter(|k| {
                    self.frontends
                        .get(k)
                        .is_none_or(|f| f.policy.algorithm != Algorithm::Maglev)
                })
                .count() as u64;
            let cap = u64::from(self.limits.maglev_frontends);
            if have + more > cap {
                return Err(Error::Full {
                    what: "Maglev frontend",
                    needed: more,
                    free: cap.saturating_sub(have),
                    capacity: cap,
                });
            }
        }
        let mut created = Vec::new();
        let map_err = |source| Error::Map {
            service: svc.name.clone(),
            source,
        };
        let mut result = Ok(());
        for (k, backends) in &desired {
            let step = if let Some(f) = self.frontends.get_mut(k) {
                f.owner = Some(Arc::from(svc.name.as_str()));
                let old = f.backends.len() as u16;
                self.write_backends(k, backends, svc.policy, old, false)
            } else {
                self.create_frontend(k, &svc.name).and_then(|()| {
                    created.push(*k);
                    self.write_backends(k, backends, svc.policy, 0, true)
                })
            };
            if let Err(e) = step {
                result = Err(e);
                break;
            }
        }
        if let Err(source) = result {
            // Leave no partial service: frontends this call created go again.
            for k in created.iter().rev() {
                if let Err(rollback) = self.delete_frontend(k) {
                    return Err(Error::Rollback {
                        service: svc.name.clone(),
                        source,
                        rollback,
                    });
                }
            }
            return Err(map_err(source));
        }
        let keys: BTreeSet<FrontendKey> = desired.keys().copied().collect();
        let old = self.services.insert(svc.name.clone(), keys.clone());
        for k in old.unwrap_or_default().difference(&keys) {
            self.delete_frontend(k).map_err(map_err)?;
        }
        Ok(())
    }
}

/// Whether a service can be written by the batch path: default policy,
/// every backend active with weight 1.
fn simple(svc: &Service) -> bool {
    svc.policy == Policy::default() && svc.ports.iter().all(|p| p.options.is_empty())
}

/// Backend count of every master in a dump.
fn master_counts(slots: &[(SlotKey, ServiceValue)]) -> BTreeMap<FrontendKey, u32> {
    slots
        .iter()
        .filter(|(k, _)| k.slot == 0 && k.gen_ == 0)
        .map(|(k, v)| (k.frontend, v.count))
        .collect()
}

/// Checks a whole desired state before anything is written: every service
/// valid, names unique, no frontend claimed twice, and everything fits the
/// limits (the totals a reconcile leaves behind).
pub fn check(desired: &[Service], limits: &Limits) -> Result<(), Error> {
    check_all(desired, limits).map(|_| ())
}

/// [`check`], returning each service's frontends.
fn check_all(desired: &[Service], limits: &Limits) -> Result<Vec<Desired>, Error> {
    let mut all = Vec::with_capacity(desired.len());
    let mut names = BTreeSet::new();
    let mut claimed: BTreeMap<FrontendKey, &str> = BTreeMap::new();
    let mut backends = 0u64;
    let mut maglev = 0u64;
    for (i, svc) in desired.iter().enumerate() {
        let prefix = format!("services[{i}]");
        let frontends = validate(svc, limits).map_err(|e| e.within(&prefix))?;
        if !names.insert(svc.name.as_str()) {
            return Err(Error::invalid(
                format!("{prefix}.name"),
                &svc.name,
                "duplicate service name",
            ));
        }
        if svc.policy.algorithm == Algorithm::Maglev {
            maglev += frontends.len() as u64;
        }
        for (k, Wanted { field, slots, .. }) in &frontends {
            backends += slots.len() as u64;
            if let Some(owner) = claimed.insert(*k, svc.name.as_str()) {
                return Err(Error::Conflict {
                    field: format!("{prefix}.vips[{field}]"),
                    frontend: *k,
                    owner: owner.to_string(),
                });
            }
        }
        all.push(frontends);
    }
    let frontends = claimed.len() as u64;
    if frontends > u64::from(limits.frontends) {
        return Err(Error::Full {
            what: "frontend",
            needed: frontends,
            free: u64::from(limits.frontends),
            capacity: u64::from(limits.frontends),
        });
    }
    if backends > u64::from(limits.backends) {
        return Err(Error::Full {
            what: "backend",
            needed: backends,
            free: u64::from(limits.backends),
            capacity: u64::from(limits.backends),
        });
    }
    if maglev > u64::from(limits.maglev_frontends) {
        return Err(Error::Full {
            what: "Maglev frontend",
            needed: maglev,
            free: u64::from(limits.maglev_frontends),
            capacity: u64::from(limits.maglev_frontends),
        });
    }
    Ok(all)
}

impl<M: LbMaps> Dataplane for Lb<M> {
    fn upsert_service(&mut self, svc: &Service) -> Result<(), Error> {
        let desired = validate(svc, &self.limits)?;
        let r = self.upsert(svc, desired);
        self.end_removed();
        r
    }

    fn set_backends(
        &mut self,
        service: &str,
        port: u16,
        protocol: Protocol,
        backends: &[Backend],
    ) -> Result<(), Error> {
        let keys = self.services.get(service).ok_or_else(|| Error::NotFound {
            name: service.to_string(),
        })?;
        let vips: Vec<IpAddr> = keys
            .iter()
            .map(|k| k.vip)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut ports = Vec::new();
        let mut by_port: BTreeMap<(u16, Protocol), Vec<(Backend, BackendOptions)>> =
            BTreeMap::new();
        for k in keys {
            let f = &self.frontends[k];
            by_port
                .entry((k.port, k.protocol))
                .or_default()
                .extend(f.members.iter().copied());
        }
        if !by_port.contains_key(&(port, protocol)) {
            return Err(Error::invalid(
                "port",
                format!("{port}/{protocol}"),
                format!("service {service:?} has no such port"),
            ));
        }
        by_port.insert(
            (port, protocol),
            backends
                .iter()
                .map(|b| (*b, BackendOptions::default()))
                .collect(),
        );
        for ((port, protocol), members) in by_port {
            ports.push(crate::model::ServicePort {
                name: String::new(),
                port,
                protocol,
                backends: members.iter().map(|(b, _)| *b).collect(),
                options: members
                    .into_iter()
                    .filter(|(_, o)| *o != BackendOptions::default())
                    .collect(),
            });
        }
        let policy = keys
            .iter()
            .next()
            .map(|k| self.frontends[k].policy)
            .unwrap_or_default();
        let svc = Service {
            name: service.to_string(),
            vips,
            ports,
            policy,
        };
        let desired = validate(&svc, &self.limits)?;
        let r = self.upsert(&svc, desired);
        self.end_removed();
        r
    }

    fn delete_service(&mut self, name: &str) -> Result<(), Error> {
        let keys = self.services.remove(name).ok_or_else(|| Error::NotFound {
            name: name.to_string(),
        })?;
        let mut r = Ok(());
        for k in keys {
            r = self.delete_frontend(&k).map_err(|source| Error::Map {
                service: name.to_string(),
                source,
            });
            if r.is_err() {
                break;
            }
        }
        self.end_removed();
        r
    }

    fn reconcile(&mut self, desired: &[Service]) -> Result<(), Error> {
        Lb::reconcile(self, desired)
    }

    fn service_names(&self) -> Vec<String> {
        self.services.keys().cloned().collect()
    }

    fn list(&self) -> Result<Vec<FrontendStatus>, MapError> {
        let mut out = Vec::with_capacity(self.frontends.len());
        for (k, f) in &self.frontends {
            let stats = self.maps.service_stats(f.service_id)?;
            let ids = f.ids();
            let mut backends = Vec::with_capacity(f.members.len());
            for (b, o) in &f.members {
                let id = ids.get(b).copied();
                backends.push(BackendStatus {
                    id,
                    backend: *b,
                    state: o.state,
                    weight: o.weight,
                    selected: id.is_some(),
                    connections: match id {
                        Some(id) => self.maps.backend_stats(id)?,
                        None => 0,
                    },
                });
            }
            out.push(FrontendStatus {
                frontend: *k,
                service: f.owner.as_deref().map(str::to_string),
                service_id: f.service_id,
                policy: f.policy,
                translated: stats.translated,
                refused: stats.refused,
                backends,
            });
        }
        Ok(out)
    }
}
