//! Fixture shared by the end-to-end tests: a LAN of namespace hosts (host 0
//! is the client, the others run echo servers), a cgroup the client runs
//! in, and a `berth dataplane run --static` process attached to that cgroup
//! with its own bpffs directory.

#![allow(dead_code)]

pub mod edge;
pub mod podstream;
pub mod server;
pub mod stream;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    time::Duration,
};

use berth_test_support::{Cgroup, Lan, TcpEcho, UdpEcho, cmd::in_netns_and_cgroup, name};

/// Only catches hangs: how long the data plane may take to say it is ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What `berth dataplane run` logs when it refuses a changed file.
pub const REJECTED: &str = "file rejected; keeping what is programmed";

pub const VIP4: &str = "10.96.0.20";
pub const VIP6: &str = "fd00:10:96::20";

/// The berth binary under test (built by `cargo xtask test`, which sets
/// BERTH_BIN). Missing, the test fails: it never passes without running.
pub fn berth_bin() -> PathBuf {
    let p = std::env::var_os("BERTH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/berth")
        });
    assert!(
        p.exists(),
        "{} does not exist: run the tests through `cargo xtask test`",
        p.display()
    );
    p
}

pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "these tests load eBPF programs and create network namespaces: they need root \
         (run them through `cargo xtask test` as root)"
    );
}

