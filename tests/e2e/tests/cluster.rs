//! A dual-stack 3-node cluster in network namespaces
//! (berth_test_support::cluster): a server in a namespace of its own,
//! three nodes each with its agent, containerd, pod bridge, socket LB on
//! its own cgroup subtree, DNS process, and the pod network across nodes
//! (host-gw on the shared underlay, IPv4 and IPv6).
//!
//! - a client pod on every node resolves the Service by name and reaches
//!   the replicas on every node through its VIP (cross-node service
//!   traffic), and through an IPv6 Service's VIP: IPv6 pods reach each
//!   other across nodes;
//! - a server restart (SIGKILL) fails no request of a stream running
//!   across it;
//! - node 3 cut off the underlay, and later crashed (its agent,
//!   containerd, shims, DNS process and pods killed with -9): clients on
//!   nodes 1 and 2 keep sending through the VIP all along; it goes
//!   NotReady, its replica is replaced, and no request that starts after
//!   the clients' data planes dropped its endpoint fails (the window from
//!   the failure to the last failed request is printed as a figure);
//!   back, it is Ready and serves its client again;
//! - an agent restart changes nothing for its pods;
//! - each node joins with the bootstrap token and acts with a credential of
//!   its own, which lives 9 s (`--node-credential-ttl`, configuration, not
//!   a test hook): every agent rotates it (more than once) while its node
//!   stays Ready and serves, through the restarts and the crash above;
//!   `berth node revoke node-2` gets its calls refused, and it joins again
//!   with the bootstrap token.
//!
//! Needs root and what the agent needs (containerd, runc, busybox-static,
//! containernetworking-plugins).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_local::demo::{self, Timed};
use berth_test_support::cluster::{Cluster, ClusterConfig};
use common::podstream::{self, PodStream, uptime};

/// Only catches hangs: how long a change may take to show.
const CONVERGE: Duration = Duration::from_secs(180);
const NODES: usize = 3;
/// Requests each stream must see answered before and after each phase.
const STREAM_STEP: usize = 10;
/// How long a node credential lives in this cluster.
const CREDENTIAL_TTL: Duration = Duration::from_secs(9);
/// What an agent logs when it rotated its credential.
const ROTATED: &str = "node credential rotated";
/// What an agent logs when its credential was refused and it used the
/// bootstrap token.
const REJOINED: &str = "the node credential was refused: using the bootstrap token";

/// The IPv6-only Service in front of the same replicas.
const WEB6: &str = "web6";
/// The NodePort Service's node port.
const NODE_PORT: u16 = 30_080;

