//! The plugin against real network namespaces (needs root): a "node"
//! namespace holds the bridge, "pod" namespaces get the veth ends.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use berth_test_support::{Netns, TcpEcho, echo};
use common::{conf, invoke};
use serde_json::json;

fn reservations(dir: &std::path::Path, network: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join(network))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn add_check_del_gives_a_working_pod_and_removes_everything() {
    let node = Netns::new().expect("node netns");
    let pod = Netns::new().expect("pod netns");
    let data = tempfile::tempdir().expect("tempdir");
    let c = conf("t-add", data.path(), json!([[{"subnet": "10.250.1.0/24"}]]));

    let add = invoke(&node, "ADD", "pod-a", Some(pod.path()), "eth0", &c).ok();
    let r = add.json();
    assert_eq!(r["cniVersion"], "1.0.0");
    assert_eq!(r["ips"][0]["address"], "10.250.1.2/24");
    assert_eq!(r["ips"][0]["gateway"], "10.250.1.1");
    assert_eq!(r["ips"][0]["interface"], 2);
    assert!(r["ips"][0].get("version").is_none());
    assert_eq!(r["interfaces"][0]["name"], "br0");
    assert_eq!(r["interfaces"][2]["name"], "eth0");
    assert_eq!(
        r["interfaces"][2]["sandbox"],
        pod.path().display().to_string()
    );
    assert!(
        r["interfaces"][2]["mac"]
            .as_str()
            .is_some_and(|m| m.len() == 17)
    );
    assert_eq!(r["routes"], json!([{"dst": "0.0.0.0/0"}]));
    assert_eq!(r["dns"], json!({}));
    let host_veth = r["interfaces"][1]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // The pod reaches a TCP server on the gateway address (on the bridge, in the node).
    let gw: SocketAddr = "10.250.1.1:7001".parse().expect("addr");
    let _server = TcpEcho::start(&node, gw, "gateway").expect("echo on gateway");
    let who = pod
        .run(|| echo::tcp_who(gw, Duration::from_secs(3)))
        .expect("run in pod");
    assert_eq!(who.expect("tcp to gateway"), "gateway");
    let pod_links = pod.ip(&["-o", "link", "show", "eth0"]).expect("ip link");
    assert!(pod_links.contains("mtu 1400"), "{pod_links}");
    let route = pod.ip(&["route", "show", "default"]).expect("ip route");
    assert!(route.contains("via 10.250.1.1"), "{route}");

    invoke(&node, "CHECK", "pod-a", Some(pod.path()), "eth0", &c).ok();

    invoke(&node, "DEL", "pod-a", Some(pod.path()), "eth0", &c).ok();
    assert!(
        pod.ip(&["link", "show", "eth0"]).is_err(),
        "eth0 still in pod"
    );
    assert!(
        node.ip(&["link", "show", &host_veth]).is_err(),
        "host veth left behind"
    );
    assert!(reservations(data.path(), "t-add").is_empty());
    // DEL twice succeeds.
    invoke(&node, "DEL", "pod-a", Some(pod.path()), "eth0", &c).ok();
    // CHECK after DEL fails.
    let check = invoke(&node, "CHECK", "pod-a", Some(pod.path()), "eth0", &c);
    assert_eq!(check.err_code(), 101, "{}", check.stdout);
}

