//! The socket-level load balancer on the real kernel: `berth dataplane run`
//! attached to a test cgroup, a client in a network namespace inside that
//! cgroup, backends in other namespaces.

mod common;

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use common::stream::Stream;
use common::{Fixture, REJECTED, VIP4, VIP6};

/// Only catches hangs while waiting for a reconcile to show.
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(30);
/// Answers the stream must get in each phase of the kill test.
const STREAM_STEP: u64 = 100;

fn addr(vip: &str, port: u16) -> String {
    match vip.parse::<IpAddr>().expect("vip") {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

fn running() -> Fixture {
    let mut f = Fixture::new(3);
    f.write_file(&Fixture::web_yaml(&f.backends()));
    f.start_dataplane();
    f
}

fn assert_spread(f: &Fixture, vip: &str) {
    let a = addr(vip, 80);
    let p = f.probe(&["tcp", &a, "3000"]);
    assert_eq!(p.num("failed"), 0, "{a}: {}", p.get("first_error"));
    assert_eq!(
        p.num("peer_mismatch"),
        0,
        "{a}: getpeername must show the VIP"
    );
    let ids = p.ids();
    assert_eq!(
        ids.keys().cloned().collect::<Vec<_>>(),
        ["backend-1", "backend-2", "backend-3"],
        "{a}: {ids:?}"
    );
    // 3000 uniform picks over 3: each count is 1000 ± 26 (one sd); 500 is
    // far outside chance and would mean the selection is skewed.
    assert!(ids.values().all(|c| *c > 500), "{a}: skewed: {ids:?}");
    assert_eq!(ids.values().sum::<u64>(), 3000);
}

#[test]
fn tcp_through_the_vip_reaches_every_backend_v4_and_v6() {
    let f = running();
    assert_spread(&f, VIP4);
    assert_spread(&f, VIP6);
    // The kernel's counters saw them too.
    let out = f.list();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{VIP4}:80/TCP")))
        .expect("frontend listed");
    let translated: u64 = line
        .split_whitespace()
        .nth(2)
        .expect("column")
        .parse()
        .expect("number");
    assert_eq!(translated, 3000, "{line}");
}

#[test]
fn a_set_larger_than_the_master_holds_spreads_over_all() {
    let mut f = Fixture::new(3);
    let mut six: Vec<String> = Vec::new();
    for h in f.lan.hosts().iter().skip(1) {
        six.push(format!("{}:8080", h.ipv4));
        six.push(format!("{}:8081", h.ipv4));
    }
    f.write_file(&Fixture::web_yaml(&six));
    f.start_dataplane();
    let a = addr(VIP4, 80);
    let p = f.probe(&["tcp", &a, "1200"]);
    let listed = f.list();
    assert_eq!(
        p.num("failed"),
        0,
        "{}: {:?}\n{}",
        p.get("first_error"),
        p.ids(),
        String::from_utf8_lossy(&listed.stdout)
    );
    let ids = p.ids();
    assert_eq!(ids.len(), 6, "{ids:?}");
    // 1200 over 6: 200 ± 13 each.
    assert!(ids.values().all(|c| *c > 100), "skewed: {ids:?}");
    // Shrink to an inline set and grow again: no failure on the way.
    f.write_file(&Fixture::web_yaml(&six[..2]));
    let deadline = Instant::now() + RECONCILE_TIMEOUT;
    while f.probe(&["tcp", &a, "30"]).ids().len() != 2 {
        assert!(Instant::now() < deadline, "shrink never showed");
    }
    f.write_file(&Fixture::web_yaml(&six));
    while f.probe(&["tcp", &a, "120"]).ids().len() != 6 {
        assert!(Instant::now() < deadline, "growth never showed");
    }
}

#[test]
fn udp_replies_come_from_the_vip_v4_and_v6() {
    let f = running();
    for vip in [VIP4, VIP6] {
        let a = addr(vip, 80);
        let p = f.probe(&["udp", &a]);
        assert!(p.get("id").starts_with("backend-"), "{p:?}");
        assert_eq!(p.get("from"), a, "recvmsg must show the VIP as the source");
        let p = f.probe(&["udp-connected", &a]);
        assert!(p.get("id").starts_with("backend-"), "{p:?}");
        assert_eq!(
            p.get("peer"),
            a,
            "getpeername of a connected UDP socket shows the VIP"
        );
    }
}

#[test]
fn no_backends_and_unknown_ports_are_refused_at_once() {
    let f = running();
    for target in [
        addr("10.96.0.21", 80),
        addr("fd00:10:96::21", 80),
        addr(VIP4, 81),
        addr(VIP6, 81),
    ] {
        let p = f.probe(&["connect", &target]);
        assert_eq!(p.get("result"), "error", "{target}");
        assert_eq!(
            p.num("errno"),
            libc::ECONNREFUSED as u64,
            "{target}: {}",
            p.get("error")
        );
    }
    let out = f.list();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("10.96.0.21:80/TCP"))
        .expect("listed");
    let refused: u64 = line
        .split_whitespace()
        .nth(3)
        .expect("column")
        .parse()
        .expect("number");
    assert_eq!(refused, 1, "{line}");
}

#[test]
fn kill_9_and_restart_drop_no_connection() {
    let mut f = running();
    let a = addr(VIP4, 80);
    // The stream runs in a child until told to stop; the data plane is
    // killed under it, the stream goes on without it, and a new one adopts.
    let mut stream = Stream::start(f.probe_child(&["stream", &a]));
    let before = stream.wait_answered(STREAM_STEP);
    f.kill9_dataplane();
    let at_kill = stream.answered();
    let at_restart = stream.wait_answered(at_kill + STREAM_STEP);
    f.start_dataplane();
    let restarted = stream.answered();
    stream.wait_answered(restarted + STREAM_STEP);
    let p = stream.stop();
    eprintln!(
        "stream: {before} answered before the kill, {} with no data plane process, {} after the restart; {p:?}",
        at_restart - at_kill,
        p.num("ok") - restarted
    );
    assert!(at_restart - at_kill >= STREAM_STEP);
    assert_eq!(p.num("failed"), 0, "first error: {}", p.get("first_error"));
}

#[test]
fn a_changed_file_is_reconciled_and_a_bad_one_changes_nothing() {
    let mut f = Fixture::new(3);
    let all = f.backends();
    f.write_file(&Fixture::web_yaml(&all[..2]));
    f.start_dataplane();
    let a = addr(VIP4, 80);
    let p = f.probe(&["tcp", &a, "60"]);
    assert_eq!(p.ids().keys().cloned().collect::<Vec<_>>(), ["backend-1"]);

    f.write_file(&Fixture::web_yaml(&all));
    let deadline = Instant::now() + RECONCILE_TIMEOUT;
    loop {
        let ids = f.probe(&["tcp", &a, "60"]).ids();
        if ids.len() == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "new backends never got traffic: {ids:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A bad file is rejected as a whole and the programmed state stays.
    let mark = f.log_mark();
    f.write_file("services:\n  - name: web\n    vips: [10.96.0.300]\n    ports: [{port: 80}]\n");
    f.wait_log_since(mark, REJECTED);
    let p = f.probe(&["tcp", &a, "60"]);
    assert_eq!(p.num("failed"), 0);
    assert_eq!(p.ids().len(), 3);
}

fn run_with(f: &Fixture, yaml: &str, extra: &[&str]) -> (bool, String) {
    f.write_file(yaml);
    let out = f.dataplane_command(extra).output().expect("run berth");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_input_is_refused_naming_field_and_value_before_anything_is_attached() {
    let f = Fixture::new(1);
    let cases: [(&str, &[&str], &[&str]); 5] = [
        (
            "services:\n  - name: a\n    vips: [10.96.0.300]\n    ports: [{port: 80}]\n",
            &[],
            &["services[0].vips[0]", "10.96.0.300"],
        ),
        (
            "services:\n  - name: a\n    vips: [10.96.0.3]\n    ports: [{port: 70000}]\n",
            &[],
            &["services[0].ports[0].port", "70000"],
        ),
        (
            "services:\n  - name: a\n    vips: [10.96.0.3]\n    ports: [{port: 80, protocol: SCTP}]\n",
            &[],
            &["services[0].ports[0].protocol", "SCTP"],
        ),
        (
            "services:\n  - name: a\n    vips: [10.96.0.3]\n    ports: [{port: 80, backends: [10.244.1.1:80, 10.244.1.2:80, 10.244.1.3:80]}]\n",
            &["--max-backends-per-frontend", "2"],
            &["services[0].ports[0].backends", "3 backends", "at most 2"],
        ),
        (
            "services:\n  - name: a\n    vips: [10.96.0.3, 10.96.0.4]\n    ports: [{port: 80}]\n",
            &["--max-frontends", "1"],
            &["frontend capacity exceeded", "2 needed"],
        ),
    ];
    for (yaml, extra, wanted) in cases {
        let (ok, stderr) = run_with(&f, yaml, extra);
        assert!(!ok, "accepted: {yaml}");
        for w in wanted {
            assert!(
                stderr.contains(w),
                "error for {yaml:?} lacks {w:?}: {stderr}"
            );
        }
        assert!(
            !f.bpffs.exists(),
            "nothing may be pinned for a refused file: {}",
            f.bpffs.display()
        );
    }
}

#[test]
fn a_full_map_refuses_the_new_service_and_keeps_the_rest() {
    let mut f = Fixture::new(3);
    let web = Fixture::web_yaml(&f.backends());
    // web has 4 frontends (2 VIPs x TCP, UDP), "empty" 2: room for exactly 6.
    f.write_file(&web);
    f.start_dataplane_with(&["--max-frontends", "6"]);
    let more = format!(
        "{web}  - name: more\n    vips: [10.96.0.22]\n    ports:\n      - port: 80\n        backends: [\"{}\"]\n",
        f.backends()[0]
    );
    let mark = f.log_mark();
    f.write_file(&more);
    f.wait_log_since(mark, REJECTED);
    let out = f.list();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("10.96.0.22"),
        "no part of the refused service: {text}"
    );
    // Header, six frontends, the Maglev footer.
    assert_eq!(text.lines().count(), 1 + 6 + 1, "{text}");
    let p = f.probe(&["tcp", &addr(VIP4, 80), "30"]);
    assert_eq!(p.num("failed"), 0);
}

#[test]
fn down_detaches_and_unpins_everything() {
    let mut f = running();
    f.kill9_dataplane();
    // Killed: the pinned programs keep serving.
    let p = f.probe(&["tcp", &addr(VIP4, 80), "30"]);
    assert_eq!(p.num("failed"), 0);
    // BPF_PROG_QUERY sees the hooks on the test cgroup (what `berth down`'s
    // leftover check counts): connect, sendmsg, recvmsg and getpeername,
    // each for IPv4 and IPv6.
    let attached = || berth_dataplane::kernel::cgroup_programs(f.cgroup.path()).expect("query");
    assert_eq!(attached(), 8);
    let out = f.berth(&[
        "dataplane",
        "down",
        "--bpffs",
        f.bpffs.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!f.bpffs.exists(), "{} still exists", f.bpffs.display());
    assert_eq!(attached(), 0);
    // Detached: a VIP is an ordinary (unanswered) address again, not refused.
    let p = f.probe(&["connect", &addr("10.96.0.21", 80)]);
    assert_eq!(p.get("result"), "error");
    assert_ne!(
        p.num("errno"),
        libc::ECONNREFUSED as u64,
        "{}",
        p.get("error")
    );
    let out = f.list();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no data plane is pinned"));
}