fn start() -> Cluster {
    common::require_root();
    let cfg = ClusterConfig {
        nodes: NODES,
        berth: common::berth_bin(),
        tag: "cluster".into(),
        underlay: "192.168.91.0/24".into(),
        underlay6: Some("fd00:192:168:91::/64".into()),
        server_args: vec![
            // A node failure shows in seconds, not minutes.
            "--node-monitor-grace-period=6s".into(),
            "--node-monitor-period=1s".into(),
            "--pod-eviction-timeout=2s".into(),
            // Rotated every 6 s, through everything the test does.
            format!("--node-credential-ttl={}s", CREDENTIAL_TTL.as_secs()),
        ],
        agent_args: vec![
            "--node-lease-period=1s".into(),
            // Node ports served on the underlay (the server's namespace
            // is the client outside the nodes).
            "--nodeport-devices={link}".into(),
        ],
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
    // The demo's web Deployment and Service, an IPv6 Service in front of
    // the same pods, and a client pod per node.
    let mut m = demo::manifest();
    m = m[..m.rfind("---").expect("client part")].to_string();
    m.push_str(&format!(
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {WEB6}\n  namespace: default\nspec:\n  ipFamilyPolicy: SingleStack\n  ipFamilies: [IPv6]\n  selector:\n    app: {}\n  ports:\n  - name: http\n    port: {}\n    targetPort: http\n",
        demo::SERVICE,
        demo::PORT
    ));
    m.push_str(&format!(
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web-np\n  namespace: default\nspec:\n  type: NodePort\n  selector:\n    app: {}\n  ports:\n  - name: http\n    port: {}\n    targetPort: http\n    nodePort: {NODE_PORT}\n",
        demo::SERVICE,
        demo::PORT
    ));
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

/// A web pod that is Running and Ready.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct WebPod {
    name: String,
    node: String,
    ip: String,
}

fn web_pods(c: &Cluster) -> Vec<WebPod> {
    let out = c.cli_ok(&["get", "pods", "-o", "wide"]).unwrap_or_default();
    out.lines()
        .filter(|l| l.starts_with("web-"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&"1/1") && f.get(2) == Some(&"Running")).then(|| WebPod {
                name: f[0].to_string(),
                ip: f.get(4).unwrap_or(&"").to_string(),
                node: f.get(5).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// A Service's cluster IP.
fn cluster_ip(c: &Cluster, service: &str) -> String {
    let out = c
        .cli_ok(&["get", "service", service, "-o", "json"])
        .expect("get service");
    let v: serde_json::Value = serde_json::from_str(&out).expect("service as JSON");
    v["spec"]["clusterIP"]
        .as_str()
        .expect("a cluster IP")
        .to_string()
}

/// The backend addresses node `i`'s data plane gives new connections to
/// `vip:80/TCP` (not those draining).
fn active_backends(c: &Cluster, i: usize, vip: &str) -> Result<Vec<String>, String> {
    let out = std::process::Command::new(common::berth_bin())
        .args(["dataplane", "list", "--bpffs"])
        .arg(&c.node(i).bpffs)
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{vip}:{}/TCP", demo::PORT)))
        .ok_or_else(|| format!("node-{i} has no frontend {vip}: {text}"))?;
    let list = line.split("  ").last().unwrap_or_default();
    Ok(list
        .split(", ")
        .filter_map(|b| {
            let f: Vec<&str> = b.split_whitespace().collect();
            // `#ID ADDR:PORT CONNS [wN]`; a state word after means not
            // active (terminating, ...).
            let active = f.len() == 3 || (f.len() == 4 && f[3].starts_with('w'));
            (f.first().is_some_and(|id| id.starts_with('#')) && active)
                .then(|| {
                    f[1].rsplit_once(':')
                        .map(|(a, _)| a.trim_matches(['[', ']']).to_string())
                })
                .flatten()
        })
        .collect())
}

/// `berth exec` in client-`i`, as a [`PodStream`]'s exec.
fn client_exec(c: &Cluster, i: usize) -> impl Fn(&[&str]) -> std::process::Output + '_ {
    move |args: &[&str]| c.exec(i, &format!("client-{i}"), args).expect("berth exec")
}

/// The request loop from client-`i` to `target` (`HOST PORT`): answers by
/// pod.
fn spread_from(c: &Cluster, i: usize, n: usize, target: &str) -> demo::Spread {
    let out = c
        .exec(
            i,
            &format!("client-{i}"),
            &["sh", "-c", &demo::request_loop_to(n, target)],
        )
        .expect("exec");
    demo::Spread::parse(&String::from_utf8_lossy(&out.stdout))
}

fn web_target() -> String {
    format!("{} {}", demo::service_fqdn("cluster.local"), demo::PORT)
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
    let server = std::thread::spawn(move || {
        // Blocks until the client connects (the exec below), or the
        // listener is closed with the test.
        let (mut s, peer) = listener.accept().ok()?;
        let _ = s.write_all(format!("{}\n", peer.ip()).as_bytes());
        Some(peer.ip().to_string())
    });
    let out = c
        .exec(
            i,
            &format!("client-{i}"),
            &[
                "sh",
                "-c",
                &format!("nc -w 3 {} 7070 < /dev/null", addr.ip()),
            ],
        )
        .expect("exec nc");
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !printed.is_empty(),
        "client-{i} got no answer from {addr}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let accepted = server.join().expect("server thread");
    assert_eq!(accepted.as_deref(), Some(printed.as_str()));
    printed
}

#[test]
fn three_dual_stack_nodes_serve_across_nodes_and_survive_a_cut_and_a_crash() {
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
    let nodes: BTreeSet<&str> = pods.iter().map(|p| p.node.as_str()).collect();
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

    serves_both_families_across_nodes(&c);
    // Replicas on every node: each client's answers crossed nodes, and
    // node 3's failures below take a replica with them.
    assert_eq!(nodes.len(), NODES, "the replicas landed on {nodes:?}");
    node_ports_serve_from_outside(&c, &pods);

    survives_a_server_restart(&mut c);

    // Node 3 cut off the underlay.
    let vip = cluster_ip(&c, demo::SERVICE);
    failover(&mut c, "cut off", &vip, demo::REPLICAS, |c| {
        c.set_link(3, false).expect("link down")
    });
    // The partition heals: node 3 Ready again; its client (which
    // tolerates the node's taints, so it stayed) is served there.
    c.set_link(3, true).expect("link up");
    c.wait_ready(CONVERGE).expect("node-3 Ready again");
    served_on(&c, 3);

    // A replica on node 3 again (the scheduler spreads the set), then a
    // real crash of node 3.
    c.cli_ok(&["scale", "deploy/web", "--replicas", "4"])
        .expect("scale");
    until("a fourth replica Ready, on node-3", || {
        let p = web_pods(&c);
        if p.len() == 4 && p.iter().any(|w| w.node == "node-3") {
            Ok(())
        } else {
            Err(format!("{p:?}"))
        }
    });
    failover(&mut c, "crashed", &vip, 4, |c| {
        let killed = c.crash_node(3).expect("crash node-3");
        eprintln!("node-3 crashed: {killed} processes killed with -9");
    });
    // Booted again: the agent starts containerd, which finds its shims and
    // pods gone; client-3 gets a new sandbox and is served.
    c.start_agent(3).expect("agent after the crash");
    c.wait_ready(CONVERGE)
        .expect("node-3 Ready after the crash");
    served_on(&c, 3);

    // An agent restart changes nothing for its pods.
    c.kill_agent(3);
    c.start_agent(3).expect("agent again");
    c.wait_ready(CONVERGE)
        .expect("all Ready after the agent restart");
    let s = spread_from(&c, 3, 10, &web_target());
    assert_eq!(s.failed, 0, "{s:?}");
    credentials_were_rotated(&c);
    a_revoked_node_is_refused_and_joins_again(&mut c);
}

/// The NodePort Service's port on a node's underlay address, asked from
/// the server's namespace (outside the nodes): answered by pods on every
/// node, whichever node is asked (SNAT to the asked node, replies back
/// through it).
fn node_ports_serve_from_outside(c: &Cluster, pods: &[WebPod]) {
    use std::io::{Read as _, Write as _};
    let node_of: BTreeMap<&str, &str> = pods
        .iter()
        .map(|p| (p.name.as_str(), p.node.as_str()))
        .collect();
    for i in 1..=2 {
        let addr = std::net::SocketAddr::new(c.node(i).ip.into(), NODE_PORT);
        let answered = until(&format!("node port on node-{i} reaches every node"), || {
            let mut seen = BTreeSet::new();
            for _ in 0..30 {
                let body = c
                    .server_netns()
                    .run(|| -> std::io::Result<String> {
                        let mut s =
                            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
                        s.set_read_timeout(Some(Duration::from_secs(2)))?;
                        s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
                        let mut r = String::new();
                        s.read_to_string(&mut r)?;
                        Ok(r.lines().last().unwrap_or_default().trim().to_string())
                    })
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("{addr}: {e}"))?;
                let node = node_of
                    .get(body.as_str())
                    .ok_or(format!("answer {body:?}"))?;
                seen.insert(node.to_string());
            }
            if seen.len() == NODES {
                Ok(seen)
            } else {
                Err(format!("{addr} answered from {seen:?}"))
            }
        });
        eprintln!("node port on node-{i}: answered from {answered:?}");
    }
}

/// `berth node revoke node-2`: the agent's calls with its credential are
/// refused at once (it may go NotReady meanwhile: revoking cuts a node
/// off), it joins again with the bootstrap token at its next rotation
/// (still valid: the admin did not rotate it), and node-2 is Ready and
/// serves again.
fn a_revoked_node_is_refused_and_joins_again(c: &mut Cluster) {
    let rejoins = || {
        std::fs::read_to_string(c.node(2).log())
            .unwrap_or_default()
            .matches(REJOINED)
            .count()
    };
    let before = rejoins();
    let out = c
        .cli_ok(&["node", "revoke", "node-2"])
        .expect("node revoke");
    assert!(
        out.starts_with("node/node-2: ") && out.contains("credential(s) revoked"),
        "{out}"
    );
    until("node-2 refused, then joined again", || {
        let n = rejoins();
        if n > before {
            Ok(())
        } else {
            Err(format!("{n} rejoins"))
        }
    });
    c.wait_ready(CONVERGE)
        .expect("node-2 Ready after it joined again");
    let s = spread_from(c, 2, 10, &web_target());
    assert_eq!(s.failed, 0, "{s:?}");
}

/// Every agent joined with a credential of its own and rotated it while
/// its node stayed Ready and its pods kept serving (what the test did
/// meanwhile); the bootstrap token itself may do nothing but that.
fn credentials_were_rotated(c: &Cluster) {
    for i in 1..=NODES {
        let log = std::fs::read_to_string(c.node(i).log()).unwrap_or_default();
        let rotations = log.matches(ROTATED).count();
        eprintln!("node-{i}: its credential was rotated {rotations} times");
        // Node 3 restarted three times (each start renews the stored
        // credential or bootstraps again); nodes 1 and 2 ran throughout.
        let want = if i == 3 { 1 } else { 2 };
        assert!(
            rotations >= want,
            "node-{i} rotated its credential {rotations} times:\n{}",
            c.log_tails(20)
        );
        let stored = c.node(i).dir.join("state/agent/node-credential");
        let token = std::fs::read_to_string(&stored).expect("the node credential");
        assert!(
            token.starts_with(&format!("node-{i}~")),
            "{}",
            stored.display()
        );
    }
    let out = c.cli_ok(&["get", "nodes"]).expect("get nodes");
    assert_eq!(
        out.lines()
            .skip(1)
            .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
            .count(),
        NODES,
        "{out}"
    );
}

/// Waits until client-`i` is answered by the web Service again.
fn served_on(c: &Cluster, i: usize) {
    until(&format!("client-{i} served again"), || {
        let s = spread_from(c, i, 10, &web_target());
        if s.failed == 0 && !s.by_pod.is_empty() {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    });
}

/// Node 3 fails (`fail`) while clients on nodes 1 and 2 stream requests to
/// the web Service (`vip`) by name: it goes NotReady, its replica is
/// replaced on nodes 1 and 2 (`replicas` Ready there), and no request that started after a
/// client's data plane dropped node 3's backend failed.
fn failover(
    c: &mut Cluster,
    how: &str,
    vip: &str,
    replicas: usize,
    fail: impl FnOnce(&mut Cluster),
) {
    let on_3: Vec<WebPod> = web_pods(c)
        .into_iter()
        .filter(|p| p.node == "node-3")
        .collect();
    assert!(!on_3.is_empty(), "no replica on node-3 to fail over from");
    let gone: BTreeSet<String> = on_3.iter().map(|p| p.ip.clone()).collect();
    let streams: Vec<_> = (1..=2)
        .map(|i| PodStream::start(client_exec(c, i), &format!("failover-{i}"), &web_target()))
        .collect();
    for (k, s) in streams.iter().enumerate() {
        s.wait_lines(client_exec(c, k + 1), STREAM_STEP);
    }
    fail(c);
    let failed_at = uptime();
    until(&format!("node-3 NotReady ({how})"), || {
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
    // When each client node's data plane stopped giving node 3's replica
    // new connections (observed: an upper bound).
    let dropped_at: Vec<f64> = (1..=2)
        .map(|i| {
            until(
                &format!("node-{i}'s data plane drops node-3's backend"),
                || {
                    let active = active_backends(c, i, vip)?;
                    if active.iter().any(|a| gone.contains(a)) {
                        Err(format!("{active:?}"))
                    } else {
                        Ok(uptime())
                    }
                },
            )
        })
        .collect();
    let after = until(
        &format!("{replicas} replicas Ready on nodes 1 and 2 ({how})"),
        || {
            let p = web_pods(c);
            if p.iter().all(|w| w.node != "node-3") && p.len() == replicas {
                Ok(p)
            } else {
                Err(format!("{p:?}"))
            }
        },
    );
    eprintln!("after node-3 {how}: {after:?}");
    // Requests go on to the new set.
    for (k, s) in streams.iter().enumerate() {
        let n = s.read(client_exec(c, k + 1)).0.len();
        s.wait_lines(client_exec(c, k + 1), n + STREAM_STEP);
    }
    for (k, s) in streams.into_iter().enumerate() {
        let i = k + 1;
        let lines = s.stop(client_exec(c, i));
        let (answered, failed) = podstream::counts(&lines);
        let failures: Vec<&Timed> = lines.iter().filter(|l| l.answer.is_none()).collect();
        let window = failures.last().map_or(0.0, |l| (l.at - failed_at).max(0.0));
        eprintln!(
            "client-{i} while node-3 {how}: {answered} answered, {failed} failed; \
             data plane dropped node-3 {:.2} s after the failure, last failed request started {window:.2} s after it",
            dropped_at[k] - failed_at
        );
        let late: Vec<&&Timed> = failures.iter().filter(|l| l.at >= dropped_at[k]).collect();
        assert!(
            late.is_empty(),
            "client-{i}: requests failed after node-{i}'s data plane dropped node-3 (at {:.2}): {late:?}",
            dropped_at[k]
        );
        let answered_after = lines
            .iter()
            .filter(|l| l.at >= dropped_at[k] && l.answer.is_some())
            .count();
        assert!(
            answered_after >= STREAM_STEP,
            "client-{i}: {answered_after} answered after the data plane dropped node-3"
        );
    }
}

/// DNS from every node, and both VIPs reaching every replica from every
/// node (IPv4, and IPv6 across nodes); the pods' MTU; each node's routes
/// of both families; masquerade to outside the cluster.
fn serves_both_families_across_nodes(c: &Cluster) {
    // DNS from every node, and both VIPs reaching every replica from every
    // node: IPv4, and IPv6 across nodes.
    let fqdn = demo::service_fqdn("cluster.local");
    let vip6 = cluster_ip(c, WEB6);
    assert!(vip6.contains(':'), "{WEB6} has an IPv6 cluster IP: {vip6}");
    for i in 1..=NODES {
        let out = c
            .exec(i, &format!("client-{i}"), &["nslookup", &fqdn])
            .expect("exec");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("Address: 10.96."),
            "node-{i} nslookup: {text}"
        );
        for (family, target) in [("IPv4", web_target()), ("IPv6", format!("{vip6} 80"))] {
            let s = until(
                &format!("all replicas answer client-{i} ({family})"),
                || {
                    let s = spread_from(c, i, 30, &target);
                    if s.failed == 0 && s.by_pod.len() == demo::REPLICAS {
                        Ok(s)
                    } else {
                        Err(format!("{s:?}"))
                    }
                },
            );
            eprintln!("client-{i} (node-{i}) {family}: {s:?}");
        }
    }
    // Pods fit the overlay a peer may be reached over: underlay 1500 - 50.
    let mtu = c
        .exec(1, "client-1", &["cat", "/sys/class/net/eth0/mtu"])
        .expect("exec");
    assert_eq!(String::from_utf8_lossy(&mtu.stdout).trim(), "1450");
    // Each node routes the others' pod CIDRs of both families (host-gw:
    // one shared subnet of each).
    for i in 1..=NODES {
        for (flag, prefix, via) in [
            ("-4", "10.244.", " via 192.168.91."),
            ("-6", "fd00:10:244:", " via fd00:192:168:91::"),
        ] {
            let routes = c
                .node_netns(i)
                .ip(&[flag, "route", "show", "proto", "195"])
                .expect("routes");
            assert_eq!(routes.lines().count(), NODES - 1, "node-{i}: {routes}");
            assert!(
                routes
                    .lines()
                    .all(|l| l.starts_with(prefix) && l.contains(via)),
                "node-{i}: {routes}"
            );
        }
    }
    // Traffic leaving the cluster is masqueraded: a server outside the pod
    // network (in the API server's namespace, which has no route to the
    // pod CIDRs) sees node-1's address and its answer comes back.
    let seen = seen_outside(c, 1);
    assert_eq!(
        seen,
        c.node(1).ip.to_string(),
        "source seen outside the cluster"
    );
}

/// A server restart changes nothing for traffic: a stream of requests
/// running across it fails none.
fn survives_a_server_restart(c: &mut Cluster) {
    // A server restart changes nothing for traffic: requests keep being
    // answered while it is down and after it is back.
    let stream = PodStream::start(client_exec(c, 1), "server-restart", &web_target());
    stream.wait_lines(client_exec(c, 1), STREAM_STEP);
    let at_kill = stream.read(client_exec(c, 1)).0.len();
    c.restart_server(CONVERGE).expect("server restart");
    let back = stream.read(client_exec(c, 1)).0.len();
    stream.wait_lines(client_exec(c, 1), back + STREAM_STEP);
    let lines = stream.stop(client_exec(c, 1));
    let (answered, failed) = podstream::counts(&lines);
    eprintln!(
        "client-1 across the server restart: {answered} answered ({} while it restarted), {failed} failed",
        back - at_kill
    );
    assert_eq!(failed, 0, "across the server restart: {lines:?}");
}