#[test]
fn dual_stack_pods_reach_gateways_and_each_other_with_hairpin_on() {
    let node = Netns::new().expect("node netns");
    let (pod_a, pod_b) = (Netns::new().expect("pod a"), Netns::new().expect("pod b"));
    let data = tempfile::tempdir().expect("tempdir");
    let mut c = conf(
        "t-dual",
        data.path(),
        json!([[{"subnet": "10.250.2.0/24"}], [{"subnet": "fd00:250:2::/64"}]]),
    );
    c["ipam"]["routes"] = json!([{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]);
    c["cniVersion"] = json!("0.4.0");

    let a = invoke(&node, "ADD", "pod-a", Some(pod_a.path()), "eth0", &c)
        .ok()
        .json();
    let b = invoke(&node, "ADD", "pod-b", Some(pod_b.path()), "eth0", &c)
        .ok()
        .json();
    assert_eq!(a["cniVersion"], "0.4.0");
    assert_eq!(a["ips"][0]["version"], "4");
    assert_eq!(a["ips"][1]["version"], "6");
    assert_eq!(a["ips"][1]["address"], "fd00:250:2::2/64");
    assert_eq!(b["ips"][0]["address"], "10.250.2.3/24");
    assert_eq!(b["ips"][1]["address"], "fd00:250:2::3/64");
    let veth_a = a["interfaces"][1]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let details = node
        .ip(&["-d", "link", "show", &veth_a])
        .expect("ip -d link");
    assert!(details.contains("hairpin on"), "{details}");
    assert!(details.contains("master br0"), "{details}");

    for (gw, id) in [("10.250.2.1:7002", "gw4"), ("[fd00:250:2::1]:7002", "gw6")] {
        let gw: SocketAddr = gw.parse().expect("addr");
        let _s = TcpEcho::start(&node, gw, id).expect("echo");
        let who = pod_a
            .run(|| echo::tcp_who(gw, Duration::from_secs(3)))
            .expect("run");
        assert_eq!(who.expect("tcp to gateway"), id);
    }
    for (dst, id) in [("10.250.2.3:7003", "b4"), ("[fd00:250:2::3]:7003", "b6")] {
        let dst: SocketAddr = dst.parse().expect("addr");
        let _s = TcpEcho::start(&pod_b, dst, id).expect("echo in pod b");
        let who = pod_a
            .run(|| echo::tcp_who(dst, Duration::from_secs(3)))
            .expect("run");
        assert_eq!(who.expect("pod a to pod b"), id);
    }
    invoke(&node, "CHECK", "pod-a", Some(pod_a.path()), "eth0", &c).ok();
    invoke(&node, "DEL", "pod-a", Some(pod_a.path()), "eth0", &c).ok();
    invoke(&node, "DEL", "pod-b", Some(pod_b.path()), "eth0", &c).ok();
    assert!(reservations(data.path(), "t-dual").is_empty());
}

#[test]
fn del_with_the_netns_gone_frees_the_address() {
    let node = Netns::new().expect("node netns");
    let data = tempfile::tempdir().expect("tempdir");
    let c = conf(
        "t-gone",
        data.path(),
        json!([[{"subnet": "10.250.3.0/24"}]]),
    );
    let pod = Netns::new().expect("pod netns");
    let path = pod.path().to_path_buf();
    let r = invoke(&node, "ADD", "pod-gone", Some(&path), "eth0", &c)
        .ok()
        .json();
    let host_veth = r["interfaces"][1]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(reservations(data.path(), "t-gone"), ["10.250.3.2"]);
    drop(pod);
    assert!(!path.exists());
    invoke(&node, "DEL", "pod-gone", Some(&path), "eth0", &c).ok();
    assert!(reservations(data.path(), "t-gone").is_empty());
    assert!(
        node.ip(&["link", "show", &host_veth]).is_err(),
        "host veth left behind"
    );
    // Without CNI_NETNS at all, too.
    invoke(&node, "DEL", "pod-gone", None, "eth0", &c).ok();
}

#[test]
fn failed_add_removes_the_veth_and_the_reservation() {
    let node = Netns::new().expect("node netns");
    let pod = Netns::new().expect("pod netns");
    let data = tempfile::tempdir().expect("tempdir");
    let c = conf(
        "t-fail",
        data.path(),
        json!([[{"subnet": "10.250.4.0/24"}]]),
    );
    // The interface name is taken inside the pod: creating the veth fails.
    pod.ip(&["link", "add", "eth0", "type", "bridge"])
        .expect("eth0 taken by a bridge");
    let out = invoke(&node, "ADD", "pod-f", Some(pod.path()), "eth0", &c);
    assert_eq!(out.err_code(), 102, "{}", out.stdout);
    assert!(out.msg().contains("create veth"), "{}", out.msg());
    assert!(reservations(data.path(), "t-fail").is_empty());
    let links = node.ip(&["-o", "link", "show"]).expect("ip link");
    assert!(!links.contains("veth"), "{links}");
    // The name is free again: ADD works (round-robin: the next address).
    pod.ip(&["link", "del", "eth0"]).expect("del the squatter");
    let r = invoke(&node, "ADD", "pod-f", Some(pod.path()), "eth0", &c)
        .ok()
        .json();
    assert_eq!(r["ips"][0]["address"], "10.250.4.3/24");
    // A repeated ADD is refused and leaves the first one intact.
    let again = invoke(&node, "ADD", "pod-f", Some(pod.path()), "eth0", &c);
    assert_eq!(again.err_code(), 100, "{}", again.stdout);
    invoke(&node, "CHECK", "pod-f", Some(pod.path()), "eth0", &c).ok();
    invoke(&node, "DEL", "pod-f", Some(pod.path()), "eth0", &c).ok();
}

#[test]
fn gc_frees_stale_attachments_and_their_veths() {
    let node = Netns::new().expect("node netns");
    let data = tempfile::tempdir().expect("tempdir");
    let mut c = conf("t-gc", data.path(), json!([[{"subnet": "10.250.5.0/24"}]]));
    c["cniVersion"] = json!("1.1.0");
    let pods: Vec<Netns> = (0..3).map(|_| Netns::new().expect("pod")).collect();
    let mut veths = Vec::new();
    for (i, p) in pods.iter().enumerate() {
        let r = invoke(&node, "ADD", &format!("c{i}"), Some(p.path()), "eth0", &c)
            .ok()
            .json();
        veths.push(
            r["interfaces"][1]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    c["cni.dev/valid-attachments"] = json!([{"containerID": "c1", "ifname": "eth0"}]);
    invoke(&node, "GC", "", None, "", &c).ok();
    assert_eq!(reservations(data.path(), "t-gc"), ["10.250.5.3"]);
    assert!(node.ip(&["link", "show", &veths[0]]).is_err());
    assert!(node.ip(&["link", "show", &veths[1]]).is_ok());
    assert!(node.ip(&["link", "show", &veths[2]]).is_err());
    invoke(&node, "CHECK", "c1", Some(pods[1].path()), "eth0", &c).ok();
    // STATUS is fine while addresses are left.
    invoke(&node, "STATUS", "", None, "", &c).ok();
}

#[test]
fn forty_pods_eight_at_a_time_get_unique_addresses_and_leave_nothing() {
    let node = Netns::new().expect("node netns");
    let data = tempfile::tempdir().expect("tempdir");
    let c = conf(
        "t-many",
        data.path(),
        json!([[{"subnet": "10.250.6.0/24"}]]),
    );
    let pods: Vec<Netns> = (0..40).map(|_| Netns::new().expect("pod")).collect();
    let addrs = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..8 {
            let (pods, node, c, addrs) = (&pods, &node, &c, &addrs);
            s.spawn(move || {
                for (i, p) in pods.iter().enumerate().filter(|(i, _)| i % 8 == t) {
                    let r = invoke(node, "ADD", &format!("m{i}"), Some(p.path()), "eth0", c)
                        .ok()
                        .json();
                    let ip = r["ips"][0]["address"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    addrs.lock().unwrap_or_else(|e| e.into_inner()).push(ip);
                }
            });
        }
    });
    let mut addrs = addrs.into_inner().unwrap_or_else(|e| e.into_inner());
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 40);
    assert_eq!(reservations(data.path(), "t-many").len(), 40);
    std::thread::scope(|s| {
        for t in 0..8 {
            let (pods, node, c) = (&pods, &node, &c);
            s.spawn(move || {
                for (i, p) in pods.iter().enumerate().filter(|(i, _)| i % 8 == t) {
                    invoke(node, "DEL", &format!("m{i}"), Some(p.path()), "eth0", c).ok();
                }
            });
        }
    });
    assert!(reservations(data.path(), "t-many").is_empty());
    let links = node.ip(&["-o", "link", "show"]).expect("ip link");
    assert!(!links.contains("veth"), "{links}");
}

/// Exactly as a runtime does it: a separate process, `CNI_*` variables,
/// the configuration on stdin, the result on stdout.
#[test]
fn the_binary_as_a_runtime_invokes_it() {
    use std::io::Write;
    use std::process::Stdio;

    let node = Netns::new().expect("node netns");
    let pod = Netns::new().expect("pod netns");
    let data = tempfile::tempdir().expect("tempdir");
    let c = conf("t-bin", data.path(), json!([[{"subnet": "10.250.7.0/24"}]]));
    let call = |command: &str| {
        let mut child = node
            .command(env!("CARGO_BIN_EXE_cni-plugin"))
            .env_clear()
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", "bin-1")
            .env("CNI_NETNS", pod.path())
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", "/opt/cni/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth-cni");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(c.to_string().as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, stdout) = call("ADD");
    assert!(ok, "{stdout}");
    let r: serde_json::Value = serde_json::from_str(&stdout).expect("result JSON");
    assert_eq!(r["ips"][0]["address"], "10.250.7.2/24");
    let (ok, stdout) = call("CHECK");
    assert!(ok && stdout.is_empty(), "{stdout}");
    let (ok, stdout) = call("DEL");
    assert!(ok && stdout.is_empty(), "{stdout}");
    let (ok, stdout) = call("BOGUS");
    assert!(!ok);
    let e: serde_json::Value = serde_json::from_str(&stdout).expect("error JSON");
    assert_eq!(e["code"], 4);
    assert_eq!(e["cniVersion"], "1.0.0");
}

#[test]
fn the_bridge_keeps_its_own_mac_whatever_ports_come_and_go() {
    let node = Netns::new().expect("node netns");
    let data = tempfile::tempdir().expect("tempdir");
    let c = conf("t-mac", data.path(), json!([[{"subnet": "10.250.7.0/24"}]]));
    let pods: Vec<Netns> = (0..6).map(|_| Netns::new().expect("pod netns")).collect();
    let mut port_macs = Vec::new();
    let mut bridge_macs = Vec::new();
    for (i, p) in pods.iter().enumerate() {
        let r = invoke(&node, "ADD", &format!("m{i}"), Some(p.path()), "eth0", &c)
            .ok()
            .json();
        bridge_macs.push(
            r["interfaces"][0]["mac"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        port_macs.push(
            r["interfaces"][1]["mac"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let first = bridge_macs[0].clone();
    assert!(first.starts_with("02:"), "locally administered: {first}");
    assert!(bridge_macs.iter().all(|m| *m == first), "{bridge_macs:?}");
    assert!(
        !port_macs.contains(&first),
        "the bridge follows a port's MAC: {first} in {port_macs:?}"
    );
    for (i, p) in pods.iter().enumerate().take(5) {
        invoke(&node, "DEL", &format!("m{i}"), Some(p.path()), "eth0", &c).ok();
    }
    let shown = node.ip(&["-o", "link", "show", "br0"]).expect("br0");
    assert!(
        shown.contains(&first),
        "bridge MAC changed after DELs: {shown}"
    );
    invoke(&node, "DEL", "m5", Some(pods[5].path()), "eth0", &c).ok();
}
