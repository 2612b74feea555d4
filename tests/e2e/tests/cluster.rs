//! A 3-node cluster in network namespaces (berth_test_support::cluster):
//! a server in a namespace of its own, three nodes each with its agent,
//! containerd, pod bridge, socket LB on its own cgroup subtree, DNS
//! process, and the pod network across nodes (host-gw on the shared
//! underlay).
//!
//! - a client pod on every node resolves the Service by name and reaches
//!   the replicas on every node through its VIP (cross-node service
//!   traffic), and pods reach each other's addresses across nodes;
//! - a node cut off the underlay becomes NotReady, its endpoints leave,
//!   its pods are recreated on the others, and clients on the remaining
//!   nodes keep being answered; the link back, the node is Ready again and
//!   the cluster converges;
//! - a server restart (SIGKILL) fails no request.
//!
//! Needs root and what the agent needs (containerd, runc, busybox-static,
//! containernetworking-plugins).

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_local::demo;
use berth_test_support::cluster::{Cluster, ClusterConfig};

/// Only catches hangs: how long a change may take to show.
const CONVERGE: Duration = Duration::from_secs(180);
const NODES: usize = 3;

fn start() -> Cluster {
    common::require_root();
    let cfg = ClusterConfig {
        nodes: NODES,
        berth: common::berth_bin(),
        tag: "cluster".into(),
        underlay: "192.168.91.0/24".into(),
        server_args: vec![
            // A node failure shows in seconds, not minutes.
            "--node-monitor-grace-period=6s".into(),
            "--node-monitor-period=1s".into(),
            "--pod-eviction-timeout=2s".into(),
        ],
        agent_args: vec!["--node-lease-period=1s".into()],
    };
    let c = Cluster::start(cfg, CONVERGE).unwrap_or_else(|e| panic!("cluster: {e}"));
    let image = c.dir().join("busybox.oci.tar");
    let out = std::process::Command::new(common::berth_bin())
        .args(["image", "build", "--busybox", "--name", "busybox", "-o"])
        .arg(&image)
        .output()
        .expect("berth image build");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.import_image(&image).expect("import busybox");
    c
}

fn manifest_file(c: &Cluster) -> PathBuf {
    // The demo's web Deployment and Service, and a client pod per node.
    let mut m = demo::manifest();
    m = m[..m.rfind("---").expect("client part")].to_string();
    for i in 1..=NODES {
        m.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: client-{i}\n  namespace: default\nspec:\n  nodeName: node-{i}\n  containers:\n  - name: client\n    image: busybox\n    command: [\"sleep\", \"infinity\"]\n  tolerations:\n  - key: node.kubernetes.io/unreachable\n    operator: Exists\n    effect: NoExecute\n  - key: node.kubernetes.io/not-ready\n    operator: Exists\n    effect: NoExecute\n"
        ));
    }
    let f = c.dir().join("app.yaml");
    std::fs::write(&f, m).expect("write manifest");
    f
}

/// Polls `check` until it returns Some, or panics with the last state.
fn until<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + CONVERGE;
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) => {
                assert!(
                    Instant::now() < deadline,
                    "{what}: not within {CONVERGE:?}; last: {last}"
                );
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }
}

/// `(name, node)` of the web pods that are Running and Ready.
fn web_pods(c: &Cluster) -> Vec<(String, String)> {
    let out = c.cli_ok(&["get", "pods", "-o", "wide"]).unwrap_or_default();
    out.lines()
        .filter(|l| l.starts_with("web-"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&"1/1") && f.get(2) == Some(&"Running"))
                .then(|| (f[0].to_string(), f.get(5).unwrap_or(&"").to_string()))
        })
        .collect()
}

/// The source address a TCP server outside the cluster (the API server's
/// namespace) sees for a connection from client-`i`.
fn seen_outside(c: &Cluster, i: usize) -> String {
    use std::io::Write as _;
    let addr = std::net::SocketAddr::new(c.server_ip().into(), 7070);
    let listener = c
        .server_netns()
        .run(|| std::net::TcpListener::bind(addr))
        .expect("enter the server netns")
        .expect("bind 7070");
    listener.set_nonblocking(true).expect("nonblocking");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let server = std::thread::spawn(move || {
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut s, peer)) => {
                    let _ = s.write_all(format!("{}\n", peer.ip()).as_bytes());
                    return Some(peer.ip().to_string());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        None
    });
    let out = c
        .exec(
            i,
            &format!("client-{i}"),
            &["sh", "-c", &format!("sleep 2 | nc -w 3 {} 7070", addr.ip())],
        )
        .expect("exec nc");
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let accepted = server.join().expect("server thread");
    assert!(
        !printed.is_empty(),
        "client-{i} got no answer from {addr} (accepted from {accepted:?}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    printed
}

/// The request loop from client-`i`: answers by pod.
fn spread_from(c: &Cluster, i: usize, n: usize) -> demo::Spread {
    let out = c
        .exec(
            i,
            &format!("client-{i}"),
            &["sh", "-c", &demo::request_loop(n, "cluster.local")],
        )
        .expect("exec");
    demo::Spread::parse(&String::from_utf8_lossy(&out.stdout))
}

