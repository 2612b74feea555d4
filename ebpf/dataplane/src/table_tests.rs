//! Unit tests of [`Lb`] over the in-memory maps.

use std::{collections::BTreeSet, net::IpAddr};

use berth_ebpf_common::lb::{INLINE_BACKENDS, ServiceStats, ServiceValue};

use crate::{
    Backend, BackendOptions, BackendState, Dataplane, Dump, Error, FrontendKey, LbMaps, Limits,
    MapError, MemMaps, Policy, Protocol, Service, ServicePort, SlotKey, table::Lb,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn be(s: &str) -> Backend {
    Backend::from(s.parse::<std::net::SocketAddr>().unwrap())
}

fn web(backends: &[&str]) -> Service {
    Service {
        name: "default/web".into(),
        vips: vec![ip("10.96.0.20"), ip("fd00:10:96::20")],
        ports: vec![ServicePort {
            name: "http".into(),
            port: 80,
            protocol: Protocol::Tcp,
            backends: backends.iter().map(|b| be(b)).collect(),
            options: Default::default(),
        }],
        policy: Policy::default(),
    }
}

/// `n` IPv4 backends, as strings for [`web`].
fn many(n: usize, port: u16) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.244.{}.{}:{port}", 2 + i / 250, 1 + i % 250))
        .collect()
}

fn web_n(n: usize, port: u16) -> Service {
    let b = many(n, port);
    web(&b.iter().map(String::as_str).collect::<Vec<_>>())
}

fn lb() -> Lb<MemMaps> {
    let limits = Limits::default();
    Lb::new(MemMaps::new(&limits), limits)
}

/// Every master's live generation is complete and points at backends that
/// exist: what a reader in the kernel may rely on at any moment.
fn assert_consistent(m: &MemMaps) {
    for (k, v) in m.slots.iter().filter(|(k, _)| k.slot == 0) {
        for s in 1..=v.count as u16 {
            let id = if v.count <= INLINE_BACKENDS {
                v.inline[s as usize - 1]
            } else {
                m.slots
                    .get(&SlotKey::slot(k.frontend, v.gen_, s))
                    .unwrap_or_else(|| panic!("{} slot {s} gen {} missing", k.frontend, v.gen_))
                    .backend_id
            };
            assert!(m.backends.contains_key(&id), "backend {id} missing");
        }
        assert!(
            m.vips.contains_key(&k.frontend.vip),
            "VIP marker of {} missing",
            k.frontend
        );
    }
}

/// Maps that check consistency after every single write.
#[derive(Debug)]
struct Checking(MemMaps);

macro_rules! checked {
    ($self:ident, $call:expr) => {{
        let r = $call;
        assert_consistent(&$self.0);
        r
    }};
}

impl LbMaps for Checking {
    fn put_slot(&mut self, key: &SlotKey, value: &ServiceValue) -> Result<(), MapError> {
        checked!(self, self.0.put_slot(key, value))
    }
    fn delete_slot(&mut self, key: &SlotKey) -> Result<(), MapError> {
        checked!(self, self.0.delete_slot(key))
    }
    fn put_backend(&mut self, id: u32, b: &Backend, p: Protocol) -> Result<(), MapError> {
        checked!(self, self.0.put_backend(id, b, p))
    }
    fn delete_backend(&mut self, id: u32, v6: bool) -> Result<(), MapError> {
        checked!(self, self.0.delete_backend(id, v6))
    }
    fn put_vip(&mut self, vip: IpAddr, n: u32) -> Result<(), MapError> {
        checked!(self, self.0.put_vip(vip, n))
    }
    fn delete_vip(&mut self, vip: IpAddr) -> Result<(), MapError> {
        self.0.delete_vip(vip)
    }
    fn reset_service_stats(&mut self, id: u32) -> Result<(), MapError> {
        self.0.reset_service_stats(id)
    }
    fn reset_backend_stats(&mut self, id: u32) -> Result<(), MapError> {
        self.0.reset_backend_stats(id)
    }
    fn dump(&self) -> Result<Dump, MapError> {
        self.0.dump()
    }
    fn service_stats(&self, id: u32) -> Result<ServiceStats, MapError> {
        self.0.service_stats(id)
    }
    fn backend_stats(&self, id: u32) -> Result<u64, MapError> {
        self.0.backend_stats(id)
    }
    fn put_affinity_match(&mut self, s: u32, b: u32) -> Result<(), MapError> {
        self.0.put_affinity_match(s, b)
    }
    fn delete_affinity_match(&mut self, s: u32, b: u32) -> Result<(), MapError> {
        self.0.delete_affinity_match(s, b)
    }
    fn put_maglev(&mut self, s: u32, t: &[u32]) -> Result<(), MapError> {
        self.0.put_maglev(s, t)
    }
    fn delete_maglev(&mut self, s: u32) -> Result<(), MapError> {
        self.0.delete_maglev(s)
    }
    fn put_member(
        &mut self,
        s: u32,
        b: &Backend,
        p: Protocol,
        o: BackendOptions,
    ) -> Result<(), MapError> {
        self.0.put_member(s, b, p, o)
    }
    fn delete_member(&mut self, s: u32, b: &Backend, p: Protocol) -> Result<(), MapError> {
        self.0.delete_member(s, b, p)
    }
    fn terminate_sockets(&mut self, r: &[(FrontendKey, Backend)]) -> Result<(), MapError> {
        self.0.terminate_sockets(r)
    }
}

