//! `berth up` end to end, on real containerd, runc, berth-cni, the eBPF
//! data plane and berth dns: the demo's checks pass; scaling to 5 and to 1
//! is followed by the endpoints, the data plane and DNS; a pod whose
//! readiness fails leaves the endpoints and gets no new connections; kill
//! -9 of the agent during a stream of requests to the VIP by name fails
//! none and restarts no pod; `berth down --purge` leaves nothing.
//!
//! The cluster has its own directories, port, bridge, bpffs, pod CIDR and
//! DNS addresses; the data plane attaches at the cgroup-v2 root as in
//! production.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use berth_local::Layout;
use berth_local::leftovers::{self, Expect};
use common::podstream::{self, PodStream};

/// Only catches hangs: how long a change may take to show.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(120);
const FQDN: &str = "web.default.svc.cluster.local";
/// The cluster DNS VIP: not the default 10.96.0.10, so that a `berth up`
/// cluster on the same host (its hooks at the cgroup root too) does not
/// answer for this one.
const CLUSTER_DNS: &str = "10.96.0.53";

struct Cluster {
    root: PathBuf,
    args: Vec<String>,
    bridge: String,
    dns_iface: String,
    bpffs: PathBuf,
    cni_conf: PathBuf,
    creds: PathBuf,
}

