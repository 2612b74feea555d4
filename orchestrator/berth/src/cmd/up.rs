//! `berth up [--detach]`: a cluster on this machine — `berth server` (the
//! embedded store) and `berth agent` (its own containerd) as daemons in
//! sessions of their own, the busybox image imported, and the demo: a
//! 3-replica HTTP Deployment, its Service and a client pod; the service
//! resolved by name and requests spread over the replicas from the client
//! pod; request latency through the VIP and to a pod directly. A second
//! `up` adopts what still runs and resumes the same cluster.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use berth_api::{Node, Pod, Service};
use berth_client::proto::WriteRequest;
use berth_client::{Client, ClientConfig};
use berth_local::daemon::Started;
use berth_local::{Daemon, Layout, demo, latency};
use berth_node::containerd::cri_snapshotter;
use berth_node::image::{self, BUSYBOX_STATIC};
use berth_node::runtime::Runtime as _;
use berth_node::runtime::cri::CriRuntime;
use clap::Args;

/// How long the server may take to serve (only catches a hang).
const SERVER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the node may take to be Ready.
const NODE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the demo's pods may take to be Ready.
const PODS_TIMEOUT: Duration = Duration::from_secs(120);
/// Requests from the client pod to the service by name.
const SPREAD_REQUESTS: usize = 30;
/// Requests from the host for the latency figures (per target).
const LATENCY_REQUESTS: usize = 200;
/// The cluster domain of the demo.
const DOMAIN: &str = "cluster.local";

/// Where the cluster lives; `berth up` and `berth down` take the same.
#[derive(Debug, Args, Clone)]
pub struct LocalArgs {
    /// Persistent state (store, credentials, containerd root).
    #[arg(long, default_value = "/var/lib/berth")]
    pub state_dir: PathBuf,
    /// Runtime files (pid files, containerd's state and socket).
    #[arg(long, default_value = "/run/berth")]
    pub run_dir: PathBuf,
    /// The data plane's BPF pins.
    #[arg(long, default_value = "/sys/fs/bpf/berth")]
    pub bpffs: PathBuf,
    /// CNI plugin binaries.
    #[arg(long, default_value = "/opt/cni/bin")]
    pub cni_bin_dir: PathBuf,
    /// CNI configuration.
    #[arg(long, default_value = "/etc/cni/net.d")]
    pub cni_conf_dir: PathBuf,
    /// The API server's address.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// The pods' bridge.
    #[arg(long, default_value = "berth0")]
    pub bridge: String,
    /// Where the admin credentials are copied for the CLI (default
    /// ~/.berth/config).
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// More `berth server` arguments (one per use), e.g.
    /// `--server-arg=--cluster-cidr=10.250.0.0/16`.
    #[arg(long = "server-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// More `berth agent` arguments (one per use).
    #[arg(long = "agent-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub agent_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub local: LocalArgs,
    /// Return once the cluster and the demo are up (else run until
    /// Ctrl-C, then stop the cluster as `berth down` does).
    #[arg(long)]
    pub detach: bool,
    /// Start the cluster without the demo.
    #[arg(long)]
    pub no_demo: bool,
}

impl LocalArgs {
    pub fn layout(&self) -> Layout {
        Layout {
            state_dir: self.state_dir.clone(),
            run_dir: self.run_dir.clone(),
            bpffs: self.bpffs.clone(),
            cni_conf_dir: self.cni_conf_dir.clone(),
        }
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.credentials.clone().unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/root"))
                .join(".berth/config")
        })
    }

    /// `berth agent`'s arguments (after the subcommand).
    pub fn agent_argv(&self) -> Vec<String> {
        let l = self.layout();
        let mut v: Vec<String> = [
            "--server".into(),
            format!("https://{}", self.listen),
            "--token-file".into(),
            l.node_token().display().to_string(),
            "--data-dir".into(),
            l.agent_dir().display().to_string(),
            "--run-dir".into(),
            l.run_dir.display().to_string(),
            "--cni-bin-dir".into(),
            self.cni_bin_dir.display().to_string(),
            "--cni-conf-dir".into(),
            self.cni_conf_dir.display().to_string(),
            "--bridge".into(),
            self.bridge.clone(),
            "--pod-log-dir".into(),
            l.log_dir().join("pods").display().to_string(),
        ]
        .into();
        v.extend(self.agent_args.iter().cloned());
        v
    }

    pub fn server_daemon(&self, me: &Path) -> Daemon {
        let l = self.layout();
        Daemon::new(
            "server",
            me,
            [
                "server".to_owned(),
                "--data-dir".into(),
                l.server_dir().display().to_string(),
                "--listen".into(),
                self.listen.to_string(),
            ]
            .into_iter()
            .chain(self.server_args.iter().cloned()),
            l.pid_file("server"),
            l.log("server"),
        )
    }

    pub fn agent_daemon(&self, me: &Path) -> Daemon {
        let l = self.layout();
        Daemon::new(
            "agent",
            me,
            std::iter::once("agent".to_owned()).chain(self.agent_argv()),
            l.pid_file("agent"),
            l.log("agent"),
        )
    }

    /// The agent's containerd socket.
    pub fn containerd_socket(&self) -> PathBuf {
        self.run_dir.join("containerd").join("containerd.sock")
    }
}