#[test]
fn upsert_programs_every_vip_and_port() {
    let mut lb = lb();
    lb.upsert_service(&web(&[
        "10.244.1.2:8080",
        "10.244.1.3:8080",
        "[fd00::2]:8080",
    ]))
    .unwrap();
    let m = lb.maps();
    assert_eq!(m.slots.iter().filter(|(k, _)| k.slot == 0).count(), 2);
    assert_eq!(m.slots.len(), 2, "three backends fit in the masters");
    assert_eq!(m.backends.len(), 3);
    assert_eq!(m.vips.len(), 2);
    assert_consistent(m);
    let list = lb.list().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].service.as_deref(), Some("default/web"));
    assert_eq!(list.iter().map(|f| f.backends.len()).sum::<usize>(), 3);
}

#[test]
fn every_write_leaves_readers_a_whole_backend_set() {
    let limits = Limits::default();
    let mut lb = Lb::new(Checking(MemMaps::new(&limits)), limits);
    lb.upsert_service(&web(&["10.244.1.2:8080", "10.244.1.3:8080"]))
        .unwrap();
    lb.upsert_service(&web(&[
        "10.244.1.3:8080",
        "10.244.1.4:8080",
        "10.244.1.5:8080",
    ]))
    .unwrap();
    lb.upsert_service(&web(&[])).unwrap();
    lb.upsert_service(&web(&["10.244.1.9:8080"])).unwrap();
    // Inline -> slots -> other slots (overlapping) -> inline -> slots.
    lb.upsert_service(&web_n(9, 80)).unwrap();
    lb.upsert_service(&web_n(30, 80)).unwrap();
    lb.upsert_service(&web_n(12, 81)).unwrap();
    lb.upsert_service(&web_n(2, 80)).unwrap();
    lb.upsert_service(&web_n(7, 80)).unwrap();
    let m = &lb.maps().0;
    let slots = m.slots.keys().filter(|k| k.slot > 0).count();
    assert_eq!(slots, 7, "only the live generation's slots remain");
    lb.delete_service("default/web").unwrap();
    let m = &lb.maps().0;
    assert!(
        m.slots.is_empty() && m.backends.is_empty() && m.vips.is_empty(),
        "{m:?}"
    );
}

#[test]
fn replacing_backends_flips_generation_and_keeps_ids_of_kept_backends() {
    let mut lb = lb();
    lb.upsert_service(&web(&["10.244.1.2:8080", "10.244.1.3:8080"]))
        .unwrap();
    let before = lb.list().unwrap();
    let v4 = before.iter().find(|f| f.frontend.vip.is_ipv4()).unwrap();
    let kept_id = v4.backends[1].id;
    lb.set_backends(
        "default/web",
        80,
        Protocol::Tcp,
        &[be("10.244.1.3:8080"), be("10.244.1.7:8080")],
    )
    .unwrap();
    let after = lb.list().unwrap();
    let v4 = after.iter().find(|f| f.frontend.vip.is_ipv4()).unwrap();
    assert_eq!(v4.backends[0].id, kept_id);
    assert_eq!(v4.backends[1].backend, be("10.244.1.7:8080"));
    let m = lb.maps();
    let key = FrontendKey {
        vip: ip("10.96.0.20"),
        port: 80,
        protocol: Protocol::Tcp,
    };
    let gen_ = m.slots[&SlotKey::master(key)].gen_;
    assert_eq!(gen_, 1, "created with its first set (0), replaced (1)");
    assert!(
        !m.slots
            .keys()
            .any(|k| k.frontend == key && k.slot > 0 && k.gen_ != gen_)
    );
    assert_eq!(m.backends.len(), 2, "the removed backend is gone");
}

