//! Backend selection policies on the real kernel: sessionAffinity ClientIP
//! and Maglev, through `berth dataplane run` attached to a test cgroup, with
//! clients in network namespaces of their own.

mod common;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use berth_dataplane::{Backend, DEFAULT_MAGLEV_TABLE_SIZE, maglev};
use berth_ebpf_common::select::{client_hash, maglev_index};
use common::{Fixture, VIP4};

/// Only catches hangs while waiting for a reconcile to show.
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(30);
/// The affinity timeout the tests use, in seconds.
const AFFINITY_S: u64 = 2;

fn index(id: &str) -> usize {
    id.strip_prefix("backend-")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("not a backend id: {id}"))
        - 1
}

fn yaml(backends: &[String], policy: &str) -> String {
    let list = common::quoted(backends);
    format!(
        "services:\n  - name: web\n    vips: [{VIP4}]\n{policy}    ports:\n      - port: 80\n        backends: [{list}]\n"
    )
}

fn affinity() -> String {
    format!(
        "    sessionAffinity: ClientIP\n    sessionAffinityConfig: {{clientIP: {{timeoutSeconds: {AFFINITY_S}}}}}\n"
    )
}

/// The one backend `n` connections from client `c` reached.
fn sole_backend(f: &Fixture, c: usize, n: usize) -> String {
    let p = f.probe_from(c, &["tcp", &format!("{VIP4}:80"), &n.to_string()]);
    assert_eq!(p.num("failed"), 0, "{}", p.get("first_error"));
    let ids = p.ids();
    assert_eq!(ids.len(), 1, "client {c}: spread over {ids:?}");
    ids.into_keys().next().expect("one id")
}

#[test]
fn affinity_holds_a_client_until_the_timeout_or_the_backend_goes() {
    let mut f = Fixture::new(4);
    let all = f.v4_backends();
    f.write_file(&yaml(&all, &affinity()));
    f.start_dataplane();
    let first = sole_backend(&f, 0, 1000);

    let listed = String::from_utf8_lossy(&f.list().stdout).into_owned();
    let line = listed
        .lines()
        .find(|l| l.starts_with(&format!("{VIP4}:80/TCP")))
        .expect("listed");
    assert!(line.contains(&format!("{AFFINITY_S}s")), "{line}");

    // Its backend leaves: the client moves, and sticks to the new one.
    let rest: Vec<String> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index(&first))
        .map(|(_, b)| b.clone())
        .collect();
    f.write_file(&yaml(&rest, &affinity()));
    let deadline = Instant::now() + RECONCILE_TIMEOUT;
    let second = loop {
        // A batch that straddles the reload sees `first`, then the new
        // pick: poll until a whole batch is on one other backend.
        let p = f.probe_from(0, &["tcp", &format!("{VIP4}:80"), "20"]);
        assert_eq!(p.num("failed"), 0, "{}", p.get("first_error"));
        let ids = p.ids();
        if ids.len() == 1 && !ids.contains_key(&first) {
            break ids.into_keys().next().expect("one id");
        }
        assert!(Instant::now() < deadline, "removal never showed");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(sole_backend(&f, 0, 300), second);

    // Idle past the timeout: a fresh pick. Over three backends a fresh pick
    // is the same one a third of the time, so try a few idle periods.
    let mut picks = Vec::new();
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(AFFINITY_S * 1000 + 300));
        let now = sole_backend(&f, 0, 50);
        picks.push(now.clone());
        if now != second {
            return;
        }
    }
    panic!("after 8 timeouts the client was always on {second}: {picks:?}");
}

#[test]
fn without_affinity_one_client_spreads() {
    let mut f = Fixture::new(3);
    f.write_file(&yaml(&f.v4_backends(), ""));
    f.start_dataplane();
    let p = f.probe(&["tcp", &format!("{VIP4}:80"), "300"]);
    assert_eq!(p.ids().len(), 3, "{:?}", p.ids());
}

/// Clients of the Maglev test: each its own network namespace.
const CLIENTS: usize = 40;

/// The cookie of client host `c`'s network namespace: what the programs
/// hash to pick a client's Maglev entry (`bpf_get_netns_cookie`).
fn netns_cookie(f: &Fixture, c: usize) -> u64 {
    f.lan
        .host(c)
        .netns
        .run(|| {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("socket");
            let mut cookie = 0u64;
            let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
            // SAFETY: getsockopt writes at most `len` bytes into `cookie`,
            // a u64 that outlives the call, on a socket this thread owns.
            let r = unsafe {
                libc::getsockopt(
                    std::os::fd::AsRawFd::as_raw_fd(&s),
                    libc::SOL_SOCKET,
                    libc::SO_NETNS_COOKIE,
                    (&raw mut cookie).cast(),
                    &mut len,
                )
            };
            assert_eq!(r, 0, "SO_NETNS_COOKIE: {}", std::io::Error::last_os_error());
            cookie
        })
        .expect("enter the client's netns")
}

/// The backend (`backend-N`) the Maglev table of `backends` (addresses
/// `ip:port`, `backend-N` at index N-1 of `all`) gives `cookie`, computed
/// here as the data plane builds and indexes it.
fn maglev_pick(all: &[String], backends: &[String], cookie: u64) -> String {
    let set: Vec<(Backend, u32)> = backends
        .iter()
        .map(|b| {
            let a: std::net::SocketAddr = b.parse().expect("backend address");
            (Backend::new(a.ip(), a.port()), 1)
        })
        .collect();
    let table = maglev::table(&set, DEFAULT_MAGLEV_TABLE_SIZE);
    let entry = maglev_index(client_hash(cookie), DEFAULT_MAGLEV_TABLE_SIZE).expect("a table");
    let owner = &backends[table[entry as usize] as usize];
    let n = all.iter().position(|b| b == owner).expect("one of all");
    format!("backend-{}", n + 1)
}

