//! The agent with the real thing: an in-process `berth server` (embedded
//! store, controllers), a containerd of the test's own (own root, state,
//! socket) whose CRI calls the real `berth-cni`, runc, and locally built
//! images. A pod's httpd becomes Running and Ready and answers on its IP;
//! deleting it leaves no sandbox, no veth and no reserved address; a
//! missing image gives ErrImageNeverPull; readiness and liveness probes
//! act; a killed agent's pods keep running and are adopted with the same
//! container ids, and a pod deleted while it was down is cleaned up.
//!
//! Needs root and the Debian packages containerd, runc, busybox-static and
//! containernetworking-plugins (for CNI `loopback`).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use berth_api::manifest::{ParseOptions, parse_str};
use berth_api::{Kind, Pod};
use berth_client::{Client, ClientConfig, DeleteOptions};
use berth_cni::containerd::{ConflistSpec, ContainerdConfig};
use berth_control::bootstrap::ServerSettings;
use berth_control::controllers::Settings;
use berth_control::serve::{BoundServer, Datastore};
use berth_node::agent::{Agent, AgentConfig};
use berth_node::containerd::Containerd;
use berth_node::image::{self, BUSYBOX_STATIC};
use berth_node::runtime::Runtime as _;
use berth_node::runtime::cri::CriRuntime;

/// Only catches hangs.
const HANG: Duration = Duration::from_secs(90);
const LOOPBACK_PLUGIN: &str = "/usr/lib/cni/loopback";
const PAUSE: &str = "berth.local/pause:agent-test";

struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    admin: Client,
    admin_conf: ClientConfig,
    node_client: Client,
    containerd: Containerd,
    bridge: String,
    reservations: PathBuf,
    node: String,
}

fn berth_bin() -> anyhow::Result<PathBuf> {
    let p = match std::env::var_os("BERTH_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/berth"),
    };
    ensure!(
        p.is_file(),
        "the berth binary is missing at {} (set BERTH_BIN or run `cargo build --release -p berth`)",
        p.display()
    );
    Ok(p.canonicalize()?)
}

async fn wait<F, Fut>(what: &str, mut f: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + HANG;
    while !f().await {
        if Instant::now() > deadline {
            bail!("timed out ({HANG:?}) waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{:x}", std::process::id() & 0xfffff)
}

impl World {
    async fn start(tag: &str, subnet: &str) -> anyhow::Result<World> {
        ensure!(
            nix::unistd::geteuid().is_root(),
            "this test needs root (it runs containerd and the CNI plugin)"
        );
        ensure!(
            Path::new(BUSYBOX_STATIC).is_file(),
            "install busybox-static (`cargo xtask setup`)"
        );
        ensure!(
            Path::new(LOOPBACK_PLUGIN).is_file(),
            "install containernetworking-plugins (`cargo xtask setup`): CRI calls CNI loopback"
        );
        let berth = berth_bin()?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!("berth-test-agent-{}-", std::process::id()))
            .tempdir_in("/tmp")?;
        let dir = tmp.path().to_path_buf();
        // The server: controllers on, the cluster CIDR this test's own.
        let settings = ServerSettings {
            data_dir: dir.join("server"),
            listen: "127.0.0.1:0".parse()?,
            tls_sans: Vec::new(),
        };
        let controllers = Settings {
            cluster_cidrs: vec![subnet.parse()?],
            ..Settings::default()
        };
        let bound = BoundServer::bind(&settings, &Datastore::Embedded)
            .await?
            .with_controllers(Some(controllers));
        let addr = bound.local_addr()?;
        let mut admin_conf = ClientConfig::load(&bound.prepared().admin_conf)?;
        admin_conf.server = format!("https://{addr}");
        let mut node_conf = admin_conf.clone();
        node_conf.token = bound.prepared().tokens.node().to_owned();
        let (stop, rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            let _ = bound.run(async { rx.await.unwrap_or(()) }).await;
        });
        let admin = Client::remote(berth_client::connect(&admin_conf).await?);
        let node_client = Client::remote(berth_client::connect(&node_conf).await?);
        // CNI: berth-cni on a bridge of this test's own.
        let bridge = unique(&format!("bt{tag}"));
        let (bin_dir, conf_dir, data_dir) = (
            dir.join("cni-bin"),
            dir.join("cni-conf"),
            dir.join("cni-data"),
        );
        for d in [&bin_dir, &conf_dir, &data_dir] {
            std::fs::create_dir_all(d)?;
        }
        std::os::unix::fs::symlink(&berth, bin_dir.join("berth-cni"))?;
        std::os::unix::fs::symlink(LOOPBACK_PLUGIN, bin_dir.join("loopback"))?;
        let spec = ConflistSpec {
            name: unique(&format!("berth-agent-test-{tag}-")),
            bridge: bridge.clone(),
            subnets: vec![subnet.parse()?],
            data_dir: data_dir.clone(),
            mtu: None,
        };
        std::fs::write(conf_dir.join(spec.file_name()), spec.to_json())?;
        let reservations = data_dir.join(&spec.name);
        let config = ContainerdConfig::new(
            dir.join("root"),
            dir.join("state"),
            dir.join("c.sock"),
            PAUSE,
            &bin_dir,
            &conf_dir,
        );
        let containerd = Containerd::start(&dir.join("containerd"), config).await?;
        for (archive, builder) in [
            (
                dir.join("pause.tar"),
                image::pause_image(Path::new(BUSYBOX_STATIC), PAUSE)?,
            ),
            (
                dir.join("busybox.tar"),
                image::busybox_image(Path::new(BUSYBOX_STATIC), "busybox")?,
            ),
        ] {
            builder.write(&archive)?;
            image::import(containerd.socket(), &archive, containerd.snapshotter()).await?;
        }
        Ok(World {
            _tmp: tmp,
            dir,
            stop: Some(stop),
            server: Some(server),
            admin,
            admin_conf,
            node_client,
            containerd,
            bridge,
            reservations,
            node: unique(&format!("bt-node-{tag}-")),
        })
    }

    fn agent_config(&self) -> AgentConfig {
        let mut c = AgentConfig::new(&self.node, "127.0.0.1");
        c.pod_log_dir = self.dir.join("logs");
        c.state_dir = self.dir.join("agent");
        c.lease_period = Duration::from_secs(2);
        c.backoff_base = Duration::from_millis(500);
        c
    }

    async fn agent(&self) -> anyhow::Result<Agent> {
        let rt = Arc::new(CriRuntime::connect(self.containerd.socket())?);
        Ok(Agent::start(
            self.node_client.clone(),
            rt,
            self.agent_config(),
            "containerd://1.6",
        )
        .await?)
    }

    fn runtime(&self) -> anyhow::Result<CriRuntime> {
        Ok(CriRuntime::connect(self.containerd.socket())?)
    }

    async fn pod(&self, name: &str) -> Option<Pod> {
        self.admin.get::<Pod>("default", name).await.ok().flatten()
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        let purged = self.containerd.purge().await;
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = tokio::time::timeout(HANG, s).await;
        }
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
        purged?;
        Ok(())
    }
}

