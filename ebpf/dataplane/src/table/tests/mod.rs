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
            ..ServicePort::default()
        }],
        policy: Policy::default(),
        ..Service::default()
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
        let external = v.flags & berth_ebpf_common::lb::SVC_F_EXTERNAL != 0;
        assert!(
            external || m.vips.contains_key(&k.frontend.vip),
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

mod adoption;
mod external;
mod policy;