#[test]
fn three_nodes_serve_across_nodes_and_survive_a_node_failure() {
    let mut c = start();
    let f = manifest_file(&c);
    c.cli_ok(&["apply", "-f", &f.to_string_lossy()])
        .expect("apply");

    // Every replica Running and Ready; the clients too.
    let pods = until("3 web pods Ready", || {
        let p = web_pods(&c);
        if p.len() == demo::REPLICAS {
            Ok(p)
        } else {
            Err(format!("{p:?}"))
        }
    });
    let nodes: BTreeSet<&str> = pods.iter().map(|(_, n)| n.as_str()).collect();
    eprintln!("web pods: {pods:?}");
    for i in 1..=NODES {
        until(&format!("client-{i} runs"), || {
            let out = c
                .exec(i, &format!("client-{i}"), &["true"])
                .map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        });
    }

    // DNS from every node, and the VIP reaching every replica from every node.
    let fqdn = demo::service_fqdn("cluster.local");
    for i in 1..=NODES {
        let out = c
            .exec(i, &format!("client-{i}"), &["nslookup", &fqdn])
            .expect("exec");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("Address: 10.96."),
            "node-{i} nslookup: {text}"
        );
        let s = until(&format!("all replicas answer client-{i}"), || {
            let s = spread_from(&c, i, 30);
            if s.failed == 0 && s.by_pod.len() == demo::REPLICAS {
                Ok(s)
            } else {
                Err(format!("{s:?}"))
            }
        });
        eprintln!("client-{i} (node-{i}): {s:?}");
    }
    // Pods fit the overlay a peer may be reached over: underlay 1500 - 50.
    let mtu = c
        .exec(1, "client-1", &["cat", "/sys/class/net/eth0/mtu"])
        .expect("exec");
    assert_eq!(String::from_utf8_lossy(&mtu.stdout).trim(), "1450");
    // Each node routes the others' pod CIDRs (host-gw: one shared subnet).
    for i in 1..=NODES {
        let routes = c
            .node_netns(i)
            .ip(&["-4", "route", "show", "proto", "195"])
            .expect("routes");
        assert_eq!(routes.lines().count(), NODES - 1, "node-{i}: {routes}");
        assert!(
            routes
                .lines()
                .all(|l| l.starts_with("10.244.") && l.contains(" via 192.168.91.")),
            "node-{i}: {routes}"
        );
    }
    // Traffic leaving the cluster is masqueraded: a server outside the pod
    // network (in the API server's namespace, which has no route to the
    // pod CIDRs) sees node-1's address and its answer comes back.
    let seen = seen_outside(&c, 1);
    assert_eq!(
        seen,
        c.node(1).ip.to_string(),
        "source seen outside the cluster"
    );
    // Replicas on more than one node: each client's answers crossed nodes.
    assert!(nodes.len() > 1, "the replicas all landed on {nodes:?}");
    eprintln!("replicas on nodes {nodes:?}");

    // A server restart changes nothing for traffic: requests keep being
    // answered while it is down and after it is back.
    let during = c
        .exec_command(
            1,
            "client-1",
            &["sh", "-c", &demo::request_loop(60, "cluster.local")],
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("request loop");
    std::thread::sleep(Duration::from_millis(300));
    c.restart_server(CONVERGE).expect("server restart");
    let out = during.wait_with_output().expect("request loop");
    let during = demo::Spread::parse(&String::from_utf8_lossy(&out.stdout));
    assert!(
        during.failed == 0 && during.by_pod.values().sum::<usize>() == 60,
        "across the server restart: {during:?}"
    );
    eprintln!("client-1 across the server restart: {during:?}");
    let s = spread_from(&c, 2, 30);
    assert!(
        s.failed == 0 && s.by_pod.len() == demo::REPLICAS,
        "after the server restart: {s:?}"
    );

    // Node 3 cut off: NotReady, its replicas replaced, clients on 1 and 2 answered.
    c.set_link(3, false).expect("link down");
    until("node-3 NotReady", || {
        let out = c.cli_ok(&["get", "nodes"]).map_err(|e| e.to_string())?;
        let line = out
            .lines()
            .find(|l| l.starts_with("node-3"))
            .unwrap_or("")
            .to_string();
        if line.split_whitespace().nth(1).is_some_and(|s| s != "Ready") {
            Ok(())
        } else {
            Err(out)
        }
    });
    let after = until("3 web pods Ready on nodes 1 and 2", || {
        let p = web_pods(&c);
        if p.len() == demo::REPLICAS && p.iter().all(|(_, n)| n != "node-3") {
            Ok(p)
        } else {
            Err(format!("{p:?}"))
        }
    });
    eprintln!("after node-3 failed: {after:?}");
    for i in 1..=2 {
        let s = until(&format!("client-{i} answered by the new set"), || {
            let s = spread_from(&c, i, 30);
            let names: BTreeSet<&String> = s.by_pod.keys().collect();
            let now = web_pods(&c);
            let want: BTreeSet<&String> = now.iter().map(|(n, _)| n).collect();
            if s.failed == 0 && names == want && now.iter().all(|(_, n)| n != "node-3") {
                Ok(s)
            } else {
                Err(format!("{s:?} vs {now:?}"))
            }
        });
        eprintln!("client-{i} after the failure: {s:?}");
    }

    // The partition heals: node 3 Ready again; its client (which
    // tolerates the node's taints, so it stayed) is served there.
    c.set_link(3, true).expect("link up");
    c.wait_ready(CONVERGE).expect("node-3 Ready again");
    c.cli_ok(&["apply", "-f", &f.to_string_lossy()])
        .expect("apply again");
    until("client-3 served again", || {
        let s = spread_from(&c, 3, 10);
        if s.failed == 0 && !s.by_pod.is_empty() {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    });
    // An agent restart changes nothing for its pods.
    c.kill_agent(3);
    c.start_agent(3).expect("agent again");
    c.wait_ready(CONVERGE)
        .expect("all Ready after the agent restart");
    let s = spread_from(&c, 3, 10);
    assert_eq!(s.failed, 0, "{s:?}");
}
