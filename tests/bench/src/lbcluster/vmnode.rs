//! The two roles of a guest in `berth bench lb --cluster --vm` (run as
//! `berth bench vm-node`, inside the guests [`super::vm`] boots):
//!
//! - guest 1, [`server`]: `berth server` and an agent (node `vm-1`); one
//!   single-replica Deployment and Service per node, pinned by
//!   `nodeSelector`; once every pod is Ready and each VIP is answered by
//!   its own node's pod, requests from guest 1 (its root cgroup, under the
//!   node's socket LB) to each VIP and each pod address, interleaved;
//!   every request must be answered. The rows go to the share.
//! - guests 2..N, [`peer`]: an agent that joins with the CA and token guest
//!   1 puts in the share, until guest 1 writes its verdict.

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use berth_local::{demo, latency};
use berth_test_support::cluster::{self, API_PORT, AgentSpec, tail};
use berth_test_support::vm::net::guest_ip;

use super::report::ClusterRow;

/// Only catches hangs: under TCG a step (server start, a node joining, a
/// pod becoming Ready) takes seconds to a minute.
const CONVERGE: Duration = Duration::from_secs(15 * 60);
/// Only catches hangs: how long the peers wait for guest 1's verdict.
pub const WHOLE_RUN: Duration = Duration::from_secs(45 * 60);
/// The node's directory in the guest, on its /run tmpfs: containerd's
/// overlayfs snapshots cannot live on the guest's overlay root.
const NODE_DIR: &str = "/run/berth-vm-node";
use demo::{PORT, TARGET_PORT};
/// The file in the share that ends the peers, with guest 1's verdict.
const DONE: &str = "done";
/// Guest 1's rows in the share.
pub const ROWS: &str = "lb-vm.json";

fn node_name(i: usize) -> String {
    format!("vm-{i}")
}

