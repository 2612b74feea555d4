//! [`Lb`]: the load-balancer table in userspace. It keeps what the maps
//! hold, turns service changes into the few map writes they need, and
//! implements [`Dataplane`] over any [`LbMaps`].
//!
//! Here: the table, [`Lb::reconcile`] and the upsert of one service. In
//! modules of their own: [`adopt`] (a restart's adoption and repair),
//! [`check`] (the whole desired state checked before any write),
//! [`create`] (new services in a batch), [`frontends`] (one frontend made
//! or removed), [`flip`] (the generation flip of a backend set) and
//! [`dataplane`] (the [`Dataplane`] trait).

mod adopt;
mod check;
mod create;
mod dataplane;
mod flip;
mod frontends;
#[cfg(test)]
mod tests;

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    sync::Arc,
};

pub use self::check::check;
use self::check::{check_all, simple};

use berth_ebpf_common::lb::{
    SVC_F_AFFINITY, SVC_F_EXTERNAL, SVC_F_LOCAL, SVC_F_MAGLEV, ServiceValue,
};
use tracing::{debug, warn};

use crate::{
    Dataplane,
    backends::BackendTable,
    error::Error,
    ids::IdAlloc,
    maps::{LbMaps, SlotKey},
    model::{Algorithm, Backend, BackendOptions, Exposure, FrontendKey, Limits, Policy, Service},
    validate::{Desired, Wanted},
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
    match policy.exposure {
        Exposure::Internal => {}
        Exposure::External => m.flags |= SVC_F_EXTERNAL,
        Exposure::ExternalLocal => m.flags |= SVC_F_EXTERNAL | SVC_F_LOCAL,
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
        exposure: match (m.flags & SVC_F_EXTERNAL != 0, m.flags & SVC_F_LOCAL != 0) {
            (false, _) => Exposure::Internal,
            (true, false) => Exposure::External,
            (true, true) => Exposure::ExternalLocal,
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

    fn upsert(&mut self, svc: &Service, desired: Desired) -> Result<(), Error> {
        for (k, Wanted { field, .. }) in &desired {
            if let Some(owner) = self.frontends.get(k).and_then(|f| f.owner.as_ref())
                && **owner != *svc.name
            {
                return Err(Error::Conflict {
                    field: field.clone(),
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
        for (k, want) in &desired {
            let policy = Policy {
                exposure: want.exposure,
                ..svc.policy
            };
            let step = if let Some(f) = self.frontends.get_mut(k) {
                f.owner = Some(Arc::from(svc.name.as_str()));
                let old = f.backends.len() as u16;
                let was = f.policy.exposure.marks_vip();
                let now = want.exposure.marks_vip();
                self.write_backends(k, want, policy, old, false)
                    .and_then(|()| match (was, now) {
                        (false, true) => self.mark_vip(k),
                        (true, false) => self.unmark_vip(k),
                        _ => Ok(()),
                    })
            } else {
                self.create_frontend(k, &svc.name, want.exposure)
                    .and_then(|()| {
                        created.push(*k);
                        self.write_backends(k, want, policy, 0, true)
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
