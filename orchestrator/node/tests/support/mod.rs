//! What the agent tests share: a [`World`] with an in-process `berth
//! server` (embedded store, controllers; stopped and started again on the
//! same data dir and port by the server-down test), a containerd of the
//! test's own (own root, state, socket) whose CRI calls the real
//! `berth-cni` on a bridge of the test's own, runc, and locally built pause
//! and busybox images; pod manifests and checks.
//!
//! Everything lives in `/tmp/berth-test-agent-<pid>-*` (removed at the
//! end; `cargo xtask test` removes what a killed run left: the containerd
//! naming that directory, its shims and mounts, and the `bt*` bridge).

#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use berth_api::Pod;
use berth_api::manifest::{ParseOptions, parse_str};
use berth_client::{Client, ClientConfig};
use berth_cni::containerd::{ConflistSpec, ContainerdConfig};
use berth_control::bootstrap::ServerSettings;
use berth_control::controllers::Settings;
use berth_control::serve::{BoundServer, Datastore};
use berth_node::agent::{Agent, AgentConfig};
use berth_node::containerd::Containerd;
use berth_node::image::{self, BUSYBOX_STATIC};
use berth_node::runtime::cri::CriRuntime;

/// Only catches hangs.
pub const HANG: Duration = Duration::from_secs(90);
pub const LOOPBACK_PLUGIN: &str = "/usr/lib/cni/loopback";
pub const PAUSE: &str = "berth.local/pause:agent-test";
/// The prefix of every test's directory under /tmp.
pub const DIR_PREFIX: &str = "berth-test-agent-";

/// An in-process `berth server`.
pub struct Server {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts one on `data_dir` (created, or found with its CA and tokens)
    /// listening on `listen`; returns it and the admin and node
    /// credentials.
    pub async fn start(
        data_dir: &Path,
        listen: SocketAddr,
        subnet: &str,
    ) -> anyhow::Result<(Server, ClientConfig, ClientConfig)> {
        let settings = ServerSettings {
            data_dir: data_dir.to_path_buf(),
            listen,
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
        node_conf.token = bound.prepared().tokens.bootstrap();
        let (stop, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let _ = bound.run(async { rx.await.unwrap_or(()) }).await;
        });
        Ok((
            Server {
                stop: Some(stop),
                task: Some(task),
                addr,
            },
            admin_conf,
            node_conf,
        ))
    }

    /// Stops it (open watches end, calls in flight finish).
    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(HANG, t).await;
        }
    }
}

pub struct World {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub subnet: String,
    pub server: Server,
    pub admin: Client,
    pub admin_conf: ClientConfig,
    pub node_client: Client,
    /// `None` while a test supervises it in a task of its own.
    pub containerd: Option<Containerd>,
    pub socket: PathBuf,
    pub bridge: String,
    pub reservations: PathBuf,
    pub node: String,
}

pub fn berth_bin() -> anyhow::Result<PathBuf> {
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

pub async fn wait<F, Fut>(what: &str, mut f: F) -> anyhow::Result<()>
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

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{:x}", std::process::id() & 0xfffff)
}

impl World {
    pub async fn start(tag: &str, subnet: &str) -> anyhow::Result<World> {
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
            .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
            .tempdir_in("/tmp")?;
        let dir = tmp.path().to_path_buf();
        // The server: controllers on, the cluster CIDR this test's own.
        let (server, admin_conf, node_conf) =
            Server::start(&dir.join("server"), "127.0.0.1:0".parse()?, subnet).await?;
        let admin = Client::remote(berth_client::connect(&admin_conf).await?);
        // The agent's credential, exchanged for the bootstrap token.
        let node = unique(&format!("bt-node-{tag}-"));
        let node_conf = berth_control::testing::node_credentials(&node_conf, &node)
            .await
            .map_err(|e| anyhow::anyhow!("node credential: {e}"))?;
        let node_client = Client::remote(berth_client::connect(&node_conf).await?);
        // CNI: berth-cni on a bridge of this test's own, named as
        // berth-test-support names interfaces (`bt<letter><pid>-<n>`), so
        // that `cargo xtask clean` removes it after a killed run.
        let bridge = format!("bt{tag}{}-0", std::process::id());
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
            masquerade_except: None,
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
            subnet: subnet.to_owned(),
            server,
            admin,
            admin_conf,
            node_client,
            socket: containerd.socket().to_path_buf(),
            containerd: Some(containerd),
            bridge,
            reservations,
            node,
        })
    }

    pub fn agent_config(&self) -> AgentConfig {
        let mut c = AgentConfig::new(&self.node, "127.0.0.1");
        c.pod_log_dir = self.dir.join("logs");
        c.state_dir = self.dir.join("agent");
        c.lease_period = Duration::from_secs(2);
        c.backoff_base = Duration::from_millis(500);
        c
    }

    pub async fn agent(&self) -> anyhow::Result<Agent> {
        let rt = Arc::new(CriRuntime::connect(&self.socket)?);
        Ok(Agent::start(
            self.node_client.clone(),
            rt,
            self.agent_config(),
            "containerd://1.6",
        )
        .await?)
    }

    pub fn runtime(&self) -> anyhow::Result<CriRuntime> {
        Ok(CriRuntime::connect(&self.socket)?)
    }

    pub async fn pod(&self, name: &str) -> Option<Pod> {
        self.admin.get::<Pod>("default", name).await.ok().flatten()
    }

    /// The end of containerd's log (empty while a test holds it).
    pub fn containerd_log(&self) -> String {
        self.containerd
            .as_ref()
            .map(|c| c.log_tail(60))
            .unwrap_or_default()
    }

    /// Stops the server (same data dir and port for [`World::start_server`]).
    pub async fn stop_server(&mut self) {
        self.server.stop().await;
    }

    /// Starts the server again on its data dir and port.
    pub async fn start_server(&mut self) -> anyhow::Result<()> {
        let (server, _, _) =
            Server::start(&self.dir.join("server"), self.server.addr, &self.subnet).await?;
        self.server = server;
        Ok(())
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        let purged = match self.containerd.as_mut() {
            Some(c) => c.purge().await.map_err(anyhow::Error::from),
            None => Err(anyhow::anyhow!(
                "containerd was not given back to the test world"
            )),
        };
        self.server.stop().await;
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
        purged?;
        Ok(())
    }
}

pub fn pod_manifest(name: &str, node: &str, extra: &str) -> Pod {
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

pub fn http_get(ip: &str, port: u16) -> anyhow::Result<String> {
    let mut s =
        TcpStream::connect_timeout(&format!("{ip}:{port}").parse()?, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET / HTTP/1.0\r\nHost: {ip}\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

pub fn veths_on(bridge: &str) -> usize {
    let out = std::process::Command::new("ip")
        .args(["-o", "link", "show", "master", bridge])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
        .unwrap_or(0)
}

pub fn reserved(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
                .collect()
        })
        .unwrap_or_default()
}

pub fn ready(p: &Pod) -> bool {
    p.status.phase == berth_api::pod::PodPhase::Running && p.is_ready()
}
