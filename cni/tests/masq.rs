//! `ipMasq: true`: one tagged masquerade rule per address in the node's
//! `berth-cni` tables, gone after DEL and after GC (needs root).

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use berth_cni::net::masq::{self, Family, MasqRule};
use berth_test_support::{Netns, Veth};
use common::{conf, invoke};
use serde_json::json;

fn rules(node: &Netns, family: Family) -> Vec<MasqRule> {
    node.run(|| masq::list(family))
        .expect("run in node")
        .expect("list masquerade rules")
}

fn tagged(node: &Netns, family: Family, tag: &str) -> usize {
    rules(node, family)
        .iter()
        .filter(|r| r.comment.as_deref() == Some(tag))
        .count()
}

/// Whether the `nft` binary is installed (the tests use it, when present,
/// only to see the rules as nftables prints them).
fn nft_available() -> bool {
    std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `nft list table FAMILY berth-cni` in the node, when the `nft` binary is
/// installed (only to show the rule as nftables prints it).
fn nft_listing(node: &Netns, family: &str) -> Option<String> {
    let out = node
        .command("nft")
        .args(["list", "table", family, "berth-cni"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn add_installs_a_tagged_masquerade_rule_per_address_and_del_removes_exactly_it() {
    let node = Netns::new().expect("node netns");
    let (pod_a, pod_b) = (Netns::new().expect("pod a"), Netns::new().expect("pod b"));
    let data = tempfile::tempdir().expect("tempdir");
    let mut c = conf(
        "t-masq",
        data.path(),
        json!([[{"subnet": "10.250.20.0/24"}], [{"subnet": "fd00:250:20::/64"}]]),
    );
    c["ipMasq"] = json!(true);
    assert!(rules(&node, Family::Ipv4).is_empty());

    let a = invoke(&node, "ADD", "pod-a", Some(pod_a.path()), "eth0", &c).ok();
    invoke(&node, "ADD", "pod-b", Some(pod_b.path()), "eth0", &c).ok();
    assert_eq!(a.json()["ips"][0]["address"], "10.250.20.2/24");
    let tag_a = masq::tag("t-masq", "pod-a", "eth0");
    let tag_b = masq::tag("t-masq", "pod-b", "eth0");
    assert!(tag_a.ends_with(" pod-a/eth0"), "{tag_a}");
    for family in Family::ALL {
        assert_eq!(tagged(&node, family, &tag_a), 1, "{family:?}");
        assert_eq!(tagged(&node, family, &tag_b), 1, "{family:?}");
        assert_eq!(rules(&node, family).len(), 2, "{family:?}");
    }
    if nft_available() {
        let v4 = nft_listing(&node, "ip").expect("nft lists table ip berth-cni");
        assert!(
            v4.contains("type nat hook postrouting priority srcnat"),
            "{v4}"
        );
        assert!(
            v4.contains(
                "ip saddr 10.250.20.2 ip daddr != 10.250.20.0/24 ip daddr != 224.0.0.0/4 masquerade"
            ),
            "{v4}"
        );
        assert!(v4.contains(&format!("comment \"{tag_a}\"")), "{v4}");
        let v6 = nft_listing(&node, "ip6").expect("nft lists table ip6 berth-cni");
        assert!(
            v6.contains("ip6 saddr fd00:250:20::2 ip6 daddr != fd00:250:20::/64 ip6 daddr != ff00::/8 masquerade"),
            "{v6}"
        );
    }
    invoke(&node, "CHECK", "pod-a", Some(pod_a.path()), "eth0", &c).ok();

    invoke(&node, "DEL", "pod-a", Some(pod_a.path()), "eth0", &c).ok();
    for family in Family::ALL {
        assert_eq!(tagged(&node, family, &tag_a), 0, "{family:?}");
        assert_eq!(tagged(&node, family, &tag_b), 1, "{family:?}");
    }
    // DEL again (rules already gone) succeeds.
    invoke(&node, "DEL", "pod-a", Some(pod_a.path()), "eth0", &c).ok();

    // GC removes the rules of the attachments it frees.
    c["cni.dev/valid-attachments"] = json!([]);
    c["cniVersion"] = json!("1.1.0");
    invoke(&node, "GC", "", None, "", &c).ok();
    for family in Family::ALL {
        assert!(rules(&node, family).is_empty(), "{family:?}");
    }
}

#[test]
fn without_ip_masq_no_table_is_created() {
    let node = Netns::new().expect("node netns");
    let pod = Netns::new().expect("pod netns");
    let data = tempfile::tempdir().expect("tempdir");
    let c = conf(
        "t-nomasq",
        data.path(),
        json!([[{"subnet": "10.250.21.0/24"}]]),
    );
    invoke(&node, "ADD", "pod-a", Some(pod.path()), "eth0", &c).ok();
    assert!(rules(&node, Family::Ipv4).is_empty());
    assert!(nft_listing(&node, "ip").is_none());
    invoke(&node, "DEL", "pod-a", Some(pod.path()), "eth0", &c).ok();
}

/// Which address a TCP client in the pod appears from, seen by a server in
/// an "outside" namespace behind the node (192.0.2.0/24, a documentation
/// network that exists only inside the test's namespaces). The outside has
/// no route back to the pod CIDR: the connection only works when masqueraded.
fn seen_from_outside(c: &serde_json::Value) -> Result<SocketAddr, String> {
    seen_from(c, None)
}

/// The same; `route_back`, if given, is routed back to the pod through the
/// node (as another node of the cluster routes a pod CIDR).
fn seen_from(c: &serde_json::Value, route_back: Option<&str>) -> Result<SocketAddr, String> {
    let node = Netns::new().expect("node netns");
    let pod = Netns::new().expect("pod netns");
    let outside = Netns::new().expect("outside netns");
    let link = Veth::new(&outside, Some(&node)).expect("veth node-outside");
    link.add_addr_a("192.0.2.2/24").expect("outside address");
    link.add_addr_b("192.0.2.1/24").expect("node address");
    node.enable_ip_forward().expect("enable forwarding in node");
    if let Some(cidr) = route_back {
        outside
            .ip(&["route", "add", cidr, "via", "192.0.2.1"])
            .expect("route back");
    }
    invoke(&node, "ADD", "pod-a", Some(pod.path()), "eth0", c).ok();

    let server: SocketAddr = "192.0.2.2:7020".parse().expect("addr");
    let listener = outside
        .run(|| TcpListener::bind(server))
        .expect("run in outside")
        .expect("bind");
    let accepted = std::thread::spawn(move || listener.accept().map(|(_, peer)| peer));
    let connected = pod
        .run(|| TcpStream::connect_timeout(&server, Duration::from_secs(1)))
        .expect("run in pod");
    if connected.is_err() {
        // Unblock the accept thread so it can be joined.
        let _ = outside.run(|| TcpStream::connect(server));
    }
    let peer = accepted
        .join()
        .map_err(|_| "accept thread panicked".to_string());
    invoke(&node, "DEL", "pod-a", Some(pod.path()), "eth0", c).ok();
    connected.map_err(|e| e.to_string())?;
    peer?.map_err(|e| e.to_string())
}

#[test]
fn traffic_leaving_the_pod_cidr_is_masqueraded_to_the_node_address() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut c = conf(
        "t-masq-net",
        data.path(),
        json!([[{"subnet": "10.250.22.0/24"}]]),
    );
    c["ipMasq"] = json!(true);
    let seen = seen_from_outside(&c).expect("pod reaches the outside through masquerading");
    assert_eq!(seen.ip().to_string(), "192.0.2.1", "{seen}");

    // Without ipMasq the reply has no route back: no connection.
    c["ipMasq"] = json!(false);
    let seen = seen_from_outside(&c);
    assert!(seen.is_err(), "connected without masquerading: {seen:?}");
}

#[test]
fn non_masquerade_cidrs_are_reached_with_the_pods_own_address() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut c = conf(
        "t-masq-nonmasq",
        data.path(),
        json!([[{"subnet": "10.250.23.0/24"}]]),
    );
    c["ipMasq"] = json!(true);
    // The "outside" is part of the cluster here (as another node's pods
    // are): not masqueraded, answered through its route back.
    c["nonMasqueradeCIDRs"] = json!(["192.0.2.0/24", "fd00:10:244::/56"]);
    let seen = seen_from(&c, Some("10.250.23.0/24")).expect("pod reaches the cluster peer");
    assert!(
        seen.ip().to_string().starts_with("10.250.23."),
        "seen as {seen}, not the pod's own address"
    );
    // Still masqueraded to anything else: without the route back, only
    // masquerading could make the connection work, and it is not applied.
    let seen = seen_from(&c, None);
    assert!(
        seen.is_err(),
        "masqueraded to a non-masquerade CIDR: {seen:?}"
    );
}