pub struct Fixture {
    pub lan: Lan,
    /// Hosts 0..clients are clients; the others run the echo servers.
    pub clients: usize,
    pub cgroup: Cgroup,
    pub bpffs: PathBuf,
    pub file: PathBuf,
    pub tcp: Vec<TcpEcho>,
    pub udp: Vec<UdpEcho>,
    pub dataplane: Option<Child>,
    /// Environment of the data plane process (e.g. BERTH_SOCK_DESTROY).
    pub dataplane_env: Vec<(String, String)>,
    /// What the data plane wrote to stderr so far (also echoed).
    pub dataplane_log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Fixture {
    /// A LAN with a client and `backends` servers (TCP and UDP echo on
    /// :8080 answering "backend-N", v4 and v6), no data plane yet.
    pub fn new(backends: usize) -> Fixture {
        Fixture::with_clients(backends, 1)
    }

    /// The same with `clients` client hosts (0..clients), each its own
    /// network namespace: what affinity and Maglev see as a client.
    pub fn with_clients(backends: usize, clients: usize) -> Fixture {
        require_root();
        let lan = Lan::new(
            backends + clients,
            "10.244.50.0/24",
            Some("fd00:10:244:50::/64"),
        )
        .expect("lan");
        let mut tcp = Vec::new();
        let mut udp = Vec::new();
        for (i, h) in lan.hosts().iter().enumerate().skip(clients) {
            let id = format!("backend-{}", i + 1 - clients);
            tcp.push(
                TcpEcho::start(&h.netns, SocketAddr::new(IpAddr::V4(h.ipv4), 8080), &id)
                    .expect("tcp echo"),
            );
            // A second server per host, so that sets larger than a master
            // holds inline (slots) can be tested with few hosts.
            tcp.push(
                TcpEcho::start(
                    &h.netns,
                    SocketAddr::new(IpAddr::V4(h.ipv4), 8081),
                    &format!("{id}-b"),
                )
                .expect("tcp echo 8081"),
            );
            udp.push(
                UdpEcho::start(&h.netns, SocketAddr::new(IpAddr::V4(h.ipv4), 8080), &id)
                    .expect("udp echo"),
            );
            let v6 = h.ipv6.expect("v6 address");
            tcp.push(
                TcpEcho::start(&h.netns, SocketAddr::new(IpAddr::V6(v6), 8080), &id)
                    .expect("tcp6 echo"),
            );
            udp.push(
                UdpEcho::start(&h.netns, SocketAddr::new(IpAddr::V6(v6), 8080), &id)
                    .expect("udp6 echo"),
            );
        }
        let file = std::env::temp_dir().join(format!("{}.yaml", name::unique_long("dp")));
        Fixture {
            lan,
            clients,
            cgroup: Cgroup::new().expect("cgroup"),
            bpffs: name::unique_bpffs_dir(),
            file,
            tcp,
            udp,
            dataplane: None,
            dataplane_env: Vec::new(),
            dataplane_log: Default::default(),
        }
    }

    /// Backend addresses "ip:8080" (IPv4 and IPv6) of hosts 1..
    pub fn backends(&self) -> Vec<String> {
        let mut v = Vec::new();
        for h in self.lan.hosts().iter().skip(self.clients) {
            v.push(format!("{}:8080", h.ipv4));
            v.push(format!("[{}]:8080", h.ipv6.expect("v6")));
        }
        v
    }

    /// IPv4 backend addresses "ip:8080": `backend-N` at index N-1.
    pub fn v4_backends(&self) -> Vec<String> {
        self.lan
            .hosts()
            .iter()
            .skip(self.clients)
            .map(|h| format!("{}:8080", h.ipv4))
            .collect()
    }

    /// The static file with one dual-stack service `web` (TCP and UDP 80).
    pub fn web_yaml(backends: &[String]) -> String {
        let list = quoted(backends);
        format!(
            "services:\n  - name: web\n    vips: [{VIP4}, \"{VIP6}\"]\n    ports:\n      - port: 80\n        backends: [{list}]\n      - port: 80\n        protocol: UDP\n        backends: [{list}]\n  - name: empty\n    vips: [10.96.0.21, \"fd00:10:96::21\"]\n    ports:\n      - port: 80\n"
        )
    }

    pub fn write_file(&self, text: &str) {
        // Write + rename so the data plane never reads half a file.
        let tmp = self.file.with_extension("tmp");
        std::fs::write(&tmp, text).expect("write static file");
        std::fs::rename(&tmp, &self.file).expect("rename static file");
    }

    pub fn dataplane_command(&self, extra: &[&str]) -> Command {
        let mut c = Command::new(berth_bin());
        c.args(["dataplane", "run", "--static"])
            .arg(&self.file)
            .arg("--bpffs")
            .arg(&self.bpffs)
            .arg("--cgroup")
            .arg(self.cgroup.path())
            .args(["--poll-ms", "100"])
            .args(extra)
            .envs(self.dataplane_env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Starts `berth dataplane run` and waits until it says it is ready.
    pub fn start_dataplane(&mut self) {
        self.start_dataplane_with(&[]);
    }

    /// The same with extra arguments.
    pub fn start_dataplane_with(&mut self, extra: &[&str]) {
        let mut child = self
            .dataplane_command(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth dataplane run");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::clone(&self.dataplane_log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
                l.push_str(&line);
                l.push('\n');
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("ready") {
                    let _ = tx.send(line);
                }
            }
        });
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(_) => self.dataplane = Some(child),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().expect("wait");
                panic!("berth dataplane run did not become ready ({status})");
            }
        }
    }

    /// Waits (up to [`READY_TIMEOUT`]) until the data plane's stderr holds
    /// `text`; panics with the log otherwise.
    pub fn wait_log(&self, text: &str) {
        self.wait_log_since(0, text);
    }

    /// Where the data plane's log ends now: what [`Fixture::wait_log_since`]
    /// looks after.
    pub fn log_mark(&self) -> usize {
        self.dataplane_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Waits (up to [`READY_TIMEOUT`]) until the data plane logs `text`
    /// after `mark`: proof that it read what the test wrote since then.
    pub fn wait_log_since(&self, mark: usize, text: &str) {
        let deadline = std::time::Instant::now() + READY_TIMEOUT;
        loop {
            let log = self
                .dataplane_log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if log.get(mark..).is_some_and(|l| l.contains(text)) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the data plane never logged {text:?} after byte {mark}; its log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill9_dataplane(&mut self) {
        if let Some(mut c) = self.dataplane.take() {
            c.kill().expect("SIGKILL");
            c.wait().expect("wait");
        }
    }

    /// Runs lbprobe in the client host's namespace and the cgroup.
    pub fn probe(&self, args: &[&str]) -> Probe {
        let out = self.probe_child(args).output().expect("run lbprobe");
        Probe::from_output(&out, args)
    }

    pub fn probe_child(&self, args: &[&str]) -> Command {
        self.probe_child_from(0, args)
    }

    /// Runs lbprobe on client host `i`.
    pub fn probe_from(&self, i: usize, args: &[&str]) -> Probe {
        let out = self
            .probe_child_from(i, args)
            .output()
            .expect("run lbprobe");
        Probe::from_output(&out, args)
    }

    pub fn probe_child_from(&self, i: usize, args: &[&str]) -> Command {
        let mut c = in_netns_and_cgroup(
            env!("CARGO_BIN_EXE_lbprobe"),
            &self.lan.host(i).netns,
            Some(&self.cgroup),
        )
        .into_command();
        c.args(args);
        c
    }

    /// `berth dataplane list` of this fixture's data plane.
    pub fn list(&self) -> Output {
        let mut c = Command::new(berth_bin());
        c.args(["dataplane", "list", "--bpffs"]).arg(&self.bpffs);
        c.output().expect("run berth dataplane list")
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        Command::new(berth_bin())
            .args(args)
            .output()
            .expect("run berth")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.kill9_dataplane();
        let _ = Command::new(berth_bin())
            .args(["dataplane", "down", "--bpffs"])
            .arg(&self.bpffs)
            .output();
        let _ = std::fs::remove_file(&self.file);
    }
}

/// Backend addresses as the items of a YAML flow list: `"a", "b"`.
pub fn quoted(backends: &[String]) -> String {
    backends
        .iter()
        .map(|b| format!("\"{b}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `key=value` lines printed by lbprobe.
#[derive(Debug)]
pub struct Probe(pub BTreeMap<String, String>);

impl Probe {
    pub fn from_output(out: &Output, args: &[&str]) -> Probe {
        assert!(
            out.status.success(),
            "lbprobe {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        Probe(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    pub fn get(&self, k: &str) -> &str {
        self.0
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {k} in {:?}", self.0))
    }

    pub fn num(&self, k: &str) -> u64 {
        self.get(k)
            .parse()
            .unwrap_or_else(|_| panic!("{k} is not a number in {:?}", self.0))
    }

    /// Connections per backend id.
    pub fn ids(&self) -> BTreeMap<String, u64> {
        self.0
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("id.")?.to_string(), v.parse().ok()?)))
            .collect()
    }
}