#[test]
fn unchanged_upsert_writes_nothing() {
    let mut lb = lb();
    let svc = web(&["10.244.1.2:8080"]);
    lb.upsert_service(&svc).unwrap();
    let writes = lb.maps().writes;
    lb.upsert_service(&svc).unwrap();
    assert_eq!(lb.maps().writes, writes);
}

#[test]
fn full_maps_refuse_the_whole_service_and_change_nothing() {
    let limits = Limits {
        frontends: 3,
        backends: 4,
        backends_per_frontend: 4,
        ..Limits::default()
    };
    let mut lb = Lb::new(MemMaps::new(&limits), limits);
    lb.upsert_service(&web(&["10.244.1.2:8080", "10.244.1.3:8080"]))
        .unwrap();
    let before = format!("{:?}", lb.maps().dump().unwrap());
    let mut other = web(&["10.244.2.2:80", "10.244.2.3:80", "10.244.2.4:80"]);
    other.name = "default/other".into();
    other.vips = vec![ip("10.96.0.21"), ip("10.96.0.22")];
    let e = lb.upsert_service(&other).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Full {
                what: "frontend",
                ..
            }
        ),
        "{e}"
    );
    other.vips.truncate(1);
    let e = lb.upsert_service(&other).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("backend capacity exceeded: 3 needed, 2 free of 4"),
        "{e}"
    );
    assert_eq!(format!("{:?}", lb.maps().dump().unwrap()), before);
}

#[test]
fn a_failed_write_at_any_point_leaves_no_partial_service() {
    let svc = web(&["10.244.1.2:8080", "10.244.1.3:8080", "[fd00::2]:8080"]);
    for n in 0..20 {
        let mut lb = lb();
        lb.maps_mut().fail_after = Some(n);
        match lb.upsert_service(&svc) {
            Ok(()) => {
                assert_consistent(lb.maps());
                break;
            }
            Err(e) => {
                assert!(matches!(e, Error::Map { .. }), "{e}");
                let m = lb.maps();
                assert!(m.slots.is_empty(), "after failing write {n}: {:?}", m.slots);
                assert!(m.backends.is_empty(), "after failing write {n}");
                assert!(m.vips.is_empty(), "after failing write {n}");
            }
        }
    }
}

#[test]
fn a_failed_replace_keeps_the_old_set_whole() {
    for (from, to) in [(1, 2), (1, 6), (6, 9), (9, 3)] {
        for n in 0..40 {
            let mut lb = lb();
            lb.upsert_service(&web_n(from, 80)).unwrap();
            let before = lb.list().unwrap();
            lb.maps_mut().fail_after = Some(n);
            let r = lb.upsert_service(&web_n(to, 81));
            lb.maps_mut().fail_after = None;
            assert_consistent(lb.maps());
            if r.is_err() {
                assert_eq!(
                    lb.list().unwrap(),
                    before,
                    "{from}->{to}, failing write {n}"
                );
            }
        }
    }
}

#[test]
fn conflicting_frontends_are_refused() {
    let mut lb = lb();
    lb.upsert_service(&web(&[])).unwrap();
    let mut other = web(&[]);
    other.name = "other/web".into();
    let e = lb.upsert_service(&other).unwrap_err();
    assert_eq!(
        e.to_string(),
        "vips[0]: frontend 10.96.0.20:80/TCP already belongs to service \"default/web\""
    );
}

