//! Creating new services in a batch: capacity checked first, then every
//! frontend, all or nothing.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use berth_ebpf_common::lb::{INLINE_BACKENDS, ServiceValue};

use super::{Frontend, Lb, master_value};
use crate::{
    error::Error,
    maps::{LbMaps, SlotKey},
    model::Policy,
    validate::Desired,
};

impl<M: LbMaps> Lb<M> {
    pub(super) fn check_capacity(&self, desired: &Desired) -> Result<(), Error> {
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

    pub(super) fn is_new(&self, name: &str, frontends: &Desired) -> bool {
        !self.services.contains_key(name)
            && frontends.keys().all(|k| !self.frontends.contains_key(k))
    }

    /// Writes services none of whose frontends exist yet, in four batched
    /// steps: VIP markers, backends, slots, and last the masters, so a
    /// frontend goes live only whole. On failure everything written is
    /// removed again.
    pub(super) fn create_new(&mut self, batch: Vec<(&str, Desired)>) -> Result<(), Error> {
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
}