fn say_started(d: &Daemon, s: Started) {
    match s {
        Started::New(pid) => println!(
            "  {}: started (pid {pid}, log {})",
            d.name(),
            d.log().display()
        ),
        Started::Adopted(pid) => println!("  {}: already running (pid {pid}), kept", d.name()),
    }
}

/// The end of one round of a wait: an error if `daemon` has exited, or
/// `late()` once `deadline` has passed; else a pause of `every`.
async fn next_round(
    daemon: &Daemon,
    deadline: Instant,
    every: Duration,
    late: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    ensure!(
        daemon.is_alive(),
        "berth {} exited; its log: {}",
        daemon.name(),
        daemon.log().display()
    );
    if Instant::now() > deadline {
        bail!("{}", late());
    }
    tokio::time::sleep(every).await;
    Ok(())
}

async fn wait_server(admin: &Path, server: &Daemon) -> anyhow::Result<Client> {
    let deadline = Instant::now() + SERVER_TIMEOUT;
    loop {
        if let Ok(cfg) = ClientConfig::load(admin)
            && let Ok(api) = berth_client::connect(&cfg).await
        {
            let client = Client::remote(api);
            if client.list::<Node>("", "").await.is_ok() {
                return Ok(client);
            }
        }
        next_round(server, deadline, Duration::from_millis(100), || {
            format!(
                "berth server did not serve within {SERVER_TIMEOUT:?}; its log: {}",
                server.log().display()
            )
        })
        .await?;
    }
}

async fn wait_node(client: &Client, agent: &Daemon) -> anyhow::Result<Node> {
    let deadline = Instant::now() + NODE_TIMEOUT;
    loop {
        let nodes = client.list::<Node>("", "").await?.items;
        if let Some(n) = nodes.into_iter().find(|n| n.is_ready()) {
            return Ok(n);
        }
        next_round(agent, deadline, Duration::from_millis(200), || {
            format!(
                "no node Ready within {NODE_TIMEOUT:?}; the agent's log: {}",
                agent.log().display()
            )
        })
        .await?;
    }
}

/// Waits until the agent's containerd answers CRI calls.
async fn wait_containerd(local: &LocalArgs, agent: &Daemon) -> anyhow::Result<CriRuntime> {
    let socket = local.containerd_socket();
    let deadline = Instant::now() + NODE_TIMEOUT;
    loop {
        if socket.exists()
            && let Ok(runtime) = CriRuntime::connect(&socket)
            && runtime.ready().await.unwrap_or(false)
        {
            return Ok(runtime);
        }
        next_round(agent, deadline, Duration::from_millis(200), || {
            format!(
                "containerd did not answer on {} within {NODE_TIMEOUT:?}; the agent's log: {}",
                socket.display(),
                agent.log().display()
            )
        })
        .await?;
    }
}

/// busybox:latest from Debian's busybox-static, imported when missing.
async fn import_busybox(local: &LocalArgs, runtime: &CriRuntime) -> anyhow::Result<()> {
    let socket = local.containerd_socket();
    let reference = image::normalize("busybox");
    if runtime.image_id(&reference).await?.is_some() {
        println!("  image {reference}: present");
        return Ok(());
    }
    let archive = local.layout().agent_dir().join("busybox.oci.tar");
    image::busybox_image(Path::new(BUSYBOX_STATIC), &reference)?.write(&archive)?;
    let snapshotter = cri_snapshotter(&socket).await?;
    image::import(&socket, &archive, &snapshotter).await?;
    println!("  image {reference}: built from {BUSYBOX_STATIC} and imported");
    Ok(())
}