#[test]
fn ids_stay_unique() {
    let mut lb = lb();
    for i in 0..50u32 {
        let mut s = web(&["10.244.1.2:8080", "10.244.1.3:8080"]);
        s.name = format!("svc-{i}");
        s.vips = vec![IpAddr::V4(std::net::Ipv4Addr::from(0x0a60_0100 + i))];
        lb.upsert_service(&s).unwrap();
        if i % 3 == 0 {
            lb.delete_service(&format!("svc-{}", i / 2)).ok();
        }
    }
    let list = lb.list().unwrap();
    let sids: BTreeSet<u32> = list.iter().map(|f| f.service_id).collect();
    assert_eq!(sids.len(), list.len());
    // One id per distinct backend, one backend per id.
    let pairs: BTreeSet<(u32, Backend)> = list
        .iter()
        .flat_map(|f| {
            f.backends
                .iter()
                .map(|b| (b.id.expect("selected"), b.backend))
        })
        .collect();
    let ids: BTreeSet<u32> = pairs.iter().map(|(i, _)| *i).collect();
    let addrs: BTreeSet<Backend> = pairs.iter().map(|(_, b)| *b).collect();
    assert_eq!((ids.len(), addrs.len()), (pairs.len(), pairs.len()));
    assert_eq!(lb.maps().backends.len(), pairs.len());
}

#[test]
fn adopt_then_reconcile_touches_only_what_changed() {
    let limits = Limits::default();
    let mut lb = Lb::new(MemMaps::new(&limits), limits);
    let mut dns = web(&["10.244.1.8:53"]);
    dns.name = "kube-system/dns".into();
    dns.vips = vec![ip("10.96.0.10")];
    dns.ports[0].port = 53;
    dns.ports[0].protocol = Protocol::Udp;
    let mut big = web_n(20, 80);
    big.name = "default/big".into();
    big.vips = vec![ip("10.96.0.40")];
    let svcs = vec![web(&["10.244.1.2:8080", "[fd00::2]:8080"]), dns, big];
    lb.reconcile(&svcs).unwrap();
    let listed = lb.list().unwrap();

    // A restart: a new process adopts the same maps.
    let maps = std::mem::take(lb.maps_mut());
    let mut lb = Lb::adopt(maps, limits).unwrap();
    assert_eq!(lb.repair().unwrap(), 0);
    let adopted = lb.list().unwrap();
    assert_eq!(adopted.len(), listed.len());
    for (a, b) in adopted.iter().zip(&listed) {
        assert_eq!(
            (a.frontend, a.service_id, &a.backends),
            (b.frontend, b.service_id, &b.backends)
        );
        assert_eq!(a.service, None);
    }
    let writes = lb.maps().writes;
    lb.reconcile(&svcs).unwrap();
    assert_eq!(
        lb.maps().writes,
        writes,
        "reconciling the same state writes nothing"
    );

    // Drop two services: only their frontends go.
    lb.reconcile(&svcs[..1]).unwrap();
    assert_eq!(lb.list().unwrap().len(), 2);
    assert!(!lb.maps().vips.contains_key(&ip("10.96.0.10")));
    assert_consistent(lb.maps());
}

#[test]
fn adoption_repairs_leftovers_of_a_killed_writer() {
    let limits = Limits::default();
    let mut lb = Lb::new(MemMaps::new(&limits), limits);
    lb.upsert_service(&web(&["10.244.1.2:8080"])).unwrap();
    let mut maps = std::mem::take(lb.maps_mut());
    // Killed between writing a new generation and flipping the master.
    let key = FrontendKey {
        vip: ip("10.96.0.20"),
        port: 80,
        protocol: Protocol::Tcp,
    };
    maps.put_backend(99, &be("10.244.1.99:8080"), Protocol::Tcp)
        .unwrap();
    let live = maps.slots[&SlotKey::master(key)].gen_;
    maps.put_slot(
        &SlotKey::slot(key, live ^ 1, 1),
        &ServiceValue {
            backend_id: 99,
            ..ServiceValue::default()
        },
    )
    .unwrap();
    let mut lb = Lb::adopt(maps, limits).unwrap();
    assert_eq!(lb.repair().unwrap(), 2);
    assert!(!lb.maps().backends.contains_key(&99));
    assert_consistent(lb.maps());
    assert_eq!(lb.list().unwrap()[0].backends.len(), 1);
}

