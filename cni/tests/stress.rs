//! The plugin binary invoked as a runtime invokes it (a process per call,
//! environment plus config on stdin), many at a time and killed half-way.
//! Everything runs inside the test's own node namespace.

mod common;

use std::{
    collections::BTreeSet,
    io::Write,
    net::IpAddr,
    path::Path,
    process::{Child, Stdio},
    sync::Mutex,
    time::Duration,
};

use berth_test_support::{Netns, cmd::in_netns_and_cgroup, name};
use serde_json::{Value, json};

const PLUGIN: &str = env!("CARGO_BIN_EXE_cni-plugin");

fn spawn(node: &Netns, command: &str, id: &str, pod: Option<&Path>, conf: &Value) -> Child {
    let mut cmd = in_netns_and_cgroup(PLUGIN, node, None).into_command();
    cmd.env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", id)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/opt/cni/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(p) = pod {
        cmd.env("CNI_NETNS", p);
    }
    let mut child = cmd.spawn().expect("spawn berth-cni");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(conf.to_string().as_bytes())
        .expect("write config");
    child
}

fn call(node: &Netns, command: &str, id: &str, pod: Option<&Path>, conf: &Value) -> Value {
    let out = spawn(node, command, id, pod, conf)
        .wait_with_output()
        .expect("berth-cni");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{command} {id} failed: {text}");
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON result")
    }
}

/// Addresses reserved in the IPAM data directory of network `net`.
fn reservations(data_dir: &Path, net: &str) -> Vec<String> {
    std::fs::read_dir(data_dir.join(net))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.parse::<IpAddr>().is_ok())
                .collect()
        })
        .unwrap_or_default()
}

fn veths(node: &Netns) -> String {
    node.ip(&["-o", "link", "show", "type", "veth"])
        .expect("ip link")
}

struct Setup {
    node: Netns,
    data: tempfile::TempDir,
    conf: Value,
    net: String,
}

fn setup(subnet: &str) -> Setup {
    let node = Netns::new().expect("node netns");
    let data = tempfile::tempdir().expect("data dir");
    let net = name::unique_long("net");
    let conf = common::conf(&net, data.path(), json!([[{ "subnet": subnet }]]));
    Setup {
        node,
        data,
        conf,
        net,
    }
}

#[test]
fn two_hundred_pods_eight_at_a_time_through_the_binary() {
    const PODS: usize = 200;
    const AT_ONCE: usize = 8;
    let s = setup("10.244.220.0/24");
    let pods: Vec<Netns> = (0..PODS)
        .map(|_| Netns::new().expect("pod netns"))
        .collect();
    let ips = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for w in 0..AT_ONCE {
            let (s, pods, ips) = (&s, &pods, &ips);
            scope.spawn(move || {
                for i in (w..PODS).step_by(AT_ONCE) {
                    let r = call(
                        &s.node,
                        "ADD",
                        &format!("pod-{i}"),
                        Some(pods[i].path()),
                        &s.conf,
                    );
                    let ip = r["ips"][0]["address"]
                        .as_str()
                        .expect("address")
                        .to_string();
                    ips.lock().expect("lock").push(ip);
                }
            });
        }
    });
    let ips = ips.into_inner().expect("lock");
    let unique: BTreeSet<&String> = ips.iter().collect();
    assert_eq!(unique.len(), PODS, "every pod has its own address");
    assert_eq!(reservations(s.data.path(), &s.net).len(), PODS);
    std::thread::scope(|scope| {
        for w in 0..AT_ONCE {
            let (s, pods) = (&s, &pods);
            scope.spawn(move || {
                for i in (w..PODS).step_by(AT_ONCE) {
                    call(
                        &s.node,
                        "DEL",
                        &format!("pod-{i}"),
                        Some(pods[i].path()),
                        &s.conf,
                    );
                }
            });
        }
    });
    assert!(reservations(s.data.path(), &s.net).is_empty());
    assert_eq!(veths(&s.node).trim(), "", "no veth left in the node");
}

#[test]
fn kill_9_in_the_middle_of_add_then_gc_leaks_nothing() {
    const ROUNDS: u64 = 40;
    let s = setup("10.244.221.0/24");
    let pods: Vec<Netns> = (0..ROUNDS)
        .map(|_| Netns::new().expect("pod netns"))
        .collect();
    let mut completed = 0;
    for i in 0..ROUNDS {
        let mut child = spawn(
            &s.node,
            "ADD",
            &format!("pod-{i}"),
            Some(pods[i as usize].path()),
            &s.conf,
        );
        // Spread the kills over the whole ADD (a few ms): 0 to 12 ms.
        std::thread::sleep(Duration::from_micros((i * 7_919) % 12_000));
        let _ = child.kill();
        let status = child.wait().expect("wait");
        if status.success() {
            completed += 1;
        }
    }
    assert!(
        completed < ROUNDS,
        "every ADD finished before its kill: the test killed nothing half-way"
    );
    eprintln!("{completed} of {ROUNDS} ADDs completed before their kill");
    // Nothing is valid any more: GC must free every reservation and veth.
    let mut gc = s.conf.clone();
    gc["cni.dev/valid-attachments"] = json!([]);
    call(&s.node, "GC", "", None, &gc);
    assert!(
        reservations(s.data.path(), &s.net).is_empty(),
        "leaked: {:?} ({completed} of {ROUNDS} ADDs completed before the kill)",
        reservations(s.data.path(), &s.net)
    );
    assert_eq!(veths(&s.node).trim(), "", "stray veths after GC");
    // And the pool works afterwards.
    let r = call(&s.node, "ADD", "after", Some(pods[0].path()), &s.conf);
    assert!(r["ips"][0]["address"].as_str().is_some());
    call(&s.node, "DEL", "after", Some(pods[0].path()), &s.conf);
}