fn pod_manifest(name: &str, node: &str, extra: &str) -> Pod {
    let yaml = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: busybox
    command: [sh, -c, "mkdir -p /www && echo hello-from-$HOSTNAME > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{{name: http, containerPort: 8080}}]
{extra}
"#
    );
    let mut docs = parse_str(&yaml, "pod.yaml", &ParseOptions::default()).unwrap();
    Pod::try_from(docs.remove(0).object).unwrap()
}

fn http_get(ip: &str, port: u16) -> anyhow::Result<String> {
    let mut s =
        TcpStream::connect_timeout(&format!("{ip}:{port}").parse()?, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET / HTTP/1.0\r\nHost: {ip}\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn veths_on(bridge: &str) -> usize {
    let out = std::process::Command::new("ip")
        .args(["-o", "link", "show", "master", bridge])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
        .unwrap_or(0)
}

fn reserved(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
                .collect()
        })
        .unwrap_or_default()
}

fn ready(p: &Pod) -> bool {
    p.status.phase == berth_api::pod::PodPhase::Running && p.is_ready()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_runs_answers_and_leaves_nothing_when_deleted() -> anyhow::Result<()> {
    let w = World::start("a", "10.244.221.0/24").await?;
    let result = async {
        let agent = w.agent().await?;
        let probe = "    readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}";
        w.admin.create(&pod_manifest("web", &w.node, probe)).await?;
        wait("the pod Running and Ready", || async {
            w.pod("web").await.is_some_and(|p| ready(&p))
        })
        .await?;
        let p = w.pod("web").await.context("pod")?;
        let ip = p.status.pod_ip.clone();
        ensure!(
            ip.starts_with("10.244.221."),
            "pod IP {ip} not from the node's CIDR"
        );
        let body = http_get(&ip, 8080)?;
        ensure!(body.contains("hello-from-web"), "unexpected answer: {body}");
        ensure!(
            veths_on(&w.bridge) == 1,
            "expected one veth on {}",
            w.bridge
        );
        // berth logs and berth exec, with the real CLI.
        let conf = w.dir.join("admin.conf");
        w.admin_conf.save(&conf)?;
        let berth = berth_bin()?;
        let cli = |args: &[&str]| {
            std::process::Command::new(&berth)
                .arg("--config")
                .arg(&conf)
                .arg(args[0])
                .arg("--address")
                .arg(w.containerd.socket())
                .args(&args[1..])
                .output()
        };
        let out = cli(&[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 7",
        ])?;
        ensure!(
            out.status.code() == Some(7),
            "exec exit code {:?}",
            out.status
        );
        ensure!(
            String::from_utf8_lossy(&out.stdout) == "out\n",
            "exec stdout {:?}",
            out.stdout
        );
        ensure!(
            String::from_utf8_lossy(&out.stderr).contains("err"),
            "exec stderr {:?}",
            out.stderr
        );
        let out = cli(&[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo logged-line >/proc/1/fd/1",
        ])?;
        ensure!(out.status.success(), "exec: {out:?}");
        wait("the line in berth logs", || async {
            cli(&["logs", "web"])
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("logged-line"))
        })
        .await?;
        ensure!(
            reserved(&w.reservations).len() == 1,
            "expected one reserved address"
        );
        // A missing image: ErrImageNeverPull, nothing pulled.
        let mut missing = pod_manifest("nope", &w.node, "");
        missing.spec.containers[0].image = "example.com/not-here:1".into();
        w.admin.create(&missing).await?;
        wait("ErrImageNeverPull", || async {
            w.pod("nope").await.is_some_and(|p| {
                p.status.container_statuses.first().is_some_and(|s| {
                    s.state
                        .waiting
                        .as_ref()
                        .is_some_and(|w| w.reason == "ErrImageNeverPull")
                })
            })
        })
        .await?;
        // Delete: graceful, then nothing is left.
        for name in ["web", "nope"] {
            w.admin
                .delete(Kind::Pod, "default", name, DeleteOptions::default())
                .await?;
        }
        wait("both pods gone from the API", || async {
            w.pod("web").await.is_none() && w.pod("nope").await.is_none()
        })
        .await?;
        let rt = w.runtime()?;
        ensure!(rt.list_sandboxes().await?.is_empty(), "sandboxes left");
        ensure!(veths_on(&w.bridge) == 0, "veths left on {}", w.bridge);
        ensure!(
            reserved(&w.reservations).is_empty(),
            "addresses left: {:?}",
            reserved(&w.reservations)
        );
        agent.stop().await;
        anyhow::Ok(())
    }
    .await;
    if result.is_err() {
        eprintln!("containerd log:\n{}", w.containerd.log_tail(60));
    }
    w.stop().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_act_and_a_killed_agent_adopts_what_runs() -> anyhow::Result<()> {
    let w = World::start("b", "10.244.222.0/24").await?;
    let result = async {
        let agent = w.agent().await?;
        // Readiness against a port nobody listens on: never Ready.
        let unready = "    readinessProbe: {tcpSocket: {port: 9999}, periodSeconds: 1}";
        w.admin.create(&pod_manifest("unready", &w.node, unready)).await?;
        // Liveness that fails: restarted, with back-off.
        let dying = "    livenessProbe: {exec: {command: [sh, -c, 'exit 1']}, periodSeconds: 1, failureThreshold: 1}";
        w.admin.create(&pod_manifest("dying", &w.node, dying)).await?;
        w.admin.create(&pod_manifest("steady", &w.node, "")).await?;
        wait("steady Ready, unready running but not Ready", || async {
            let s = w.pod("steady").await;
            let u = w.pod("unready").await;
            s.is_some_and(|p| ready(&p))
                && u.is_some_and(|p| {
                    p.status.phase == berth_api::pod::PodPhase::Running
                        && !p.is_ready()
                        && p.status.container_statuses.first().is_some_and(|c| c.state.running.is_some())
                })
        })
        .await?;
        wait("dying restarted twice", || async {
            w.pod("dying").await.is_some_and(|p| {
                p.status.container_statuses.first().is_some_and(|c| c.restart_count >= 2)
            })
        })
        .await?;
        // Kill the agent (no stop, no cleanup), delete a pod meanwhile.
        let before = w.pod("steady").await.context("steady")?;
        let id_before = before.status.container_statuses[0].container_id.clone();
        drop(agent);
        w.admin
            .delete(Kind::Pod, "default", "unready", DeleteOptions::default())
            .await?;
        // Gone from the API at once: only the runtime still has it.
        let now = DeleteOptions {
            resource_version: 0,
            grace_period_seconds: Some(0),
        };
        w.admin.delete(Kind::Pod, "default", "dying", now).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Still serving while no agent runs.
        http_get(&before.status.pod_ip, 8080)?;
        let agent = w.agent().await?;
        wait("unready cleaned up after the restart", || async { w.pod("unready").await.is_none() }).await?;
        let rt = w.runtime()?;
        wait("the sandboxes of unready and dying removed", || async {
            rt.list_sandboxes()
                .await
                .is_ok_and(|l| l.iter().all(|s| s.name == "steady"))
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = w.pod("steady").await.context("steady")?;
        ensure!(
            after.status.container_statuses[0].container_id == id_before,
            "steady was restarted: {id_before} -> {}",
            after.status.container_statuses[0].container_id
        );
        ensure!(after.status.container_statuses[0].restart_count == 0);
        ensure!(ready(&after), "steady not ready after the agent restart");
        agent.stop().await;
        anyhow::Ok(())
    }
    .await;
    if result.is_err() {
        eprintln!("containerd log:\n{}", w.containerd.log_tail(60));
    }
    w.stop().await?;
    result
}