fn wait_up_to(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !ok() {
        if Instant::now() > deadline {
            bail!("{what}: not within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

fn wait_for(what: &str, ok: impl FnMut() -> bool) -> anyhow::Result<()> {
    wait_up_to(CONVERGE, what, ok)
}

/// Kills its processes on drop.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn agent_spec(i: usize, token: PathBuf, log: PathBuf) -> AgentSpec {
    AgentSpec {
        server: format!("https://{}:{API_PORT}", guest_ip(1)),
        token,
        name: node_name(i),
        ip: guest_ip(i),
        ip6: None,
        dir: PathBuf::from(NODE_DIR),
        // The guest's root cgroup and default pins: a node of its own.
        cgroup: None,
        bpffs: None,
        args: Vec::new(),
        log,
    }
}

/// Builds the busybox image and imports it into the node's containerd.
fn import_busybox(berth: &Path, spec: &AgentSpec) -> anyhow::Result<()> {
    let sock = spec.containerd_socket();
    wait_for("the agent's containerd socket", || sock.exists())?;
    let image = Path::new(NODE_DIR).join("busybox.oci.tar");
    let build = Command::new(berth)
        .args(["image", "build", "--busybox", "--name", "busybox", "-o"])
        .arg(&image)
        .output()
        .context("berth image build")?;
    if !build.status.success() {
        bail!(
            "berth image build: {}",
            String::from_utf8_lossy(&build.stderr)
        );
    }
    // containerd may still be starting behind its socket.
    wait_for("the image import", || {
        Command::new(berth)
            .args(["image", "import", "--address"])
            .arg(&sock)
            .arg(&image)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn manifest(nodes: usize) -> String {
    (1..=nodes)
        .map(|i| {
            format!(
                "---\n{}",
                demo::web(&format!("web-{i}"), 1, Some(&node_name(i)))
            )
        })
        .collect()
}

struct Cli {
    berth: PathBuf,
    admin: PathBuf,
}

impl Cli {
    fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(&self.berth)
            .arg("--config")
            .arg(&self.admin)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("berth {args:?}"))?;
        if !out.status.success() {
            bail!(
                "berth {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Rows of a table as (column, value) pairs.
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

/// Guest 1: server, agent, services on every node, the measurement. The
/// verdict goes to the share whatever happens; on failure with the logs'
/// tails.
pub fn server(berth: &Path, share: &Path, nodes: usize, requests: usize) -> anyhow::Result<()> {
    let mut children = Children(Vec::new());
    let logs = [share.join("server.log"), share.join("vm-1-agent.log")];
    let r = serve(berth, share, nodes, requests, &mut children, &logs);
    let verdict = match &r {
        Ok(()) => "ok\n".to_string(),
        Err(e) => {
            for log in &logs {
                println!("--- {}:\n{}", log.display(), tail(log, 40));
            }
            format!("failed: {e:#}\n")
        }
    };
    fs::write(share.join(DONE), verdict).context("writing the verdict")?;
    r
}

fn serve(
    berth: &Path,
    share: &Path,
    nodes: usize,
    requests: usize,
    children: &mut Children,
    logs: &[PathBuf; 2],
) -> anyhow::Result<()> {
    let started = Instant::now();
    let step = |what: &str| println!("[{:6.1} s] {what}", started.elapsed().as_secs_f64());
    let data = Path::new(NODE_DIR).join("server");
    fs::create_dir_all(NODE_DIR).context("node dir")?;
    children.0.push(cluster::spawn_server(
        &mut Command::new(berth),
        &data,
        guest_ip(1),
        &logs[0],
        &[],
    )?);
    cluster::wait_credentials(&data)?;
    let cli = Cli {
        berth: berth.to_path_buf(),
        admin: data.join("admin.conf"),
    };
    wait_for("the server to answer", || {
        cli.run(&["get", "nodes"]).is_ok()
    })?;
    step("server up; handing the CA and node token to the other guests");
    // The token last: the peers wait for it.
    for f in ["ca.crt", "node-token"] {
        let partial = share.join(format!("{f}.partial"));
        fs::copy(data.join(f), &partial).with_context(|| format!("copying {f}"))?;
        fs::rename(&partial, share.join(f)).with_context(|| format!("publishing {f}"))?;
    }
    let spec = agent_spec(1, data.join("node-token"), logs[1].clone());
    children.0.push(spec.spawn(&mut Command::new(berth))?);
    import_busybox(berth, &spec)?;
    step("image imported on vm-1");
    wait_for("every node Ready and its image imported", || {
        let ready = cli
            .table(&["get", "nodes"])
            .iter()
            .filter(|r| field(r, "STATUS") == "Ready")
            .count();
        ready == nodes && (2..=nodes).all(|i| share.join(format!("vm-{i}.ready")).exists())
    })?;
    step(&format!("{nodes} nodes Ready"));
    let file = Path::new(NODE_DIR).join("app.yaml");
    fs::write(&file, manifest(nodes)).context("writing the manifest")?;
    cli.run(&["apply", "-f", &file.to_string_lossy()])?;
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
    })?;
    step("every web pod Ready");
    let mut vips = Vec::new();
    for i in 1..=nodes {
        let json = cli.run(&["get", "svc", &format!("web-{i}"), "-o", "json"])?;
        let v: serde_json::Value = serde_json::from_str(&json).context("Service JSON")?;
        let ip: IpAddr = v["spec"]["clusterIP"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("web-{i} has no clusterIP: {json}"))?;
        vips.push(SocketAddr::new(ip, PORT));
    }
    // Each VIP is answered by its own node's pod once vm-1's data plane
    // has the endpoints.
    for (i, (vip, (pod, _))) in vips.iter().zip(&pods).enumerate() {
        let mut last = String::new();
        let answered = wait_for(&format!("{vip} answered by {pod}"), || {
            last = who(*vip).unwrap_or_else(|e| e.to_string());
            last == *pod
        });
        answered.with_context(|| format!("the last answer: {last}"))?;
        println!("web-{} at {vip} answered by {pod} on vm-{}", i + 1, i + 1);
    }
    let mut targets = Vec::new();
    for (vip, (_, ip)) in vips.iter().zip(&pods) {
        targets.push(*vip);
        targets.push(SocketAddr::new(*ip, TARGET_PORT));
    }
    step(&format!(
        "measuring: {requests} requests to each of {} targets, interleaved",
        targets.len()
    ));
    let sums = latency::compare(&targets, requests);
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for (k, (t, s)) in targets.iter().zip(&sums).enumerate() {
        let node = k / 2 + 1;
        let placement = if node == 1 { "same-node" } else { "cross-node" };
        let mode = if k % 2 == 0 { "vip" } else { "direct" };
        println!(
            "{placement:<11} {mode:<7} {t:<22} p50 {:>9.1} µs  p90 {:>9.1} µs  p99 {:>9.1} µs  failed {}",
            s.p50_us, s.p90_us, s.p99_us, s.failed
        );
        if s.failed > 0 || s.ok != requests {
            failed.push(format!("{t}: {} of {requests} failed", s.failed));
            continue;
        }
        // One row per mode and placement: the first cross-node node's.
        if node <= 2 {
            rows.push(ClusterRow {
                env: "vm".into(),
                placement: placement.into(),
                mode: mode.into(),
                services: nodes,
                p50_us: s.p50_us,
                p90_us: s.p90_us,
                p99_us: s.p99_us,
            });
        }
    }
    fs::write(
        share.join(ROWS),
        serde_json::to_string_pretty(&rows)? + "\n",
    )
    .context("writing the rows")?;
    if !failed.is_empty() {
        bail!("requests failed: {}", failed.join("; "));
    }
    step("done");
    Ok(())
}

/// Guests 2..N: an agent until guest 1 is done.
pub fn peer(berth: &Path, share: &Path, i: usize) -> anyhow::Result<()> {
    let token = share.join("node-token");
    wait_for("guest 1's node token", || token.exists())?;
    fs::create_dir_all(NODE_DIR).context("node dir")?;
    // The agent reads the CA beside the token.
    let local = Path::new(NODE_DIR).join("node-token");
    fs::copy(&token, &local).context("copying the token")?;
    fs::copy(share.join("ca.crt"), Path::new(NODE_DIR).join("ca.crt")).context("copying the CA")?;
    let log = share.join(format!("vm-{i}-agent.log"));
    let spec = agent_spec(i, local, log.clone());
    let _children = Children(vec![spec.spawn(&mut Command::new(berth))?]);
    println!("vm-{i}: agent started");
    import_busybox(berth, &spec)?;
    fs::write(share.join(format!("vm-{i}.ready")), "").context("ready file")?;
    println!("vm-{i}: agent up, image imported; serving until guest 1 is done");
    let done = share.join(DONE);
    wait_up_to(WHOLE_RUN, "guest 1's verdict", || done.exists())?;
    let verdict = fs::read_to_string(&done).unwrap_or_default();
    if verdict.trim() != "ok" {
        println!(
            "guest 1: {}; vm-{i}'s agent log:\n{}",
            verdict.trim(),
            tail(&log, 40)
        );
    }
    Ok(())
}
