//! A Berth cluster across virtual machines on Debian's 6.1 kernel: the two
//! roles of `cargo xtask vm --nodes N` and of the vm tier, one per guest.
//! They run only there (the guests share a private bridge and a directory
//! with the host; see berth_test_support::vm): run elsewhere, they fail and
//! say so.
//!
//! - guest 1, [`vm_cluster_serves_across_vms`]: `berth server` and an
//!   agent (node `vm-1`); one single-replica Deployment and Service per
//!   node, pinned by `nodeSelector`; once every pod is Ready, requests from
//!   guest 1 (its root cgroup, under the node's socket LB) to each VIP and
//!   each pod address, interleaved; every request must be answered, each
//!   VIP by its own node's pod; the latencies are printed, same-node and
//!   cross-node, and written as JSON rows to the share;
//! - guests 2..N, [`vm_cluster_peer_node`]: an agent that joins with the
//!   token guest 1 puts in the share, until guest 1 says it is done.

mod common;

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_local::latency;
use berth_test_support::cluster::{self, API_PORT, AgentSpec};
use berth_test_support::vm::net::guest_ip;

/// Only catches hangs: under TCG a step (server start, a node joining, a
/// pod becoming Ready) takes seconds to a minute.
const CONVERGE: Duration = Duration::from_secs(15 * 60);
/// Only catches hangs: how long the peers wait for guest 1's verdict.
const WHOLE_RUN: Duration = Duration::from_secs(45 * 60);
/// Requests per target in the latency measurement.
const REQUESTS: usize = 300;
/// The node's directory in the guest (on its tmpfs).
const NODE_DIR: &str = "/tmp/berth-vm-node";
/// The pods' port and the Services' port.
const TARGET_PORT: u16 = 8080;
const PORT: u16 = 80;

/// The file in the share that ends the peers, with guest 1's verdict.
const DONE: &str = "done";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: this test runs inside the VM cluster of \
             `cargo xtask vm --nodes N` (or `cargo xtask test --tier vm`), not on a host"
        )
    })
}

fn share() -> PathBuf {
    PathBuf::from(env("BERTH_VM_SHARE"))
}

fn node_name(i: usize) -> String {
    format!("vm-{i}")
}

fn wait_for(what: &str, ok: impl FnMut() -> bool) {
    wait_up_to(CONVERGE, what, ok);
}

