//! The node the pod benchmark runs on, all in this process and its work
//! directory, as orchestrator/node/tests/agent.rs sets it up: a `berth
//! server` (embedded store, controllers on, a cluster CIDR of its own), a
//! containerd of its own (root, state, socket, config) whose CRI calls
//! berth-cni (this very binary) on a bridge of its own, pause and busybox
//! images built from the host's static busybox and imported, and one agent
//! (`bench-node`) on a [`Timed`] CRI runtime.
//!
//! [`World::teardown`] deletes what pods are left and waits for the agent
//! to remove their sandboxes, stops the agent, purges containerd (runc
//! containers, shims, mounts), deletes the bridge and stops the server;
//! then it looks for anything of the run still there (processes naming
//! the work directory, mounts under it, the bridge, veths on it).
//! [`remove_stale_runs`] does the same for the work directories of runs
//! that were killed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use berth_api::{Kind, Pod};
use berth_client::{Client, ClientConfig, DeleteOptions};
use berth_cni::containerd::{ConflistSpec, ContainerdConfig};
use berth_control::bootstrap::ServerSettings;
use berth_control::controllers::Settings;
use berth_control::serve::{BoundServer, Datastore};
use berth_node::agent::{Agent, AgentConfig};
use berth_node::containerd::{Containerd, mounts_under, unmount_all};
use berth_node::image::{self, BUSYBOX_STATIC};
use berth_node::runtime::Runtime as _;
use berth_node::runtime::cri::CriRuntime;

use super::timed::Timed;

/// The Node the agent registers.
pub const NODE: &str = "bench-node";
/// The cluster CIDR: one /24 node block (253 pod addresses).
pub const CLUSTER_CIDR: &str = "10.244.230.0/24";
/// The sandbox image, built here.
pub const PAUSE: &str = "berth.local/pause:bench";
/// The pods' image, built here.
pub const BUSYBOX: &str = "busybox";
/// CRI calls the loopback plugin for every sandbox.
pub const LOOPBACK_PLUGIN: &str = "/usr/lib/cni/loopback";
/// Namespace of the benchmark's pods.
pub const NAMESPACE: &str = "default";
/// Only catches hangs.
const HANG: Duration = Duration::from_secs(120);

/// The runtime the agent runs on.
pub type BenchRuntime = Timed<CriRuntime>;

/// Everything of a run; filled in step by step by [`World::start`] so that
/// [`World::teardown`] removes whatever was made, also after a failure
/// half-way.
#[derive(Debug)]
pub struct World {
    dir: PathBuf,
    /// The bridge berth-cni makes on the first ADD (`btb<pid>-<n>`, which
    /// the stale-object cleanup of `cargo xtask clean` recognises).
    pub bridge: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    admin: Option<Client>,
    containerd: Option<Containerd>,
    runtime: Option<Arc<BenchRuntime>>,
    agent: Option<Agent>,
    /// The CRI plugin's snapshotter.
    pub snapshotter: String,
    /// With `--time-cni`: the log of every berth-cni call.
    cni_log: Option<PathBuf>,
}

fn containerd_config(dir: &Path) -> ContainerdConfig {
    ContainerdConfig::new(
        dir.join("root"),
        dir.join("state"),
        dir.join("c.sock"),
        PAUSE,
        dir.join("cni-bin"),
        dir.join("cni-conf"),
    )
}

impl World {
    /// A world in `dir`; with `time_cni`, berth-cni runs through a shell
    /// wrapper that logs each call's start and end.
    pub fn new(dir: &Path, time_cni: bool) -> World {
        World {
            dir: dir.to_path_buf(),
            bridge: berth_test_support::name::unique("bridge"),
            stop: None,
            server: None,
            admin: None,
            containerd: None,
            runtime: None,
            agent: None,
            snapshotter: String::new(),
            cni_log: time_cni.then(|| dir.join("cni-times.log")),
        }
    }