pub fn run(a: UpArgs) -> anyhow::Result<()> {
    ensure!(
        nix::unistd::geteuid().is_root(),
        "berth up needs root (containerd, network namespaces, BPF)"
    );
    let me = std::env::current_exe().context("finding the berth binary")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let local = a.local.clone();
    println!(
        "berth up: state {}, run {}",
        local.state_dir.display(),
        local.run_dir.display()
    );
    let checks = rt.block_on(async {
        let server = local.server_daemon(&me);
        say_started(&server, server.start()?);
        let admin = local.layout().admin_conf();
        let client = wait_server(&admin, &server).await?;
        let creds = local.credentials_path();
        if let Some(dir) = creds.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::copy(&admin, &creds)
            .with_context(|| format!("copying {} to {}", admin.display(), creds.display()))?;
        println!(
            "  credentials: {} (the CLI finds them without flags)",
            creds.display()
        );
        let agent = local.agent_daemon(&me);
        say_started(&agent, agent.start()?);
        let node = wait_node(&client, &agent).await?;
        println!("  node {}: Ready", node.metadata.name);
        let runtime = wait_containerd(&local, &agent).await?;
        import_busybox(&local, &runtime).await?;
        if a.no_demo {
            return anyhow::Ok(Vec::new());
        }
        run_demo(&me, &local, &client, &runtime).await
    })?;
    let failed: Vec<&Check> = checks.iter().filter(|c| !c.ok).collect();
    if !a.no_demo {
        println!(
            "\ndemo: {} of {} checks passed",
            checks.len() - failed.len(),
            checks.len()
        );
        for c in &checks {
            println!(
                "  {} {}: {}",
                if c.ok { "ok    " } else { "FAILED" },
                c.name,
                c.detail
            );
        }
    }
    let config = local.credentials_path();
    println!(
        "\nThe cluster runs. Try:\n  {me} get pods -o wide\n  {me} exec {client} -- nslookup {fqdn}\n  {me} apply -f app.yaml\nStop it with `{me} down` (`--purge` also wipes its state); credentials: {}",
        config.display(),
        me = me.display(),
        client = demo::CLIENT,
        fqdn = demo::service_fqdn(DOMAIN),
    );
    if !a.detach {
        println!("Ctrl-C stops the cluster.");
        rt.block_on(super::server::shutdown_signal());
        super::down::down(&local, false)?;
    }
    if !failed.is_empty() {
        bail!(
            "{} demo check(s) failed: {}",
            failed.len(),
            failed.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// One thing the demo checked.
#[derive(Debug)]
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

fn cli(me: &Path, local: &LocalArgs) -> Command {
    let mut c = Command::new(me);
    c.arg("--config").arg(local.layout().admin_conf());
    c
}

fn show(me: &Path, local: &LocalArgs, args: &[&str]) {
    println!("\n$ berth {}", args.join(" "));
    let _ = cli(me, local).args(args).status();
}

/// `berth exec client -- ARGS`: its stdout, or why it failed.
fn exec_in_client(me: &Path, local: &LocalArgs, args: &[&str]) -> Result<String, String> {
    let out = cli(me, local)
        .arg("exec")
        .arg("--address")
        .arg(local.containerd_socket())
        .args([demo::CLIENT, "--"])
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{}: {}{}",
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether every container the pod's status names runs in `running` (a
/// status written before `berth down` names containers that are gone).
fn status_is_current(pod: &Pod, running: &std::collections::HashSet<String>) -> bool {
    !pod.status.container_statuses.is_empty()
        && pod.status.container_statuses.iter().all(|c| {
            c.container_id
                .strip_prefix("containerd://")
                .is_some_and(|id| running.contains(id))
        })
}

async fn wait_demo_pods(
    client: &Client,
    runtime: &CriRuntime,
    agent: &Daemon,
) -> anyhow::Result<Vec<Pod>> {
    let deadline = Instant::now() + PODS_TIMEOUT;
    loop {
        let running: std::collections::HashSet<String> = runtime
            .list_container_states()
            .await?
            .into_iter()
            .filter(|c| c.state == berth_node::runtime::ContainerState::Running)
            .map(|c| c.id)
            .collect();
        let pods: Vec<Pod> = client
            .list::<Pod>(demo::NAMESPACE, "")
            .await?
            .items
            .into_iter()
            .filter(|p| status_is_current(p, &running))
            .collect();
        let web: Vec<Pod> = pods
            .iter()
            .filter(|p| p.metadata.labels.get("app").map(String::as_str) == Some(demo::SERVICE))
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .cloned()
            .collect();
        let ready = web.iter().filter(|p| p.is_ready()).count();
        let client_ready = pods
            .iter()
            .any(|p| p.metadata.name == demo::CLIENT && p.is_ready());
        if ready == demo::REPLICAS && web.len() == demo::REPLICAS && client_ready {
            return Ok(web);
        }
        next_round(agent, deadline, Duration::from_millis(200), || {
            format!(
                "the demo's pods were not Ready within {PODS_TIMEOUT:?} ({ready} of {} replicas; client Ready: {client_ready})",
                demo::REPLICAS
            )
        })
        .await?;
    }
}

async fn run_demo(
    me: &Path,
    local: &LocalArgs,
    client: &Client,
    runtime: &CriRuntime,
) -> anyhow::Result<Vec<Check>> {
    let admin = ClientConfig::load(&local.layout().admin_conf())?;
    let mut api = berth_client::connect(&admin).await?;
    let docs = berth_api::manifest::parse_str(
        &demo::manifest(),
        "demo.yaml",
        &berth_api::manifest::ParseOptions::default(),
    )?;
    for doc in docs {
        let key = doc.object.key();
        api.apply(WriteRequest {
            object_json: doc.object.to_json()?,
        })
        .await
        .with_context(|| format!("applying the demo's {key}"))?;
    }
    println!(
        "  demo: applied Deployment {s} ({n} replicas), Service {s}, Pod {c}",
        s = demo::SERVICE,
        n = demo::REPLICAS,
        c = demo::CLIENT
    );
    let t = Instant::now();
    let web = wait_demo_pods(client, runtime, &local.agent_daemon(me)).await?;
    println!("  demo: pods Ready in {:.1} s", t.elapsed().as_secs_f64());
    show(me, local, &["get", "pods", "-o", "wide"]);
    show(me, local, &["get", "svc"]);
    show(me, local, &["get", "endpointslices"]);
    let svc = client
        .get::<Service>(demo::NAMESPACE, demo::SERVICE)
        .await?
        .context("the demo's Service vanished")?;
    let vip = svc.spec.cluster_ip.clone();
    let mut checks = Vec::new();

    // DNS from the client pod.
    let fqdn = demo::service_fqdn(DOMAIN);
    println!("\n$ berth exec {} -- nslookup {fqdn}", demo::CLIENT);
    let dns = exec_in_client(me, local, &["nslookup", &fqdn]);
    let resolved = dns
        .as_ref()
        .map(|o| demo::nslookup_addresses(o))
        .unwrap_or_default();
    match &dns {
        Ok(o) => print!("{o}"),
        Err(e) => println!("{e}"),
    }
    checks.push(Check {
        name: "DNS",
        ok: resolved.iter().any(|ip| ip.to_string() == vip),
        detail: format!("{fqdn} → {resolved:?} (the Service's clusterIP is {vip})"),
    });

    // Requests by name from the client pod, spread over the replicas.
    println!(
        "\n$ berth exec {} -- sh -c '{}'",
        demo::CLIENT,
        demo::request_loop(SPREAD_REQUESTS, DOMAIN)
    );
    let spread = exec_in_client(
        me,
        local,
        &["sh", "-c", &demo::request_loop(SPREAD_REQUESTS, DOMAIN)],
    )
    .map(|o| demo::Spread::parse(&o));
    let (ok, detail) = match &spread {
        Ok(s) => (
            s.failed == 0 && s.by_pod.len() == demo::REPLICAS,
            format!(
                "{} of {SPREAD_REQUESTS} answered, by {:?}; {} failed",
                s.answered(),
                s.by_pod,
                s.failed
            ),
        ),
        Err(e) => (false, e.clone()),
    };
    println!("{detail}");
    checks.push(Check {
        name: "load balancing",
        ok,
        detail,
    });

    // Latency from this host: the VIP (socket LB) vs a pod directly.
    let direct_ip = web
        .first()
        .map(|p| p.status.pod_ip.clone())
        .unwrap_or_default();
    let targets: Vec<SocketAddr> = [
        format!("{vip}:{}", demo::PORT),
        format!("{direct_ip}:{}", demo::TARGET_PORT),
    ]
    .iter()
    .map(|s| s.parse())
    .collect::<Result<_, _>>()
    .with_context(|| format!("the VIP {vip:?} or pod IP {direct_ip:?}"))?;
    let sums =
        tokio::task::spawn_blocking(move || latency::compare(&targets, LATENCY_REQUESTS)).await?;
    println!(
        "\nrequest latency from this host ({LATENCY_REQUESTS} requests each, new TCP connection + HTTP GET, interleaved):"
    );
    println!(
        "  {:<28} {:>9} {:>9} {:>9} {:>7}",
        "target", "p50 ms", "p90 ms", "p99 ms", "failed"
    );
    for (name, s) in [
        (format!("VIP {vip}:{}", demo::PORT), sums[0]),
        (format!("pod {direct_ip}:{}", demo::TARGET_PORT), sums[1]),
    ] {
        println!(
            "  {name:<28} {:>9.3} {:>9.3} {:>9.3} {:>7}",
            s.p50_us / 1e3,
            s.p90_us / 1e3,
            s.p99_us / 1e3,
            s.failed
        );
    }
    checks.push(Check {
        name: "VIP latency",
        ok: sums[0].failed == 0 && sums[1].failed == 0,
        detail: format!(
            "p50 VIP {:.3} ms vs direct {:.3} ms; failed {} / {}",
            sums[0].p50_us / 1e3,
            sums[1].p50_us / 1e3,
            sums[0].failed,
            sums[1].failed
        ),
    });
    Ok(checks)
}