#[test]
fn reconcile_validates_everything_before_writing() {
    let mut lb = lb();
    let mut bad = web(&[]);
    bad.name = "bad".into();
    bad.vips = vec![ip("10.96.0.30")];
    bad.ports[0].port = 0;
    let e = lb.reconcile(&[web(&[]), bad]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "services[1].ports[0].port: invalid value \"0\": must be 1-65535"
    );
    assert!(lb.maps().slots.is_empty());
    let e = lb.reconcile(&[web(&[]), web(&[])]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("services[1].name: invalid value \"default/web\""),
        "{e}"
    );
}

#[test]
fn a_shared_backend_stays_while_another_frontend_uses_it() {
    let mut lb = lb();
    let mut a = web(&["10.244.1.2:8080"]);
    a.vips.truncate(1);
    let mut b = a.clone();
    b.name = "default/other".into();
    b.vips = vec![ip("10.96.0.30")];
    lb.upsert_service(&a).unwrap();
    lb.upsert_service(&b).unwrap();
    assert_eq!(
        lb.maps().backends.len(),
        1,
        "one entry for the shared backend"
    );
    lb.delete_service("default/web").unwrap();
    assert_eq!(lb.maps().backends.len(), 1, "still used by default/other");
    assert_consistent(lb.maps());
    lb.set_backends("default/other", 80, Protocol::Tcp, &[])
        .unwrap();
    assert!(lb.maps().backends.is_empty());
}

/// The master entry of the IPv4 frontend.
fn v4_master(m: &MemMaps) -> &ServiceValue {
    m.slots
        .iter()
        .find(|(k, _)| k.slot == 0 && k.frontend.vip.is_ipv4())
        .expect("an IPv4 master")
        .1
}

fn with_policy(mut s: Service, policy: Policy) -> Service {
    s.policy = policy;
    s
}

/// (service id, backend id) pairs the match map should hold for `lb`.
fn expected_matches(lb: &Lb<MemMaps>) -> std::collections::BTreeSet<(u32, u32)> {
    lb.list()
        .unwrap()
        .iter()
        .filter(|f| f.policy.affinity_timeout.is_some())
        .flat_map(|f| {
            f.backends
                .iter()
                .filter_map(move |b| Some((f.service_id, b.id?)))
        })
        .collect()
}

#[test]
fn affinity_frontends_mark_exactly_their_backends() {
    let mut lb = lb();
    let three = ["10.244.1.2:8080", "10.244.1.3:8080", "10.244.1.4:8080"];
    lb.upsert_service(&with_policy(web(&three), Policy::client_ip()))
        .unwrap();
    let m = lb.maps();
    let master = v4_master(m);
    assert_eq!(master.flags & berth_ebpf_common::lb::SVC_F_AFFINITY, 1);
    assert_eq!(master.affinity_timeout, 10_800);
    assert_eq!(m.affinity_match.len(), 3);
    assert_eq!(m.affinity_match, expected_matches(&lb));
    // A removed backend is no longer handed out by affinity.
    lb.upsert_service(&with_policy(web(&three[..2]), Policy::client_ip()))
        .unwrap();
    assert_eq!(lb.maps().affinity_match.len(), 2);
    assert_eq!(lb.maps().affinity_match, expected_matches(&lb));
    // Affinity switched off: nothing marked, the flag gone.
    lb.upsert_service(&web(&three[..2])).unwrap();
    assert!(lb.maps().affinity_match.is_empty());
    assert!(lb.maps().slots.values().all(|v| v.flags == 0));
    lb.upsert_service(&with_policy(web(&three), Policy::client_ip()))
        .unwrap();
    assert_eq!(lb.maps().affinity_match.len(), 3);
    lb.delete_service("default/web").unwrap();
    assert!(lb.maps().affinity_match.is_empty());
    assert!(lb.maps().slots.is_empty());
}

fn maglev() -> Policy {
    Policy {
        affinity_timeout: None,
        algorithm: crate::model::Algorithm::Maglev,
    }
}