    /// The CNI call log (`--time-cni`): lines `<CNI_COMMAND>
    /// <CNI_CONTAINERID> <start ns> <end ns>`.
    pub fn cni_log(&self) -> Option<&Path> {
        self.cni_log.as_deref()
    }

    pub fn admin(&self) -> &Client {
        self.admin.as_ref().expect("started")
    }

    pub fn runtime(&self) -> &BenchRuntime {
        self.runtime.as_ref().expect("started")
    }

    /// The last lines of containerd's log (for errors).
    pub fn containerd_log(&self, lines: usize) -> String {
        self.containerd
            .as_ref()
            .map(|c| c.log_tail(lines))
            .unwrap_or_default()
    }

    /// Starts the server, containerd (with CNI), imports the images and
    /// starts the agent.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let dir = self.dir.clone();
        let berth = std::env::current_exe().context("finding the berth binary")?;
        super::progress(format_args!(
            "berth server (embedded store, controllers, cluster CIDR {CLUSTER_CIDR})"
        ));
        let settings = ServerSettings {
            data_dir: dir.join("server"),
            listen: "127.0.0.1:0".parse()?,
            tls_sans: Vec::new(),
        };
        let controllers = Settings {
            cluster_cidrs: vec![CLUSTER_CIDR.parse()?],
            ..Settings::default()
        };
        let bound = BoundServer::bind(&settings, &Datastore::Embedded)
            .await
            .context("starting berth server")?
            .with_controllers(Some(controllers));
        let addr = bound.local_addr()?;
        let mut admin_conf = ClientConfig::load(&bound.prepared().admin_conf)?;
        admin_conf.server = format!("https://{addr}");
        let mut node_conf = admin_conf.clone();
        node_conf.token = bound.prepared().tokens.bootstrap();
        let (stop, rx) = tokio::sync::oneshot::channel();
        self.stop = Some(stop);
        self.server = Some(tokio::spawn(async move {
            if let Err(e) = bound.run(async { rx.await.unwrap_or(()) }).await {
                eprintln!("[bench] berth server: {e}");
            }
        }));
        self.admin = Some(Client::remote(berth_client::connect(&admin_conf).await?));
        let node_conf = berth_control::testing::node_credentials(&node_conf, NODE)
            .await
            .map_err(|e| anyhow::anyhow!("node credential: {e}"))?;
        let node_client = Client::remote(berth_client::connect(&node_conf).await?);

