//! The LAN topology with echo servers (needs root).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use berth_test_support::echo::{self, TcpEcho, UdpEcho};
use berth_test_support::{Host, Lan};

/// Only to catch hangs.
const TIMEOUT: Duration = Duration::from_secs(10);

fn addrs(host: &Host, port: u16) -> Vec<SocketAddr> {
    let mut v = vec![SocketAddr::new(IpAddr::V4(host.ipv4), port)];
    if let Some(v6) = host.ipv6 {
        v.push(SocketAddr::new(IpAddr::V6(v6), port));
    }
    v
}

#[test]
fn three_hosts_reach_each_other_over_v4_and_v6() {
    let lan = Lan::new(3, "10.244.7.0/24", Some("fd00:10:244:7::/64")).expect("lan");
    let hosts = lan.hosts();
    assert_eq!(hosts.len(), 3);
    assert_eq!(hosts[0].ipv4.to_string(), "10.244.7.1");
    assert_eq!(hosts[2].ipv4.to_string(), "10.244.7.3");
    assert_eq!(
        hosts[1].ipv6.map(|a| a.to_string()).as_deref(),
        Some("fd00:10:244:7::2")
    );
    let no_tentative = hosts[0]
        .netns
        .ip(&["-6", "addr", "show", "tentative"])
        .expect("ip addr");
    assert!(no_tentative.trim().is_empty(), "{no_tentative}");

    let mut servers = Vec::new();
    for (i, host) in hosts.iter().enumerate().skip(1) {
        for addr in addrs(host, 8080) {
            let id = format!("host{i}-{}", if addr.is_ipv4() { 4 } else { 6 });
            let tcp = TcpEcho::start(&host.netns, addr, &id).expect("tcp echo");
            let udp = UdpEcho::start(&host.netns, addr, &id).expect("udp echo");
            servers.push((addr, id, tcp, udp));
        }
    }
    assert_eq!(servers.len(), 4);

    hosts[0]
        .netns
        .run(|| {
            for (addr, id, _, _) in &servers {
                assert_eq!(&echo::tcp_who(*addr, TIMEOUT).expect("tcp who"), id);
                let rtt = echo::tcp_rr_once(*addr, TIMEOUT).expect("rr");
                assert!(rtt < TIMEOUT);
                let (reply, from) = echo::udp_who(*addr, TIMEOUT).expect("udp who");
                assert_eq!(&reply, id);
                assert_eq!(from, *addr, "reply comes from the server's address");
            }
        })
        .expect("run in host 0");
    for (addr, _, tcp, udp) in &servers {
        assert_eq!(tcp.accepted(), 2, "{addr}");
        assert_eq!(udp.received(), 1, "{addr}");
    }

    // Host 2 reaches host 3 as well.
    let target = servers[2].0;
    let who = hosts[1]
        .netns
        .run(|| echo::tcp_who(target, TIMEOUT))
        .expect("run in host 1");
    assert_eq!(who.expect("who"), "host2-4");

    drop(servers);
    let paths: Vec<_> = hosts
        .iter()
        .map(|h| h.netns.path().to_owned())
        .chain([lan.router().path().to_owned()])
        .collect();
    drop(lan);
    for p in paths {
        assert!(!p.exists(), "{} removed", p.display());
    }
}

#[test]
fn ipv4_only_lan_with_many_connections() {
    let lan = Lan::new(2, "10.244.8.0/24", None).expect("lan");
    assert!(lan.hosts()[0].ipv6.is_none());
    let server_addr = SocketAddr::new(IpAddr::V4(lan.hosts()[1].ipv4), 9000);
    let server = TcpEcho::start(&lan.hosts()[1].netns, server_addr, "srv").expect("echo");
    let n = 2000;
    let started = Instant::now();
    lan.hosts()[0]
        .netns
        .run(|| {
            for _ in 0..n {
                echo::tcp_rr_once(server_addr, TIMEOUT).expect("rr");
            }
        })
        .expect("run");
    let elapsed = started.elapsed();
    assert_eq!(server.accepted(), n);
    eprintln!("{n} TCP round trips in {elapsed:?}");
}

#[test]
fn lan_creation_is_fast() {
    let started = Instant::now();
    let lan = Lan::new(4, "10.244.9.0/24", Some("fd00:10:244:9::/64")).expect("lan");
    let elapsed = started.elapsed();
    eprintln!("4-host LAN created in {elapsed:?}");
    assert_eq!(lan.hosts().len(), 4);
    // Generous: only catches something pathological (e.g. waiting for DAD).
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn bad_subnets_are_rejected() {
    assert!(Lan::new(3, "10.0.0.0/30", None).is_err());
    assert!(Lan::new(1, "nonsense", None).is_err());
    assert!(Lan::new(1, "10.0.0.0/24", Some("fd00::/127")).is_err());
}
