//! Checking a desired state whole before anything is written.

use std::collections::{BTreeMap, BTreeSet};

use berth_ebpf_common::lb::ServiceValue;

use crate::{
    error::Error,
    maps::SlotKey,
    model::{Algorithm, FrontendKey, Limits, Policy, Service},
    validate::{Desired, Wanted, validate},
};

/// Checks a whole desired state before anything is written: every service
/// valid, names unique, no frontend claimed twice, and everything fits the
/// limits (the totals a reconcile leaves behind).
pub fn check(desired: &[Service], limits: &Limits) -> Result<(), Error> {
    check_all(desired, limits).map(|_| ())
}

/// Whether a service can be written by the batch path: default policy,
/// every backend active with weight 1.
pub(super) fn simple(svc: &Service) -> bool {
    svc.policy == Policy::default()
        && svc.external_ips.is_empty()
        && svc
            .ports
            .iter()
            .all(|p| p.options.is_empty() && p.node_port.is_none())
}

/// Backend count of every master in a dump.
pub(super) fn master_counts(slots: &[(SlotKey, ServiceValue)]) -> BTreeMap<FrontendKey, u32> {
    slots
        .iter()
        .filter(|(k, _)| k.slot == 0 && k.gen_ == 0)
        .map(|(k, v)| (k.frontend, v.count))
        .collect()
}

/// [`check`], returning each service's frontends.
pub(super) fn check_all(desired: &[Service], limits: &Limits) -> Result<Vec<Desired>, Error> {
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
                    field: format!("{prefix}.{field}"),
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