#[test]
fn maglev_frontends_get_a_table_of_their_backends() {
    let limits = Limits::default();
    let mut lb = Lb::new(MemMaps::new(&limits), limits);
    let backends = many(10, 8080);
    let refs: Vec<&str> = backends.iter().map(String::as_str).collect();
    lb.upsert_service(&with_policy(web(&refs), maglev()))
        .unwrap();
    let listed = lb.list().unwrap();
    let v4 = listed.iter().find(|f| f.frontend.vip.is_ipv4()).unwrap();
    let table = &lb.maps().maglev[&v4.service_id];
    assert_eq!(table.len(), 16_381);
    let ids: std::collections::BTreeSet<u32> = v4.backends.iter().filter_map(|b| b.id).collect();
    assert_eq!(
        table
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        ids
    );
    // The v6 frontend has no backend: an empty table, and its master says
    // count 0 (refused).
    assert_eq!(lb.maps().maglev.len(), 2);
    let before = table.clone();
    lb.upsert_service(&with_policy(web(&refs[1..]), maglev()))
        .unwrap();
    let after = &lb.maps().maglev[&v4.service_id];
    let removed = v4.backends[0].id.expect("selected");
    assert!(!after.contains(&removed));
    let moved = before.iter().zip(after).filter(|(a, b)| a != b).count();
    assert!(moved < 16_381 * 15 / 100, "moved {moved} of 16381");
    lb.upsert_service(&web(&refs[1..])).unwrap();
    assert!(lb.maps().maglev.is_empty(), "random again: tables gone");
}

#[test]
fn maglev_frontends_are_capped_and_a_refused_one_changes_nothing() {
    let limits = Limits {
        maglev_frontends: 2,
        maglev_table_size: 251,
        ..Limits::default()
    };
    let mut lb = Lb::new(MemMaps::new(&limits), limits);
    lb.upsert_service(&with_policy(web(&["10.244.1.2:8080"]), maglev()))
        .unwrap();
    let before = format!("{:?}", lb.maps().dump().unwrap());
    let mut other = with_policy(web(&["10.244.1.3:8080"]), maglev());
    other.name = "default/other".into();
    other.vips = vec![ip("10.96.0.30")];
    let e = lb.upsert_service(&other).unwrap_err().to_string();
    assert!(
        e.contains("Maglev frontend capacity exceeded: 1 needed, 0 free of 2"),
        "{e}"
    );
    assert_eq!(format!("{:?}", lb.maps().dump().unwrap()), before);
    assert_eq!(lb.maps().maglev.len(), 2);
    // The same through reconcile: refused before anything is written.
    let e = lb.reconcile(&[with_policy(web(&["10.244.1.2:8080"]), maglev()), other]);
    assert!(
        e.unwrap_err()
            .to_string()
            .contains("Maglev frontend capacity exceeded")
    );
}

#[test]
fn bad_policies_name_the_field() {
    let mut lb = lb();
    let e = lb
        .upsert_service(&with_policy(
            web(&["10.244.1.2:8080"]),
            Policy {
                affinity_timeout: Some(0),
                ..Policy::default()
            },
        ))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "policy.affinity_timeout: invalid value \"0\": must be 1-86400 seconds"
    );
}

#[test]
fn adoption_keeps_the_policy() {
    let mut lb = lb();
    lb.upsert_service(&with_policy(web(&["10.244.1.2:8080"]), Policy::client_ip()))
        .unwrap();
    let maps = std::mem::take(lb.maps_mut());
    let adopted = Lb::adopt(maps, Limits::default()).unwrap();
    let listed = adopted.list().unwrap();
    assert!(
        listed.iter().all(|f| f.policy == Policy::client_ip()),
        "{listed:?}"
    );
}

fn with_options(mut s: Service, opts: &[(&str, BackendState, u16)]) -> Service {
    for (b, state, weight) in opts {
        s.ports[0].options.insert(
            be(b),
            BackendOptions {
                state: *state,
                weight: *weight,
            },
        );
    }
    s
}