fn wait_up_to(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Kills its processes on drop (also on a panic) and, in guest 1, writes
/// the verdict the peers wait for.
struct Guard {
    children: Vec<Child>,
    done: Option<PathBuf>,
    logs: Vec<PathBuf>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        if failed {
            for log in &self.logs {
                println!("--- {}:\n{}", log.display(), tail(log, 40));
            }
        }
        if let Some(done) = &self.done {
            let _ = fs::write(done, if failed { "failed\n" } else { "ok\n" });
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn agent_spec(i: usize, token: PathBuf, log: PathBuf) -> AgentSpec {
    AgentSpec {
        server: format!("https://{}:{API_PORT}", guest_ip(1)),
        token,
        name: node_name(i),
        ip: guest_ip(i),
        dir: PathBuf::from(NODE_DIR),
        // The guest's root cgroup and default pins: a node of its own.
        cgroup: None,
        bpffs: None,
        args: Vec::new(),
        log,
    }
}

/// Builds the busybox image and imports it into the node's containerd.
fn import_busybox(spec: &AgentSpec) {
    let sock = spec.containerd_socket();
    wait_for("the agent's containerd socket", || sock.exists());
    let image = Path::new(NODE_DIR).join("busybox.oci.tar");
    let berth = common::berth_bin();
    let build = Command::new(&berth)
        .args(["image", "build", "--busybox", "--name", "busybox", "-o"])
        .arg(&image)
        .output()
        .expect("berth image build");
    assert!(
        build.status.success(),
        "berth image build: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    // containerd may still be starting behind its socket.
    wait_for("the image import", || {
        Command::new(&berth)
            .args(["image", "import", "--address"])
            .arg(&sock)
            .arg(&image)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
}

fn manifest(nodes: usize) -> String {
    let mut m = String::new();
    for i in 1..=nodes {
        let node = node_name(i);
        m.push_str(&format!(
            r#"---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-{i}
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web-{i}
  template:
    metadata:
      labels:
        app: web-{i}
    spec:
      nodeSelector:
        kubernetes.io/hostname: {node}
      containers:
      - name: httpd
        image: busybox
        command: ["sh", "-c", "mkdir -p /www && echo $POD_NAME > /www/index.html && exec httpd -f -p {TARGET_PORT} -h /www"]
        env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        ports:
        - name: http
          containerPort: {TARGET_PORT}
        readinessProbe:
          tcpSocket:
            port: {TARGET_PORT}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web-{i}
  namespace: default
spec:
  selector:
    app: web-{i}
  ports:
  - name: http
    port: {PORT}
    targetPort: http
"#
        ));
    }
    m
}

struct Cli {
    berth: PathBuf,
    admin: PathBuf,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.berth)
            .arg("--config")
            .arg(&self.admin)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Rows of a wide table as column → value maps.
    fn table(&self, args: &[&str]) -> Vec<Vec<(String, String)>> {
        let text = self.run(args).unwrap_or_default();
        let mut lines = text.lines();
        let header: Vec<String> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        lines
            .map(|l| {
                header
                    .iter()
                    .cloned()
                    .zip(l.split_whitespace().map(str::to_string))
                    .collect()
            })
            .collect()
    }
}

fn field<'a>(row: &'a [(String, String)], name: &str) -> &'a str {
    row.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// One HTTP/1.0 GET; the response body's last line (the pod's name).
fn who(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, latency::REQUEST_TIMEOUT)?;
    s.set_read_timeout(Some(latency::REQUEST_TIMEOUT))?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    Ok(text.lines().last().unwrap_or_default().trim().to_string())
}

#[test]
#[ignore = "runs in guest 1 of the VM cluster: cargo xtask vm --nodes N"]
fn vm_cluster_serves_across_vms() {
    common::require_root();
    let share = share();
    let nodes: usize = env("BERTH_VM_NODES").parse().expect("BERTH_VM_NODES");
    let berth = common::berth_bin();
    let started = Instant::now();
    let step = |what: &str| println!("[{:6.1} s] {what}", started.elapsed().as_secs_f64());
    let data = Path::new(NODE_DIR).join("server");
    fs::create_dir_all(NODE_DIR).expect("node dir");
    let mut guard = Guard {
        children: Vec::new(),
        done: Some(share.join(DONE)),
        logs: vec![share.join("server.log"), share.join("vm-1-agent.log")],
    };
    let server = cluster::spawn_server(
        &mut Command::new(&berth),
        &data,
        guest_ip(1),
        &guard.logs[0],
        &[],
    )
    .expect("berth server");
    guard.children.push(server);
    cluster::wait_credentials(&data).expect("server credentials");
    let cli = Cli {
        berth: berth.clone(),
        admin: data.join("admin.conf"),
    };
    wait_for("the server to answer", || {
        cli.run(&["get", "nodes"]).is_ok()
    });
    step("server up; handing the CA and node token to the other guests");
    // The token last: the peers wait for it.
    for f in ["ca.crt", "node-token"] {
        let partial = share.join(format!("{f}.partial"));
        fs::copy(data.join(f), &partial).expect("copy the credentials");
        fs::rename(&partial, share.join(f)).expect("publish the credentials");
    }
    let spec = agent_spec(1, data.join("node-token"), guard.logs[1].clone());
    guard
        .children
        .push(spec.spawn(&mut Command::new(&berth)).expect("berth agent"));
    import_busybox(&spec);
    step("image imported on vm-1");
    wait_for("every node Ready and its image imported", || {
        let ready = cli
            .table(&["get", "nodes"])
            .iter()
            .filter(|r| field(r, "STATUS") == "Ready")
            .count();
        ready == nodes && (2..=nodes).all(|i| share.join(format!("vm-{i}.ready")).exists())
    });
    step(&format!("{nodes} nodes Ready"));
    let file = Path::new(NODE_DIR).join("app.yaml");
    fs::write(&file, manifest(nodes)).expect("write manifest");
    cli.run(&["apply", "-f", file.to_str().expect("path")])
        .expect("berth apply");
    // web-i's pod: Ready on vm-i, with its address.
    let mut pods: Vec<(String, IpAddr)> = Vec::new();
    wait_for("one Ready web pod per node", || {
        let rows = cli.table(&["get", "pods", "-o", "wide"]);
        pods = (1..=nodes)
            .filter_map(|i| {
                rows.iter()
                    .find(|r| {
                        field(r, "NAME").starts_with(&format!("web-{i}-"))
                            && field(r, "READY") == "1/1"
                            && field(r, "NODE") == node_name(i)
                    })
                    .and_then(|r| {
                        Some((field(r, "NAME").to_string(), field(r, "IP").parse().ok()?))
                    })
            })
            .collect();
        pods.len() == nodes
    });
    step("every web pod Ready");
    let mut vips = Vec::new();
    for i in 1..=nodes {
        let json = cli
            .run(&["get", "svc", &format!("web-{i}"), "-o", "json"])
            .expect("get svc");
        let v: serde_json::Value = serde_json::from_str(&json).expect("svc json");
        let ip: IpAddr = v["spec"]["clusterIP"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("web-{i} has no clusterIP: {json}"));
        vips.push(SocketAddr::new(ip, PORT));
    }
    // Each VIP is answered by its own node's pod, once the data plane of
    // vm-1 has the endpoints.
    for (i, (vip, (pod, _))) in vips.iter().zip(&pods).enumerate() {
        let mut last = String::new();
        wait_for(&format!("{vip} answered by {pod}"), || {
            last = who(*vip).unwrap_or_else(|e| e.to_string());
            last == *pod
        });
        println!("web-{} at {vip} answered by {pod} on vm-{}", i + 1, i + 1);
    }
    let mut targets = Vec::new();
    for (vip, (_, ip)) in vips.iter().zip(&pods) {
        targets.push(*vip);
        targets.push(SocketAddr::new(*ip, TARGET_PORT));
    }
    step(&format!(
        "measuring: {REQUESTS} requests to each of {} targets, interleaved",
        targets.len()
    ));
    let sums = latency::compare(&targets, REQUESTS);
    let mut rows = Vec::new();
    println!(
        "\nLB latency from vm-1 (connect + HTTP GET + close), {} services, kernel {}:",
        nodes,
        fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "{:<11} {:<7} {:<22} {:>9} {:>9} {:>9} {:>7}",
        "placement", "mode", "target", "p50 µs", "p90 µs", "p99 µs", "failed"
    );
    for (k, (t, s)) in targets.iter().zip(&sums).enumerate() {
        let node = k / 2 + 1;
        let placement = if node == 1 { "same-node" } else { "cross-node" };
        let mode = if k % 2 == 0 { "vip" } else { "direct" };
        println!(
            "{placement:<11} {mode:<7} {:<22} {:>9.1} {:>9.1} {:>9.1} {:>7}",
            t.to_string(),
            s.p50_us,
            s.p90_us,
            s.p99_us,
            s.failed
        );
        rows.push(serde_json::json!({
            "env": "vm",
            "placement": placement,
            "mode": mode,
            "node": node_name(node),
            "services": nodes,
            "p50_us": s.p50_us,
            "p90_us": s.p90_us,
            "p99_us": s.p99_us,
            "ok": s.ok,
            "failed": s.failed,
        }));
    }
    fs::write(
        share.join("lb-vm.json"),
        serde_json::to_string_pretty(&rows).expect("json") + "\n",
    )
    .expect("write lb-vm.json");
    for ((t, s), k) in targets.iter().zip(&sums).zip(0..) {
        assert_eq!(
            (s.ok, s.failed),
            (REQUESTS, 0),
            "requests to {t} (target {k}) failed"
        );
    }
    step("done");
}

#[test]
#[ignore = "runs in guests 2..N of the VM cluster: cargo xtask vm --nodes N"]
fn vm_cluster_peer_node() {
    common::require_root();
    let share = share();
    let i: usize = env("BERTH_VM_INDEX").parse().expect("BERTH_VM_INDEX");
    let token = share.join("node-token");
    wait_for("guest 1's node token", || token.exists());
    fs::create_dir_all(NODE_DIR).expect("node dir");
    // The agent reads the CA beside the token.
    let local = Path::new(NODE_DIR).join("node-token");
    fs::copy(&token, &local).expect("copy the token");
    fs::copy(share.join("ca.crt"), Path::new(NODE_DIR).join("ca.crt")).expect("copy the CA");
    let log = share.join(format!("vm-{i}-agent.log"));
    let spec = agent_spec(i, local, log.clone());
    let mut guard = Guard {
        children: Vec::new(),
        done: None,
        logs: vec![log],
    };
    guard.children.push(
        spec.spawn(&mut Command::new(common::berth_bin()))
            .expect("berth agent"),
    );
    println!("vm-{i}: agent started");
    import_busybox(&spec);
    fs::write(share.join(format!("vm-{i}.ready")), "").expect("ready file");
    println!("vm-{i}: agent up, image imported; serving until guest 1 is done");
    let done = share.join(DONE);
    wait_up_to(WHOLE_RUN, "guest 1's verdict", || done.exists());
    let verdict = fs::read_to_string(&done).unwrap_or_default();
    if verdict.trim() != "ok" {
        println!(
            "guest 1 failed; vm-{i}'s agent log:\n{}",
            tail(&guard.logs[0], 40)
        );
    }
}
