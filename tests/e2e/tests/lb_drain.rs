//! Backend removal and draining on the real kernel: a terminating backend
//! keeps its connections and gets no new one; a removed backend's
//! connections through the VIP (idle TCP, connected UDP) are ended at once
//! so that the client's next attempt reaches a live backend, while
//! connections made to the backend's own address are left alone.

mod common;

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use common::stream::Stream;
use common::{Fixture, Probe, VIP4};

/// Only catches hangs: how long a test waits for a change to show.
const DEADLINE: Duration = Duration::from_secs(60);
/// Only catches hangs: how long idle probes through the VIP wait for their
/// connection to end (how long it took is printed).
const IDLE_WAIT_S: &str = "60";
/// Exchanges the held flow must make after its backend became terminating.
const HELD_AFTER: u64 = 10;

fn address_of(f: &Fixture, id: &str) -> String {
    let n: usize = id
        .strip_prefix("backend-")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a backend id: {id}"));
    f.v4_backends()[n - 1].clone()
}

/// `web` on TCP and UDP 80; `(address, state)` per backend.
fn yaml(backends: &[(String, &str)]) -> String {
    let list = backends
        .iter()
        .map(|(a, st)| match *st {
            "" => format!("\"{a}\""),
            st => format!("{{address: \"{a}\", state: {st}}}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "services:\n  - name: web\n    vips: [{VIP4}]\n    ports:\n      - port: 80\n        backends: [{list}]\n      - port: 80\n        protocol: UDP\n        backends: [{list}]\n"
    )
}

fn plain(all: &[String]) -> Vec<(String, &'static str)> {
    all.iter().map(|a| (a.clone(), "")).collect()
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
}

/// A probe running in the background (its stdin piped: closing it stops
/// the probes that wait for that) and the first line it printed.
fn spawn_probe(
    f: &Fixture,
    args: &[&str],
) -> (Child, String, BufReader<std::process::ChildStdout>) {
    let mut child = f
        .probe_child(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn lbprobe");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("first line");
    let id = first
        .trim()
        .strip_prefix("id=")
        .unwrap_or_else(|| panic!("lbprobe {args:?} said {first:?}"))
        .to_string();
    (child, id, out)
}

fn finish(mut child: Child, mut out: BufReader<std::process::ChildStdout>, args: &[&str]) -> Probe {
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("probe output");
    let status = child.wait().expect("wait lbprobe");
    assert!(status.success(), "lbprobe {args:?}: {status}");
    Probe(
        rest.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn wait_listed(f: &Fixture, what: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let text = String::from_utf8_lossy(&f.list().stdout).into_owned();
        if what(&text) {
            return;
        }
        assert!(Instant::now() < deadline, "never listed: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_terminating_backend_keeps_its_flow_and_gets_no_new_connection() {
    let mut f = Fixture::new(3);
    let all = f.v4_backends();
    f.write_file(&yaml(&plain(&all)));
    f.start_dataplane();
    let vip = format!("{VIP4}:80");
    // One connection pinging until the test says stop.
    let mut hold = Stream::start(f.probe_child(&["hold", vip.as_str()]));
    let id = hold.wait_line("id=");
    let held = address_of(&f, &id);
    let marked: Vec<(String, &str)> = all
        .iter()
        .map(|a| (a.clone(), if *a == held { "terminating" } else { "" }))
        .collect();
    f.write_file(&yaml(&marked));
    // Listed by another process: no id (not picked), and its state.
    wait_listed(&f, |t| {
        t.lines()
            .find(|l| l.starts_with(&format!("{VIP4}:80/TCP")))
            .is_some_and(|l| l.contains(&format!("- {held} terminating")))
    });
    let p = f.probe(&["tcp", &vip, "300"]);
    assert_eq!(p.num("failed"), 0, "{}", p.get("first_error"));
    let ids = p.ids();
    assert!(
        !ids.contains_key(&id),
        "{id} is terminating but got {ids:?}"
    );
    assert_eq!(ids.len(), 2, "{ids:?}");
    // The held flow goes on after its backend became terminating.
    let marked_at = hold.answered();
    hold.wait_answered(marked_at + HELD_AFTER);
    let held_flow = hold.stop();
    eprintln!(
        "held flow: {held_flow:?} ({marked_at} exchanges before the new connections were checked)"
    );
    assert_eq!(
        held_flow.num("failed"),
        0,
        "{}",
        held_flow.get("first_error")
    );
    assert!(
        held_flow.num("exchanges") >= marked_at + HELD_AFTER,
        "{held_flow:?}"
    );
}

/// Whether the running kernel has the bpf_sock_destroy kfunc (6.5+): its
/// name is among the strings of the kernel's BTF.
fn kernel_has_sock_destroy() -> bool {
    let btf = std::fs::read("/sys/kernel/btf/vmlinux").expect("read /sys/kernel/btf/vmlinux");
    let name = b"\0bpf_sock_destroy\0";
    btf.windows(name.len()).any(|w| w == name)
}

/// What the data plane logs when it chooses each way of ending sockets.
const ITER_LOG: &str = "with bpf_sock_destroy iterators";
const SOCK_DIAG_LOG: &str = "with sock_diag";

#[test]
fn a_removed_backend_ends_idle_tcp_and_connected_udp_through_the_vip() {
    // The default: in-kernel iterators where the kernel has the kfunc.
    let expect = if kernel_has_sock_destroy() {
        ITER_LOG
    } else {
        SOCK_DIAG_LOG
    };
    removed_backend_ends_connections(None, expect);
}

#[test]
fn a_removed_backend_ends_connections_with_sock_diag_on_any_kernel() {
    // The path of kernels before 6.5, forced, so that both run here.
    removed_backend_ends_connections(Some("sock_diag"), SOCK_DIAG_LOG);
}

fn removed_backend_ends_connections(method: Option<&str>, expect_log: &str) {
    let mut f = Fixture::new(3);
    if let Some(m) = method {
        f.dataplane_env
            .push(("BERTH_SOCK_DESTROY".into(), m.into()));
    }
    let all = f.v4_backends();
    f.write_file(&yaml(&plain(&all)));
    f.start_dataplane();
    let vip = format!("{VIP4}:80");
    for kind in ["idle-tcp", "idle-udp"] {
        f.write_file(&yaml(&plain(&all)));
        wait_listed(&f, |t| {
            all.iter().all(|a| t.matches(a.as_str()).count() == 2)
        });
        let args = [kind, vip.as_str(), IDLE_WAIT_S];
        let (child, id, out) = spawn_probe(&f, &args);
        let gone = address_of(&f, &id);
        // A client of the backend's own address, not of the service: it
        // idles until told to stop.
        let direct_args = ["idle-tcp", gone.as_str(), "stdin"];
        let (mut direct, direct_id, direct_out) = spawn_probe(&f, &direct_args);
        assert_eq!(direct_id, id);

        let rest: Vec<String> = all.iter().filter(|a| **a != gone).cloned().collect();
        let written = now_ms();
        f.write_file(&yaml(&plain(&rest)));
        let p = finish(child, out, &args);
        assert_eq!(p.get("result"), "error", "{kind}: {p:?}");
        assert_eq!(p.num("errno"), libc::ECONNABORTED as u64, "{kind}: {p:?}");
        let after = p.get("error_at_ms").parse::<u128>().expect("ms") - written;
        eprintln!("{kind}: ended {after} ms after the file changed (poll 100 ms)");
        let next = p.get("next_id");
        assert!(
            next.starts_with("backend-") && next != id,
            "{kind}: next {next:?}"
        );

        // The removal has ended the service's connection (above): the
        // direct one, made before it, is still open.
        drop(direct.stdin.take());
        let d = finish(direct, direct_out, &direct_args);
        assert_eq!(
            d.get("result"),
            "open",
            "a direct connection is not the service's: {d:?}"
        );
    }
    f.wait_log(expect_log);
}
