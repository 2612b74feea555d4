//! [`Programmer`]: applies translated services to a [`Dataplane`], one
//! service at a time, remembering what it applied so that an unchanged
//! service costs nothing and a change touches only its own frontends.

use std::collections::BTreeMap;

use berth_dataplane::{self as dp, Dataplane};

use super::error::ProxyError;

/// What [`Programmer::sync`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The data plane already held it: nothing written.
    Unchanged,
    /// Created or updated.
    Programmed,
    /// Removed.
    Removed,
}

impl Outcome {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Unchanged => "unchanged",
            Outcome::Programmed => "programmed",
            Outcome::Removed => "removed",
        }
    }
}

/// What the start-up reconcile did.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Services the data plane now holds.
    pub services: usize,
    /// Services that could not be programmed (the data plane keeps what it
    /// had for them, or nothing), with why: retried by the caller.
    pub failed: Vec<(String, ProxyError)>,
}

/// The data plane and what this proxy put into it.
#[derive(Debug)]
pub struct Programmer<D> {
    dataplane: D,
    applied: BTreeMap<String, dp::Service>,
}

impl<D: Dataplane> Programmer<D> {
    /// Over a data plane that may hold adopted state (pinned maps): nothing
    /// is written until [`Programmer::sync_all`].
    pub fn new(dataplane: D) -> Self {
        Self {
            dataplane,
            applied: BTreeMap::new(),
        }
    }

    /// The first sync (after the caches have listed): the data plane ends
    /// up holding exactly `desired`. Frontends the maps already hold with
    /// the same backends are left as they are, so traffic never blips on a
    /// restart; the stale ones go. A service the data plane refuses does
    /// not hold the others back: it is reported in [`SyncReport::failed`].
    pub fn sync_all(&mut self, desired: Vec<dp::Service>) -> Result<SyncReport, ProxyError> {
        let mut report = SyncReport::default();
        let ok = match self.dataplane.reconcile(&desired) {
            Ok(()) => desired,
            Err(e) => {
                tracing::warn!(error = %berth_api::error_chain(&e), "the whole set was refused; programming service by service");
                let mut ok = Vec::with_capacity(desired.len());
                for s in desired {
                    match self.dataplane.upsert_service(&s) {
                        Ok(()) => ok.push(s),
                        Err(source) => report.failed.push((
                            s.name.clone(),
                            ProxyError::Program {
                                service: s.name,
                                source: Box::new(source),
                            },
                        )),
                    }
                }
                // Now every service left is valid: this only removes what
                // nobody wants (and the refused ones' old frontends).
                self.dataplane
                    .reconcile(&ok)
                    .map_err(|source| ProxyError::Reconcile {
                        services: ok.len(),
                        source: Box::new(source),
                    })?;
                ok
            }
        };
        report.services = ok.len();
        self.applied = ok.into_iter().map(|s| (s.name.clone(), s)).collect();
        Ok(report)
    }

    /// Makes the data plane hold `desired` for the service `name` (`None`:
    /// not at all). Other services are not touched; an unchanged one is
    /// not written.
    pub fn sync(
        &mut self,
        name: &str,
        desired: Option<dp::Service>,
    ) -> Result<Outcome, ProxyError> {
        if self.applied.get(name) == desired.as_ref() {
            return Ok(Outcome::Unchanged);
        }
        match desired {
            Some(s) => {
                self.dataplane
                    .upsert_service(&s)
                    .map_err(|source| ProxyError::Program {
                        service: name.to_owned(),
                        source: Box::new(source),
                    })?;
                self.applied.insert(name.to_owned(), s);
                Ok(Outcome::Programmed)
            }
            None => {
                match self.dataplane.delete_service(name) {
                    Ok(()) | Err(dp::Error::NotFound { .. }) => {}
                    Err(source) => {
                        return Err(ProxyError::Remove {
                            service: name.to_owned(),
                            source: Box::new(source),
                        });
                    }
                }
                self.applied.remove(name);
                Ok(Outcome::Removed)
            }
        }
    }

    /// What was applied, by name.
    pub fn applied(&self) -> &BTreeMap<String, dp::Service> {
        &self.applied
    }

    /// The data plane.
    pub fn dataplane(&self) -> &D {
        &self.dataplane
    }

    /// The data plane, to change it behind the proxy's back (tests).
    pub fn dataplane_mut(&mut self) -> &mut D {
        &mut self.dataplane
    }

