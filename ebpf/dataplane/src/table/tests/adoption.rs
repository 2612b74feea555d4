//! Adoption after a restart, and what several frontends share.

use super::*;

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