impl Cluster {
    fn new() -> Self {
        let pid = std::process::id();
        let root = PathBuf::from(format!("/tmp/berth-e2e-up-{pid}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let bridge = format!("bu{}", pid % 100_000);
        let dns_iface = format!("bud{}", pid % 100_000);
        let bpffs = PathBuf::from(format!("/sys/fs/bpf/berth-e2e-up-{pid}"));
        let dns_ip = "169.254.20.99";
        let p = |s: &str| root.join(s).display().to_string();
        let args = vec![
            format!("--state-dir={}", p("state")),
            format!("--run-dir={}", p("run")),
            format!("--bpffs={}", bpffs.display()),
            format!("--cni-bin-dir={}", p("cni-bin")),
            format!("--cni-conf-dir={}", p("cni-conf")),
            format!("--listen=127.0.0.1:{port}"),
            format!("--bridge={bridge}"),
            format!("--credentials={}", p("config")),
            "--server-arg=--cluster-cidr=10.244.231.0/24".into(),
            format!("--server-arg=--node-local-dns={dns_ip}"),
            format!("--server-arg=--cluster-dns={CLUSTER_DNS}"),
            format!("--agent-arg=--cluster-dns={CLUSTER_DNS}"),
            format!("--agent-arg=--dns-address={dns_ip}"),
            format!("--agent-arg=--dns-interface={dns_iface}"),
            format!("--agent-arg=--bpffs={}", bpffs.display()),
            format!("--agent-arg=--node-name=e2e-up-{pid}"),
        ];
        Self {
            cni_conf: root.join("cni-conf"),
            creds: root.join("config"),
            root,
            args,
            bridge,
            dns_iface,
            bpffs,
        }
    }

    fn layout(&self) -> Layout {
        Layout {
            state_dir: self.root.join("state"),
            run_dir: self.root.join("run"),
            bpffs: self.bpffs.clone(),
            cni_conf_dir: self.cni_conf.clone(),
        }
    }

    fn local(&self, sub: &str, extra: &[&str]) -> Output {
        let out = Command::new(common::berth_bin())
            .arg(sub)
            .args(&self.args)
            .args(extra)
            .output()
            .expect("running berth");
        eprintln!(
            "$ berth {sub} {extra:?}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// A CLI call as the admin; its stdout, or a panic naming the failure.
    fn cli(&self, args: &[&str]) -> String {
        let out = self.try_cli(args);
        assert!(
            out.status.success(),
            "berth {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn try_cli(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running berth")
    }

    /// `berth ARGS` as the admin; `exec` talks to this cluster's
    /// containerd.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(common::berth_bin());
        cmd.arg("--config").arg(&self.creds);
        if args.first() == Some(&"exec") {
            cmd.arg("exec")
                .arg("--address")
                .arg(self.root.join("run/containerd/containerd.sock"))
                .args(&args[1..]);
        } else {
            cmd.args(args);
        }
        cmd
    }

    /// `n` requests by name from the client pod: answers by pod, failures.
    fn requests(&self, n: usize) -> (BTreeMap<String, usize>, usize) {
        let script = berth_local::demo::request_loop(n, "cluster.local");
        let out = self.try_cli(&["exec", "client", "--", "sh", "-c", &script]);
        let s = berth_local::demo::Spread::parse(&String::from_utf8_lossy(&out.stdout));
        // A request that printed nothing at all counts as failed too.
        let failed = s.failed + n.saturating_sub(s.answered() + s.failed);
        (s.by_pod, failed)
    }

    fn agent_pid(&self) -> u32 {
        std::fs::read_to_string(self.layout().pid_file("agent"))
            .expect("the agent's pid file")
            .trim()
            .parse()
            .expect("a pid")
    }

    /// Pod name → its containers' ids and restart counts.
    fn containers(&self) -> BTreeMap<String, String> {
        let json = self.cli(&["get", "pods", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_str(&json).expect("pods as JSON");
        let mut m = BTreeMap::new();
        for p in v["items"].as_array().into_iter().flatten() {
            let name = p["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let ids: Vec<String> = p["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "{}#{}",
                        c["containerID"].as_str().unwrap_or(""),
                        c["restartCount"]
                    )
                })
                .collect();
            m.insert(name, ids.join(","));
        }
        m
    }
}

/// Polls `f` until it returns `Some`, panicking with `what` after
/// [`CONVERGE_TIMEOUT`].
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {CONVERGE_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Stops and purges the cluster however the test ends.
struct Down<'a>(&'a Cluster);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let out = self.0.local("down", &["--purge"]);
        if !out.status.success() {
            eprintln!("berth down --purge failed: {}", out.status);
        }
        let _ = std::fs::remove_dir_all(&self.0.root);
    }
}

fn ready_endpoints(c: &Cluster) -> BTreeSet<String> {
    let json = c.cli(&["get", "endpointslices", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("slices as JSON");
    let mut ips = BTreeSet::new();
    for s in v["items"].as_array().into_iter().flatten() {
        if s["metadata"]["labels"]["kubernetes.io/service-name"] != "web" {
            continue;
        }
        for e in s["endpoints"].as_array().into_iter().flatten() {
            if e["conditions"]["ready"] != false {
                for a in e["addresses"].as_array().into_iter().flatten() {
                    ips.insert(a.as_str().unwrap_or_default().to_owned());
                }
            }
        }
    }
    ips
}

/// Scales web to `n` and waits until requests by name reach exactly `n`
/// pods with no failure.
fn scale_and_check(c: &Cluster, n: usize) {
    c.cli(&["scale", "deploy/web", "--replicas", &n.to_string()]);
    eventually(&format!("{n} ready endpoints"), || {
        (ready_endpoints(c).len() == n).then_some(())
    });
    // 12 requests a pod: the chance that random selection misses one is
    // below 1e-4 for 5 pods.
    let want = 12 * n;
    eventually(&format!("requests spread over {n} pods"), || {
        let (by_pod, failed) = c.requests(want);
        eprintln!("{n} replicas: {by_pod:?}, {failed} failed");
        (failed == 0 && by_pod.len() == n).then_some(())
    });
    let dns = c.cli(&["exec", "client", "--", "nslookup", FQDN]);
    assert!(
        dns.contains("Address: 10.96."),
        "DNS after scaling to {n}: {dns}"
    );
}

#[test]
fn berth_up_serves_vips_dns_and_survives_an_agent_kill() {
    common::require_root();
    let c = Cluster::new();
    let cgroup = PathBuf::from("/sys/fs/cgroup/unified");
    let programs_before =
        leftovers::cgroup_programs(&cgroup).expect("counting the cgroup's BPF programs");
    {
        let _down = Down(&c);
        let up = c.local("up", &["--detach"]);
        assert!(up.status.success(), "berth up --detach: {}", up.status);
        let stdout = String::from_utf8_lossy(&up.stdout);
        assert!(stdout.contains("demo: 3 of 3 checks passed"), "{stdout}");

        // The VIP as the data plane holds it.
        let list = c.cli(&[
            "dataplane",
            "list",
            "--bpffs",
            &c.bpffs.display().to_string(),
        ]);
        assert!(
            list.contains(&format!("{CLUSTER_DNS}:53/UDP")),
            "data plane: {list}"
        );
        assert!(list.contains("169.254.20.99:53"), "data plane: {list}");
        assert!(list.contains(":80/TCP"), "data plane: {list}");

        scale_and_check(&c, 5);
        scale_and_check(&c, 1);

        status_shows_the_running_cluster(&c);
        busybox_has_the_layout_users_know(&c);
        readiness_failure_leaves_the_endpoints(&c);
        agent_kill_during_a_stream(&c);
    }
    let expect = Expect {
        files: vec![c.creds.clone(), c.cni_conf.join("10-berth.conflist")],
        interfaces: vec![c.bridge.clone(), c.dns_iface.clone()],
        cgroup: Some(cgroup),
        programs_before,
    };
    let left = leftovers::scan(&c.layout(), &expect);
    assert!(left.is_empty(), "left after berth down --purge: {left:#?}");
}

/// `berth status`: the server answers, the node is Ready with its
/// versions, this machine's daemons run, and the "not yet" list.
fn status_shows_the_running_cluster(c: &Cluster) {
    let mut args = vec!["status"];
    args.extend(c.args.iter().map(String::as_str));
    let out = c.cli(&args);
    assert!(out.contains("  server     answers"), "{out}");
    let node = format!("e2e-up-{}", std::process::id());
    assert!(
        out.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.first() == Some(&node.as_str()) && f.get(1) == Some(&"Ready") && l.contains("berth-")
        }),
        "{out}"
    );
    for d in ["server", "agent", "dns"] {
        assert!(
            out.contains(&format!("  {d:<10} running (pid ")),
            "{d}: {out}"
        );
    }
    assert!(out.contains("Not yet:\n  - "), "{out}");
}

/// The busybox image `berth up` builds: a world-writable sticky `/tmp`
/// (a command writing `/tmp/x` runs), root named in `/etc/passwd`.
fn busybox_has_the_layout_users_know(c: &Cluster) {
    let out = c.cli(&[
        "exec",
        "client",
        "--",
        "sh",
        "-c",
        "stat -c '%A %n' /tmp /root /home /var && id -un && id -gn && echo x > /tmp/x && cat /tmp/x",
    ]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "drwxrwxrwt /tmp",
            "drwx------ /root",
            "drwxr-xr-x /home",
            "drwxr-xr-x /var",
            "root",
            "root",
            "x"
        ],
        "{out}"
    );
}