    /// Gives the data plane back.
    pub fn into_dataplane(self) -> D {
        self.dataplane
    }
}

#[cfg(test)]
mod tests {
    use berth_api::endpointslice::AddressType;
    use berth_dataplane::{Lb, Limits, MemMaps, SlotKey};
    use berth_ebpf_common::lb::ServiceValue;

    use super::*;
    use crate::proxy::fixtures::{endpoint, service, slice};
    use crate::proxy::translate::translate;

    fn limits() -> Limits {
        Limits {
            frontends: 64,
            backends: 256,
            backends_per_frontend: 32,
            ..Limits::default()
        }
    }

    /// `default/<name>`, dual-stack, port 80 → `port` on the given pods.
    fn web(name: &str, n: u8, ips: &[&str], port: i32) -> dp::Service {
        let svc = service(
            name,
            &[&format!("10.96.0.{n}"), &format!("fd00:10:96::{n}")],
            &[("http", 80, "http")],
        );
        let v4 = slice(
            name,
            &format!("{name}-4"),
            AddressType::Ipv4,
            &[("http", port)],
            ips.iter().map(|ip| endpoint(ip, true, false)).collect(),
        );
        let v6 = slice(
            name,
            &format!("{name}-6"),
            AddressType::Ipv6,
            &[("http", port)],
            ips.iter()
                .map(|ip| {
                    let last = ip.rsplit('.').next().unwrap();
                    endpoint(&format!("fd00:10:244::{last}"), true, false)
                })
                .collect(),
        );
        translate(&svc, [&v4, &v6], &crate::proxy::NodeView::default()).unwrap()
    }

    /// The master entries of the maps (slot 0), by frontend.
    fn masters(maps: &MemMaps) -> BTreeMap<SlotKey, ServiceValue> {
        maps.slots
            .iter()
            .filter(|(k, _)| k.slot == 0)
            .map(|(k, v)| (*k, *v))
            .collect()
    }

    fn of(maps: &MemMaps, vip: &str) -> Vec<(SlotKey, ServiceValue)> {
        let vip: std::net::IpAddr = vip.parse().unwrap();
        maps.slots
            .iter()
            .filter(|(k, _)| k.frontend.vip == vip)
            .map(|(k, v)| (*k, *v))
            .collect()
    }

    fn fresh() -> Programmer<Lb<MemMaps>> {
        Programmer::new(Lb::new(MemMaps::new(&limits()), limits()))
    }

    /// The same maps under a new owner: what an agent restart sees.
    fn restarted(old: Programmer<Lb<MemMaps>>) -> Programmer<Lb<MemMaps>> {
        let old = old.into_dataplane();
        let m = old.maps();
        let mut maps = MemMaps::new(&limits());
        maps.slots = m.slots.clone();
        maps.backends = m.backends.clone();
        maps.vips = m.vips.clone();
        maps.service_stats = m.service_stats.clone();
        maps.backend_stats = m.backend_stats.clone();
        Programmer::new(Lb::adopt(maps, limits()).unwrap())
    }

    #[test]
    fn one_change_rewrites_one_service_only() {
        let mut p = fresh();
        let a = web("a", 1, &["10.244.1.2", "10.244.1.3"], 8080);
        let b = web("b", 2, &["10.244.1.4"], 8080);
        p.sync_all(vec![a.clone(), b.clone()]).unwrap();
        let before_a = of(p.dataplane().maps(), "10.96.0.1");
        assert_eq!(p.dataplane().list().unwrap().len(), 4);

        // The same again: nothing is written.
        let writes = p.dataplane().maps().writes;
        assert_eq!(
            p.sync("default/a", Some(a.clone())).unwrap(),
            Outcome::Unchanged
        );
        assert_eq!(p.dataplane().maps().writes, writes);

        // b's endpoints change: a's entries stay exactly as they were.
        let b2 = web("b", 2, &["10.244.1.4", "10.244.1.5"], 8080);
        assert_eq!(p.sync("default/b", Some(b2)).unwrap(), Outcome::Programmed);
        assert!(p.dataplane().maps().writes > writes);
        assert_eq!(of(p.dataplane().maps(), "10.96.0.1"), before_a);
        let st = p.dataplane().list().unwrap();
        let b4 = st
            .iter()
            .find(|f| f.frontend.vip == "10.96.0.2".parse::<std::net::IpAddr>().unwrap())
            .unwrap();
        assert_eq!(b4.backends.len(), 2);
    }