#[test]
fn maglev_keeps_clients_in_place_when_one_of_ten_backends_goes() {
    let mut f = Fixture::with_clients(10, CLIENTS);
    let all = f.v4_backends();
    let maglev = "    algorithm: maglev\n";
    f.write_file(&yaml(&all, maglev));
    f.start_dataplane();
    let cookies: Vec<u64> = (0..CLIENTS).map(|c| netns_cookie(&f, c)).collect();
    let before: Vec<String> = (0..CLIENTS).map(|c| sole_backend(&f, c, 5)).collect();
    // Each client is where the table says: the kernel's pick is Maglev's.
    let want: Vec<String> = cookies
        .iter()
        .map(|k| maglev_pick(&all, &all, *k))
        .collect();
    assert_eq!(before, want, "clients before the removal");
    let mut per: BTreeMap<&str, usize> = BTreeMap::new();
    for b in &before {
        *per.entry(b.as_str()).or_default() += 1;
    }
    eprintln!("maglev: 40 clients over {} backends: {per:?}", per.len());

    let gone = before[0].clone();
    let rest: Vec<String> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index(&gone))
        .map(|(_, b)| b.clone())
        .collect();
    f.write_file(&yaml(&rest, maglev));
    let deadline = Instant::now() + RECONCILE_TIMEOUT;
    while sole_backend(&f, 0, 1) == gone {
        assert!(Instant::now() < deadline, "removal never showed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let after: Vec<String> = (0..CLIENTS).map(|c| sole_backend(&f, c, 5)).collect();
    let want: Vec<String> = cookies
        .iter()
        .map(|k| maglev_pick(&all, &rest, *k))
        .collect();
    assert_eq!(after, want, "clients after the removal");
    assert!(after.iter().all(|a| *a != gone), "{after:?}");
    let on_gone = before.iter().filter(|b| **b == gone).count();
    let displaced = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| **b != gone && b != a)
        .count();
    // The share of the whole table the removal moved off live backends:
    // what Maglev promises to keep small (about 0.5% here).
    let table_moved = {
        let set = |l: &[String]| -> Vec<(Backend, u32)> {
            l.iter()
                .map(|b| {
                    let a: std::net::SocketAddr = b.parse().expect("address");
                    (Backend::new(a.ip(), a.port()), 1)
                })
                .collect()
        };
        let t0 = maglev::table(&set(&all), DEFAULT_MAGLEV_TABLE_SIZE);
        let t1 = maglev::table(&set(&rest), DEFAULT_MAGLEV_TABLE_SIZE);
        let moved = t0
            .iter()
            .zip(&t1)
            .filter(|(a, b)| {
                **a as usize != index(&gone) && all[**a as usize] != rest[**b as usize]
            })
            .count();
        moved as f64 / f64::from(DEFAULT_MAGLEV_TABLE_SIZE)
    };
    eprintln!(
        "maglev: {on_gone} of {CLIENTS} clients were on the removed backend and moved; \
         {displaced} others moved ({:.1}% of the table's entries of live backends moved)",
        table_moved * 100.0
    );
    assert!(table_moved < 0.02, "{table_moved}");
}

#[test]
fn maglev_tables_are_capped_and_their_memory_is_what_the_cap_allows() {
    let mut f = Fixture::new(2);
    let b = f.v4_backends();
    let service = |i: usize| {
        format!(
            "  - name: m{i}\n    vips: [10.96.0.{}]\n    algorithm: maglev\n    ports:\n      - port: 80\n        backends: [\"{}\", \"{}\"]\n",
            30 + i,
            b[0],
            b[1]
        )
    };
    f.write_file(&format!("services:\n{}{}", service(0), service(1)));
    f.start_dataplane_with(&["--max-maglev-frontends", "2", "--maglev-table-size", "4093"]);
    let footer = |f: &Fixture| {
        let out = String::from_utf8_lossy(&f.list().stdout).into_owned();
        out.lines()
            .find(|l| l.starts_with("maglev tables:"))
            .expect("footer")
            .to_string()
    };
    let line = footer(&f);
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        &words[..6],
        ["maglev", "tables:", "2", "of", "at", "most"],
        "{line}"
    );
    assert_eq!(words[6].trim_end_matches(','), "2", "{line}");
    let bytes: u64 = words[7].parse().expect("bytes");
    // Each table is 4093 entries of 4 bytes, which the kernel stores 8
    // bytes apart, plus the array's header: never more than the cap allows.
    assert!(bytes >= 2 * 4093 * 4, "{line}");
    assert!(bytes <= 2 * (4093 * 8 + 2 * 4096), "{line}");
    let p = f.probe(&["tcp", "10.96.0.30:80", "20"]);
    assert_eq!(p.num("failed"), 0);
    assert_eq!(p.ids().len(), 1, "one client, one Maglev backend");

    // A third Maglev service does not fit: the file is refused, nothing changes.
    let mark = f.log_mark();
    f.write_file(&format!(
        "services:\n{}{}{}",
        service(0),
        service(1),
        service(2)
    ));
    f.wait_log_since(mark, common::REJECTED);
    assert_eq!(footer(&f), line);
    let listed = String::from_utf8_lossy(&f.list().stdout).into_owned();
    assert!(!listed.contains("10.96.0.32"), "{listed}");
}