        let (bin_dir, conf_dir, data_dir) = (
            dir.join("cni-bin"),
            dir.join("cni-conf"),
            dir.join("cni-data"),
        );
        for d in [&bin_dir, &conf_dir, &data_dir] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        match &self.cni_log {
            None => std::os::unix::fs::symlink(&berth, bin_dir.join("berth-cni"))?,
            Some(log) => {
                // `berth` is berth-cni by the name it is run as.
                let real = dir.join("cni-real");
                std::fs::create_dir_all(&real)?;
                std::os::unix::fs::symlink(&berth, real.join("berth-cni"))?;
                let script = format!(
                    "#!/bin/sh\n\
                     # berth bench pods --time-cni: berth-cni, its start and end logged.\n\
                     s=$(date +%s%N)\n\
                     '{}' \"$@\"\n\
                     rc=$?\n\
                     echo \"$CNI_COMMAND $CNI_CONTAINERID $s $(date +%s%N)\" >> '{}'\n\
                     exit $rc\n",
                    real.join("berth-cni").display(),
                    log.display()
                );
                let wrapper = bin_dir.join("berth-cni");
                std::fs::write(&wrapper, script)?;
                std::fs::set_permissions(
                    &wrapper,
                    std::os::unix::fs::PermissionsExt::from_mode(0o755),
                )?;
            }
        }
        std::os::unix::fs::symlink(LOOPBACK_PLUGIN, bin_dir.join("loopback"))?;
        let spec = ConflistSpec {
            name: format!("berth-bench-pods-{}", std::process::id()),
            bridge: self.bridge.clone(),
            subnets: vec![CLUSTER_CIDR.parse()?],
            data_dir,
            mtu: None,
            masquerade_except: None,
        };
        std::fs::write(conf_dir.join(spec.file_name()), spec.to_json())?;
        super::progress(format_args!(
            "containerd in {} (berth-cni on bridge {})",
            dir.display(),
            self.bridge
        ));
        let containerd = Containerd::start(&dir.join("containerd"), containerd_config(&dir))
            .await
            .context("starting containerd")?;
        self.snapshotter = containerd.snapshotter().to_owned();
        let socket = containerd.socket().to_path_buf();
        self.containerd = Some(containerd);
        super::progress(format_args!(
            "building and importing {PAUSE} and {BUSYBOX} from {BUSYBOX_STATIC}"
        ));
        for (archive, builder) in [
            (
                dir.join("pause.tar"),
                image::pause_image(Path::new(BUSYBOX_STATIC), PAUSE)?,
            ),
            (
                dir.join("busybox.tar"),
                image::busybox_image(Path::new(BUSYBOX_STATIC), BUSYBOX)?,
            ),
        ] {
            builder.write(&archive)?;
            image::import(&socket, &archive, &self.snapshotter)
                .await
                .with_context(|| format!("importing {}", archive.display()))?;
        }
        let runtime = Arc::new(Timed::new(CriRuntime::connect(&socket)?));
        self.runtime = Some(runtime.clone());
        let mut cfg = AgentConfig::new(NODE, "127.0.0.1");
        cfg.pod_log_dir = dir.join("logs");
        cfg.state_dir = dir.join("agent");
        super::progress(format_args!(
            "agent for node {NODE} ({} workers)",
            cfg.workers
        ));
        let version = format!("containerd://{}", super::containerd_release());
        self.agent = Some(
            Agent::start(node_client, runtime, cfg, &version)
                .await
                .context("starting the agent")?,
        );
        Ok(())
    }

    /// Removes everything; returns what could not be removed or is still
    /// there afterwards (empty: nothing is left).
    pub async fn teardown(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if let (Some(admin), Some(_), Some(rt)) = (&self.admin, &self.agent, &self.runtime)
            && let Err(e) = delete_all(admin, rt).await
        {
            problems.push(format!("deleting the pods left: {e:#}"));
        }
        if let Some(a) = self.agent.take() {
            a.stop().await;
        }
        let made = self.runtime.take().map(|r| r.made()).unwrap_or_default();
        if let Some(mut c) = self.containerd.take() {
            if let Err(e) = c.purge().await {
                problems.push(format!("purging containerd: {e}"));
            }
            drop(c);
        }
        if link_exists(&self.bridge) {
            let ok = std::process::Command::new("ip")
                .args(["link", "del", &self.bridge])
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                problems.push(format!("could not delete bridge {}", self.bridge));
            }
        }
        self.admin = None;
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(s) = self.server.take()
            && tokio::time::timeout(Duration::from_secs(30), s)
                .await
                .is_err()
        {
            problems.push("berth server did not stop within 30 s".into());
        }
        problems.extend(leftovers(&self.dir, &self.bridge, &made));
        problems
    }
}