    #[test]
    fn a_deleted_service_leaves_the_maps() {
        let mut p = fresh();
        let a = web("a", 1, &["10.244.1.2"], 8080);
        let b = web("b", 2, &["10.244.1.4"], 8080);
        p.sync_all(vec![a, b]).unwrap();
        assert_eq!(p.sync("default/b", None).unwrap(), Outcome::Removed);
        assert!(of(p.dataplane().maps(), "10.96.0.2").is_empty());
        assert!(of(p.dataplane().maps(), "fd00:10:96::2").is_empty());
        assert_eq!(p.dataplane().service_names(), ["default/a"]);
        // Its backend (not shared) is gone too; a's stays.
        assert_eq!(p.dataplane().maps().backends.len(), 2);
        // Removing it again, or one that never was, is fine.
        assert_eq!(p.sync("default/b", None).unwrap(), Outcome::Unchanged);
        let mut p2 = fresh();
        assert_eq!(p2.sync("default/x", None).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn a_restart_leaves_unchanged_frontends_untouched_and_removes_stale_ones() {
        let mut p = fresh();
        let a = web("a", 1, &["10.244.1.2", "10.244.1.3"], 8080);
        let b = web("b", 2, &["10.244.1.4"], 8080);
        let c = web("c", 3, &["10.244.1.6"], 8080);
        // Large enough for backend slots beyond the master's inline ones.
        let many: Vec<String> = (10..30).map(|i| format!("10.244.2.{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let d = web("d", 4, &many, 8080);
        p.sync_all(vec![a.clone(), b.clone(), c, d.clone()])
            .unwrap();
        let before = p.dataplane().maps().slots.clone();

        // Same state after the restart: not one write.
        let mut p = restarted(p);
        let writes = p.dataplane().maps().writes;
        let r = p
            .sync_all(vec![
                a.clone(),
                b.clone(),
                web("c", 3, &["10.244.1.6"], 8080),
                d.clone(),
            ])
            .unwrap();
        assert_eq!(r.services, 4);
        assert!(r.failed.is_empty());
        assert_eq!(
            p.dataplane().maps().writes,
            writes,
            "nothing may be rewritten"
        );
        assert_eq!(p.dataplane().maps().slots, before);

        // While the agent was away: c was deleted and b's pods changed.
        let mut p = restarted(p);
        let masters_before = masters(p.dataplane().maps());
        let b2 = web("b", 2, &["10.244.1.9"], 8080);
        p.sync_all(vec![a.clone(), b2, d.clone()]).unwrap();
        let m = p.dataplane().maps();
        for vip in ["10.96.0.1", "fd00:10:96::1", "10.96.0.4", "fd00:10:96::4"] {
            let now: Vec<_> = before
                .iter()
                .filter(|(k, _)| k.frontend.vip == vip.parse::<std::net::IpAddr>().unwrap())
                .map(|(k, v)| (*k, *v))
                .collect();
            assert_eq!(of(m, vip), now, "{vip} must be untouched");
        }
        assert!(of(m, "10.96.0.3").is_empty(), "stale service removed");
        let b_master = masters(m)
            .into_iter()
            .find(|(k, _)| k.frontend.vip == "10.96.0.2".parse::<std::net::IpAddr>().unwrap())
            .unwrap();
        let old_b = masters_before
            .iter()
            .find(|(k, _)| k.frontend.vip == b_master.0.frontend.vip)
            .unwrap();
        assert_eq!(
            b_master.1.service_id, old_b.1.service_id,
            "same frontend id"
        );
        assert_ne!(b_master.1, *old_b.1, "new backends");
        assert_eq!(
            p.dataplane().service_names(),
            ["default/a", "default/b", "default/d"]
        );
    }

    #[test]
    fn a_refused_service_does_not_hold_the_others_back() {
        let mut p = fresh();
        let a = web("a", 1, &["10.244.1.2"], 8080);
        // Claims a's VIP: the data plane refuses it.
        let mut bad = web("b", 2, &["10.244.1.4"], 8080);
        bad.vips = a.vips.clone();
        let r = p.sync_all(vec![a, bad]).unwrap();
        assert_eq!(r.services, 1);
        assert_eq!(r.failed.len(), 1);
        assert_eq!(r.failed[0].0, "default/b");
        assert_eq!(p.dataplane().service_names(), ["default/a"]);
        assert!(
            p.sync("default/b", Some(web("b", 2, &["10.244.1.4"], 8080)))
                .is_ok()
        );
    }
}
