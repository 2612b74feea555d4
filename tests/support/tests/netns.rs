//! Network namespaces, veth pairs and bridges (needs root).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use berth_test_support::echo::{self, TcpEcho};
use berth_test_support::{Bridge, Netns, Veth};

/// Only to catch hangs.
const TIMEOUT: Duration = Duration::from_secs(10);

fn links(ns: &Netns) -> String {
    ns.ip(&["-o", "link", "show"]).unwrap_or_default()
}

#[test]
fn netns_lifecycle() {
    let ns = Netns::new().expect("create netns");
    let path = ns.path().to_owned();
    assert!(path.exists());
    assert!(ns.name().starts_with(berth_test_support::name::PREFIX));
    assert!(ns.name().len() <= 15);
    assert!(links(&ns).contains("lo: <LOOPBACK,UP"), "lo is up");

    // run: the closure sees the namespace; panics propagate.
    let inside = ns
        .run(|| std::fs::read_link("/proc/thread-self/ns/net").expect("readlink"))
        .expect("run");
    assert_eq!(inside.to_string_lossy(), format!("net:[{}]", ns.ino()));
    let outside = std::fs::read_link("/proc/thread-self/ns/net").expect("readlink");
    assert_ne!(outside, inside, "the caller's thread stays where it was");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ns.run(|| panic!("boom")).ok();
    }));
    assert!(panicked.is_err());

    // spawn
    let handle = ns.spawn(|| std::fs::read_link("/proc/thread-self/ns/net").expect("readlink"));
    assert_eq!(handle.join().expect("join"), inside);

    // command
    let out = ns
        .command("readlink")
        .arg("/proc/self/ns/net")
        .output()
        .expect("run readlink");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        inside.to_string_lossy()
    );

    // enter_current_thread on a throwaway thread
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter_current_thread().expect("setns");
            let now = std::fs::read_link("/proc/thread-self/ns/net").expect("readlink");
            assert_eq!(now, inside);
        });
    });

    drop(ns);
    assert!(!path.exists(), "{} removed on drop", path.display());
}

#[test]
fn veth_between_namespaces_carries_traffic() {
    let a = Netns::new().expect("netns a");
    let b = Netns::new().expect("netns b");
    let veth = Veth::new(&a, Some(&b)).expect("veth");
    assert!(veth.a_name().len() <= 15 && veth.b_name().len() <= 15);
    veth.add_addr_a("10.99.0.1/24").expect("addr a");
    veth.add_addr_b("10.99.0.2/24").expect("addr b");
    veth.add_addr_a("fd00:99::1/64").expect("addr6 a");
    veth.add_addr_b("fd00:99::2/64").expect("addr6 b");
    assert!(links(&a).contains(veth.a_name()));
    assert!(links(&b).contains(veth.b_name()));

    let server = TcpEcho::start(&b, "10.99.0.2:7000".parse().expect("addr"), "bee").expect("echo");
    let v6 = TcpEcho::start(&b, "[fd00:99::2]:7000".parse().expect("addr"), "bee6").expect("echo");
    let who = a
        .run(|| echo::tcp_who(server.local_addr(), TIMEOUT))
        .expect("run");
    assert_eq!(who.expect("who"), "bee");
    let who6 = a
        .run(|| echo::tcp_who(v6.local_addr(), TIMEOUT))
        .expect("run");
    assert_eq!(who6.expect("who6"), "bee6");

    let (a_name, b_name) = (veth.a_name().to_owned(), veth.b_name().to_owned());
    drop(veth);
    assert!(!links(&a).contains(&a_name));
    assert!(!links(&b).contains(&b_name));
    assert!(Veth::new(&a, Some(&b)).is_ok(), "names are never reused");
}

#[test]
fn veth_with_current_namespace_end_and_bridge() {
    let outer = Netns::new().expect("outer");
    let inner = Netns::new().expect("inner");
    // "Current namespace" = the creating thread's; use a namespace of our own
    // instead of the host's.
    outer
        .run(|| {
            let veth = Veth::new(&inner, None).expect("veth");
            assert!(links(&outer).contains(veth.b_name()));
            let bridge = Bridge::new(None).expect("bridge");
            bridge.attach(veth.b_name(), None).expect("attach");
            let show = outer
                .ip(&["-o", "link", "show", veth.b_name()])
                .expect("show");
            assert!(
                show.contains(&format!("master {}", bridge.name())),
                "{show}"
            );

            // A bridge elsewhere: the port is moved into its namespace.
            let other = Netns::new().expect("other");
            let far = Bridge::new(Some(&other)).expect("far bridge");
            let veth2 = Veth::new(&inner, None).expect("veth2");
            far.attach(veth2.b_name(), None).expect("attach far");
            assert!(!links(&outer).contains(veth2.b_name()));
            let show = other
                .ip(&["-o", "link", "show", veth2.b_name()])
                .expect("show");
            assert!(show.contains(&format!("master {}", far.name())), "{show}");

            let (bname, vname) = (bridge.name().to_owned(), veth.b_name().to_owned());
            drop(bridge);
            drop(veth);
            assert!(!links(&outer).contains(&bname));
            assert!(!links(&outer).contains(&vname));
            let far_name = far.name().to_owned();
            drop(veth2);
            drop(far);
            assert!(!links(&other).contains(&far_name));
        })
        .expect("run");
}

#[test]
fn echo_servers_on_loopback_and_port_zero() {
    let ns = Netns::new().expect("netns");
    let any: SocketAddr = (Ipv4Addr::LOCALHOST, 0).into();
    let tcp = TcpEcho::start(&ns, any, "lo-tcp").expect("tcp");
    let udp = berth_test_support::UdpEcho::start(&ns, any, "lo-udp").expect("udp");
    assert_ne!(tcp.local_addr().port(), 0);
    let (taddr, uaddr) = (tcp.local_addr(), udp.local_addr());
    let n = 200;
    ns.run(|| {
        for _ in 0..n {
            echo::tcp_rr_once(taddr, TIMEOUT).expect("rr");
        }
        let (id, from) = echo::udp_who(uaddr, TIMEOUT).expect("udp who");
        assert_eq!((id.as_str(), from), ("lo-udp", uaddr));
    })
    .expect("run");
    assert_eq!(tcp.accepted(), n);
    assert_eq!(udp.received(), 1);
    // Dropped servers close their sockets.
    drop(tcp);
    drop(udp);
    let after = ns.run(|| echo::tcp_who(taddr, TIMEOUT)).expect("run");
    assert!(after.is_err(), "server stopped on drop");
}