/// Deletes every pod of [`NAMESPACE`] and waits until the API and the
/// runtime have none.
async fn delete_all(admin: &Client, rt: &BenchRuntime) -> anyhow::Result<()> {
    let pods = admin.list::<Pod>(NAMESPACE, "").await?.items;
    if pods.is_empty() && rt.list_sandboxes().await?.is_empty() {
        return Ok(());
    }
    super::progress(format_args!(
        "deleting {} pods left and waiting for their sandboxes to go",
        pods.len()
    ));
    for p in &pods {
        match admin
            .delete(
                Kind::Pod,
                NAMESPACE,
                &p.metadata.name,
                DeleteOptions::default(),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let deadline = Instant::now() + HANG;
    loop {
        let left = admin.list::<Pod>(NAMESPACE, "").await?.items.len();
        let sandboxes = rt.list_sandboxes().await?.len();
        if left == 0 && sandboxes == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{left} pods and {sandboxes} sandboxes still there after {HANG:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether interface `name` exists.
pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Interfaces enslaved to `bridge`.
fn veths_on(bridge: &str) -> Vec<String> {
    std::fs::read_dir(Path::new("/sys/class/net").join(bridge).join("brif"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Processes (other than this one) whose command line names `dir`:
/// containerd and its shims (`-address <dir>/c.sock`).
fn processes_naming(dir: &Path) -> Vec<String> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().into_owned();
            if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            cmd.windows(needle.len()).any(|w| w == needle).then(|| {
                let argv0 = cmd.split(|b| *b == 0).next().unwrap_or_default();
                format!("{pid} ({})", String::from_utf8_lossy(argv0))
            })
        })
        .collect()
}

/// Cgroups named after the sandboxes and containers `ids` (containerd's
/// CRI puts them at `<hierarchy>/k8s.io/<id>` with no cgroup parent), in
/// the cgroup-v2 tree or any v1 hierarchy.
fn cgroups_of(ids: &[String]) -> Vec<String> {
    let root = Path::new("/sys/fs/cgroup");
    let mut trees = vec![root.to_path_buf()];
    if let Ok(d) = std::fs::read_dir(root) {
        trees.extend(d.filter_map(Result::ok).map(|e| e.path()));
    }
    let mut left = Vec::new();
    for tree in trees {
        for id in ids {
            let p = tree.join("k8s.io").join(id);
            if p.is_dir() {
                left.push(p.display().to_string());
            }
        }
    }
    left
}

/// What of a run in `dir` with `bridge` and the runtime objects `made`
/// is still there.
fn leftovers(dir: &Path, bridge: &str, made: &[String]) -> Vec<String> {
    let mut left = Vec::new();
    let cgroups = cgroups_of(made);
    if !cgroups.is_empty() {
        left.push(format!("cgroups left: {}", cgroups.join(", ")));
    }
    let procs = processes_naming(dir);
    if !procs.is_empty() {
        left.push(format!("processes left: {}", procs.join(", ")));
    }
    let mounts = mounts_under(dir);
    if !mounts.is_empty() {
        left.push(format!(
            "mounts left under {}: {}",
            dir.display(),
            mounts
                .iter()
                .map(|m| m.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if link_exists(bridge) {
        left.push(format!(
            "bridge {bridge} left (with {:?})",
            veths_on(bridge)
        ));
    }
    left
}

/// Removes what killed runs left in their work directories
/// (`<temp dir>/<prefix><pid>` whose pid is gone): a containerd still
/// running there (or its shims, or mounts) is adopted and purged first.
/// Their bridges go with the stale-interface cleanup that follows.
pub async fn remove_stale_runs(prefix: &str) {
    let tmp = std::env::temp_dir();
    let Ok(entries) = std::fs::read_dir(&tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || berth_test_support::cleanup::pid_alive(pid) {
            continue;
        }
        let dir = tmp.join(&name);
        let busy = !processes_naming(&dir).is_empty() || !mounts_under(&dir).is_empty();
        if busy && dir.join("containerd").join("config.toml").is_file() {
            super::progress(format_args!(
                "leftover of a killed run: purging the containerd of {}",
                dir.display()
            ));
            match Containerd::start(&dir.join("containerd"), containerd_config(&dir)).await {
                Ok(mut c) => {
                    if let Err(e) = c.purge().await {
                        eprintln!("[bench] purging {}: {e}", dir.display());
                    }
                }
                Err(e) => eprintln!("[bench] adopting the containerd of {}: {e}", dir.display()),
            }
        }
        let _ = unmount_all(&dir);
        if std::fs::remove_dir_all(&dir).is_ok() {
            eprintln!(
                "[bench] leftover of a killed run: removed {}",
                dir.display()
            );
        }
    }
}
