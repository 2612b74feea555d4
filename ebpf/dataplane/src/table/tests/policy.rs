//! Policies (affinity, Maglev) and backend states and weights.

use super::*;
use crate::Exposure;

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
        exposure: Exposure::Internal,
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