#[test]
fn removed_backends_are_queued_for_termination_and_draining_ones_are_not() {
    let mut lb = lb();
    let three = ["10.244.1.2:8080", "10.244.1.3:8080", "10.244.1.4:8080"];
    lb.upsert_service(&web(&three)).unwrap();
    assert!(lb.maps().terminated.is_empty());
    // Terminating, drained (weight 0) and quarantined: out of the
    // selection, connections kept.
    lb.upsert_service(&with_options(
        web(&three),
        &[
            ("10.244.1.2:8080", BackendState::Terminating, 1),
            ("10.244.1.3:8080", BackendState::Active, 0),
        ],
    ))
    .unwrap();
    assert!(lb.maps().terminated.is_empty());
    let v4 = lb
        .list()
        .unwrap()
        .into_iter()
        .find(|f| f.frontend.vip.is_ipv4())
        .unwrap();
    let selected: Vec<_> = v4.backends.iter().filter(|b| b.selected).collect();
    assert_eq!(selected.len(), 1, "{v4:?}");
    assert_eq!(selected[0].backend, be("10.244.1.4:8080"));
    assert_eq!(v4.backends.len(), 3, "members stay listed");
    // Removed: its connections through the VIP are to end.
    lb.upsert_service(&with_options(
        web(&three[1..]),
        &[("10.244.1.3:8080", BackendState::Active, 0)],
    ))
    .unwrap();
    let ended = &lb.maps().terminated;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].1, be("10.244.1.2:8080"));
    assert_eq!(ended[0].0.vip, ip("10.96.0.20"));
    // Deleting the service ends the rest.
    lb.delete_service("default/web").unwrap();
    assert_eq!(lb.maps().terminated.len(), 3);
    assert_consistent(lb.maps());
}

#[test]
fn weights_repeat_backends_in_the_slots_and_ids_are_released_once() {
    let mut lb = lb();
    let two = ["10.244.1.2:8080", "10.244.1.3:8080"];
    lb.upsert_service(&with_options(
        web(&two),
        &[("10.244.1.2:8080", BackendState::Active, 3)],
    ))
    .unwrap();
    let m = lb.maps();
    let master = v4_master(m);
    assert_eq!(master.count, 4, "3 + 1 slots");
    assert_eq!(m.backends.len(), 2);
    // Weight down, then the backend goes: its id is freed exactly once.
    lb.upsert_service(&web(&two)).unwrap();
    lb.upsert_service(&web(&two[1..])).unwrap();
    assert_eq!(lb.maps().backends.len(), 1);
    lb.delete_service("default/web").unwrap();
    assert!(lb.maps().backends.is_empty());
    assert_consistent(lb.maps());
}

#[test]
fn states_and_weights_are_recorded_and_adopted() {
    let mut lb = lb();
    let three = ["10.244.1.2:8080", "10.244.1.3:8080", "10.244.1.4:8080"];
    let svc = with_options(
        web(&three),
        &[
            ("10.244.1.2:8080", BackendState::Terminating, 1),
            ("10.244.1.3:8080", BackendState::Active, 4),
        ],
    );
    lb.upsert_service(&svc).unwrap();
    assert_eq!(lb.maps().members.len(), 2, "only the non-default members");
    let maps = std::mem::take(lb.maps_mut());
    let mut adopted = Lb::adopt(maps, Limits::default()).unwrap();
    let v4 = adopted
        .list()
        .unwrap()
        .into_iter()
        .find(|f| f.frontend.vip.is_ipv4())
        .unwrap();
    let of = |a: &str| {
        v4.backends
            .iter()
            .find(|b| b.backend == be(a))
            .cloned()
            .unwrap()
    };
    assert_eq!(of("10.244.1.2:8080").state, BackendState::Terminating);
    assert!(!of("10.244.1.2:8080").selected);
    assert_eq!(of("10.244.1.3:8080").weight, 4);
    assert_eq!(of("10.244.1.4:8080").weight, 1);
    // The owner upserts the same again: nothing to write; then the
    // terminating one goes and, known from the record, its connections end.
    let writes = adopted.maps().writes;
    adopted.upsert_service(&svc).unwrap();
    assert_eq!(adopted.maps().writes, writes);
    adopted
        .upsert_service(&with_options(
            web(&three[1..]),
            &[("10.244.1.3:8080", BackendState::Active, 4)],
        ))
        .unwrap();
    assert_eq!(adopted.maps().terminated.len(), 1);
    assert_eq!(adopted.maps().members.len(), 1);
    adopted.delete_service("default/web").unwrap();
    assert!(adopted.maps().members.is_empty());
}