const FLAKY: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: web-flaky
  labels:
    app: web
spec:
  containers:
  - name: httpd
    image: busybox
    command: ["sh", "-c", "echo web-flaky > /tmp/index.html && echo ok > /tmp/ready && exec httpd -f -p 8080 -h /tmp"]
    ports:
    - name: http
      containerPort: 8080
    readinessProbe:
      exec:
        command: ["cat", "/tmp/ready"]
      periodSeconds: 1
      failureThreshold: 1
"#;

fn readiness_failure_leaves_the_endpoints(c: &Cluster) {
    let file = c.root.join("flaky.yaml");
    std::fs::write(&file, FLAKY).unwrap();
    c.cli(&["apply", "-f", &file.display().to_string()]);
    eventually("web-flaky answers through the VIP", || {
        let (by_pod, _) = c.requests(24);
        by_pod.contains_key("web-flaky").then_some(())
    });
    c.cli(&["exec", "web-flaky", "--", "rm", "/tmp/ready"]);
    eventually("web-flaky leaves the endpoints", || {
        (ready_endpoints(c).len() == 1).then_some(())
    });
    // Give the proxy its moment after the slice changed: a new connection
    // may still have been balanced before; then none.
    eventually("no request reaches web-flaky", || {
        let (by_pod, failed) = c.requests(30);
        eprintln!("after readiness failed: {by_pod:?}, {failed} failed");
        (failed == 0 && !by_pod.contains_key("web-flaky") && by_pod.len() == 1).then_some(())
    });
    c.cli(&["delete", "pod", "web-flaky", "--now"]);
}

/// Requests each phase of the agent-kill test must see answered.
const STREAM_STEP: usize = 20;

fn agent_kill_during_a_stream(c: &Cluster) {
    let before = c.containers();
    let exec = |args: &[&str]| {
        let mut v = vec!["exec", "client", "--"];
        v.extend_from_slice(args);
        c.try_cli(&v)
    };
    let target = format!("{FQDN} {}", berth_local::demo::PORT);
    let stream = PodStream::start(exec, "agent-kill", &target);
    stream.wait_lines(exec, STREAM_STEP);
    let pid = c.agent_pid();
    // SAFETY: kill has no memory preconditions; pid is the agent's.
    let killed = unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert_eq!(killed, 0, "kill -9 {pid}");
    let at_kill = stream.read(exec).0.len();
    eprintln!("killed the agent (pid {pid}) after {at_kill} requests");
    // Requests while no agent runs.
    let at_restart = stream.wait_lines(exec, at_kill + STREAM_STEP).len();
    // A second `up` starts the agent again and keeps the server.
    let again = c.local("up", &["--detach", "--no-demo"]);
    assert!(
        again.status.success(),
        "berth up after the kill: {}",
        again.status
    );
    let restarted = stream.read(exec).0.len();
    stream.wait_lines(exec, restarted + STREAM_STEP);
    let lines = stream.stop(exec);
    let (answered, failed) = podstream::counts(&lines);
    let outage = &lines[at_kill..restarted];
    eprintln!(
        "stream across the agent kill: {answered} answered, {failed} failed; {} during the outage ({} before `up` was run)",
        outage.len(),
        at_restart - at_kill
    );
    assert_eq!(failed, 0, "requests across the agent kill: {lines:?}");
    assert!(
        outage.len() >= STREAM_STEP && outage.iter().all(|l| l.answer.is_some()),
        "requests during the outage: {outage:?}"
    );
    let dns = c.cli(&["exec", "client", "--", "nslookup", FQDN]);
    assert!(
        dns.contains("Address: 10.96."),
        "DNS after the agent kill: {dns}"
    );
    eventually("the restarted agent reports the same containers", || {
        let after = c.containers();
        (after == before).then_some(())
    });
}
