//! The shape of north-south traffic: a client namespace on an outside
//! link to node 1, node 1 linked to node 2, and a pod behind each node
//! (TCP and UDP echo servers on :8080 answering `pod-1`/`pod-2` and, asked
//! `from?`, the address they see the client at). `berth dataplane run`
//! runs in node 1's network namespace (host mount namespace, so the bpffs
//! and cgroup are the host's), with the per-packet path on node 1's
//! devices.
//!
//! ```text
//! client 10.250.0.2 -- 10.250.0.1 node1 10.250.9.1 -- 10.250.9.2 node2
//!                                  10.250.1.1             10.250.2.1
//!                                      |                       |
//!                                  pod-1 10.250.1.2        pod-2 10.250.2.2
//! ```
//!
//! The same in IPv6: `fd00:250:N::X` for `10.250.N.X`.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream, UdpSocket},
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use berth_test_support::{Cgroup, Netns, TcpEcho, UdpEcho, Veth, name};

use super::{READY_TIMEOUT, berth_bin, require_root};

/// Node 1's address on the outside link: where NodePorts are reached, and
/// the address SNAT gives flows.
pub const NODE1: &str = "10.250.0.1";
pub const CLIENT: &str = "10.250.0.2";
pub const POD1: &str = "10.250.1.2";
pub const POD2: &str = "10.250.2.2";
pub const NODE1_6: &str = "fd00:250::1";
pub const CLIENT_6: &str = "fd00:250::2";
pub const POD1_6: &str = "fd00:250:1::2";
pub const POD2_6: &str = "fd00:250:2::2";
/// Only catches hangs of one exchange.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Edge {
    pub client: Netns,
    pub node1: Netns,
    pub node2: Netns,
    pub pods: [Netns; 2],
    /// The links: outside (client-node1), node1-node2, node1-pod1,
    /// node2-pod2. End B is on the node side (node 1 for the first two).
    pub links: [Veth; 4],
    pub cgroup: Cgroup,
    pub bpffs: PathBuf,
    pub file: PathBuf,
    _servers: (Vec<TcpEcho>, Vec<UdpEcho>),
    dataplane: Option<Child>,
    log: Arc<Mutex<String>>,
}

fn ns() -> Netns {
    Netns::new().expect("netns")
}

/// A link on subnet `n` (`10.250.n.0/24`, `fd00:250:n::/64`): A is `.2`,
/// B `.1`.
fn link(a: &Netns, b: &Netns, n: u8) -> Veth {
    let v = Veth::new(a, Some(b)).expect("veth");
    v.add_addr_a(&format!("10.250.{n}.2/24"))
        .expect("address A");
    v.add_addr_b(&format!("10.250.{n}.1/24"))
        .expect("address B");
    v.add_addr_a(&format!("fd00:250:{n}::2/64"))
        .expect("address A");
    v.add_addr_b(&format!("fd00:250:{n}::1/64"))
        .expect("address B");
    v
}

impl Edge {
    pub fn new() -> Edge {
        require_root();
        let (client, node1, node2) = (ns(), ns(), ns());
        let pods = [ns(), ns()];
        let links = [
            link(&client, &node1, 0),
            link(&node2, &node1, 9),
            link(&pods[0], &node1, 1),
            link(&pods[1], &node2, 2),
        ];
        let route = |n: &Netns, to: &str, via: &str| {
            let v6 = if via.contains(':') { "-6" } else { "-4" };
            n.ip(&[v6, "route", "add", to, "via", via]).expect("route");
        };
        for (n, to, via) in [
            (&client, "default", "10.250.0.1"),
            (&node1, "10.250.2.0/24", "10.250.9.2"),
            (&node2, "default", "10.250.9.1"),
            (&pods[0], "default", "10.250.1.1"),
            (&pods[1], "default", "10.250.2.1"),
            (&client, "default", "fd00:250::1"),
            (&node1, "fd00:250:2::/64", "fd00:250:9::2"),
            (&node2, "default", "fd00:250:9::1"),
            (&pods[0], "default", "fd00:250:1::1"),
            (&pods[1], "default", "fd00:250:2::1"),
        ] {
            route(n, to, via);
        }
        for n in [&client, &node1, &node2, &pods[0], &pods[1]] {
            n.ip(&["link", "set", "lo", "up"]).expect("lo up");
        }
        for n in [&node1, &node2] {
            n.enable_ip_forward().expect("forwarding");
            n.run(|| std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1"))
                .expect("namespace")
                .expect("IPv6 forwarding");
        }
        let mut tcp = Vec::new();
        let mut udp = Vec::new();
        for (i, (p, addrs)) in pods
            .iter()
            .zip([[POD1, POD1_6], [POD2, POD2_6]])
            .enumerate()
        {
            let id = format!("pod-{}", i + 1);
            for addr in addrs {
                let at = SocketAddr::new(addr.parse().expect("ip"), 8080);
                tcp.push(TcpEcho::start(p, at, &id).expect("tcp echo"));
                udp.push(UdpEcho::start(p, at, &id).expect("udp echo"));
            }
        }
        Edge {
            client,
            node1,
            node2,
            pods,
            links,
            cgroup: Cgroup::new().expect("cgroup"),
            bpffs: name::unique_bpffs_dir(),
            file: std::env::temp_dir().join(format!("{}.yaml", name::unique_long("np"))),
            _servers: (tcp, udp),
            dataplane: None,
            log: Arc::default(),
        }
    }

    /// Node 1's devices: the outside link (clients) and the two links
    /// replies come back on (from node 2, from pod 1).
    pub fn devices(&self) -> (String, String) {
        let l = &self.links;
        (
            l[0].b_name().to_string(),
            format!("{},{}", l[1].b_name(), l[2].b_name()),
        )
    }

    pub fn write_file(&self, text: &str) {
        let tmp = self.file.with_extension("tmp");
        std::fs::write(&tmp, text).expect("write static file");
        std::fs::rename(&tmp, &self.file).expect("rename static file");
    }

    /// Starts `berth dataplane run` in node 1 and waits for "ready".
    pub fn start(&mut self) {
        let (outside, replies) = self.devices();
        let mut c = self.node1.command(berth_bin());
        c.args(["dataplane", "run", "--static"])
            .arg(&self.file)
            .arg("--bpffs")
            .arg(&self.bpffs)
            .arg("--cgroup")
            .arg(self.cgroup.path())
            .args(["--poll-ms", "100", "--nodeport-devices", &outside])
            .args(["--nodeport-reply-devices", &replies])
            .args(["--snat-ipv4", NODE1, "--snat-ipv6", NODE1_6])
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn berth dataplane run");
        let stderr = child.stderr.take().expect("stderr");
        let stdout = child.stdout.take().expect("stdout");
        let log = Arc::clone(&self.log);
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
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(READY_TIMEOUT).is_err() {
            let _ = child.kill();
            let status = child.wait().expect("wait");
            panic!("berth dataplane run did not become ready ({status})");
        }
        self.dataplane = Some(child);
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.dataplane.take() {
            c.kill().expect("SIGKILL");
            c.wait().expect("wait");
        }
    }

    pub fn log_mark(&self) -> usize {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Waits until the data plane logs `text` after `mark`.
    pub fn wait_log_since(&self, mark: usize, text: &str) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let log = self.log.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if log.get(mark..).is_some_and(|l| l.contains(text)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the data plane never logged {text:?}; its log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        let out = Command::new(berth_bin())
            .args(args)
            .arg("--bpffs")
            .arg(&self.bpffs)
            .output()
            .expect("run berth");
        assert!(
            out.status.success(),
            "berth {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.kill9();
        let _ = Command::new(berth_bin())
            .args(["dataplane", "down", "--bpffs"])
            .arg(&self.bpffs)
            .output();
        let _ = std::fs::remove_file(&self.file);
    }
}

/// What a pod answered to `from?`: its id and the address it saw the
/// client at, or why there was no answer.
pub type Answer = Result<(String, String), String>;

/// One TCP exchange from the client: `(id, address the pod saw)`.
pub fn tcp_from(edge: &Edge, to: SocketAddr) -> Answer {
    edge.client
        .run(move || {
            let mut s = TcpStream::connect_timeout(&to, IO_TIMEOUT).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(IO_TIMEOUT))
                .map_err(|e| e.to_string())?;
            s.write_all(b"from?\n").map_err(|e| e.to_string())?;
            let mut reply = String::new();
            s.read_to_string(&mut reply).map_err(|e| e.to_string())?;
            split(&reply)
        })
        .expect("client namespace")
}

/// One UDP exchange from the client over a connected socket (a reply from
/// any other source than `to` is not received): `(id, address seen)`.
pub fn udp_from(edge: &Edge, to: SocketAddr) -> Answer {
    edge.client
        .run(move || {
            let any = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let s = UdpSocket::bind(any).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(IO_TIMEOUT))
                .map_err(|e| e.to_string())?;
            s.connect(to).map_err(|e| e.to_string())?;
            s.send(b"from?\n").map_err(|e| e.to_string())?;
            let mut buf = [0u8; 256];
            let n = s.recv(&mut buf).map_err(|e| e.to_string())?;
            split(&String::from_utf8_lossy(&buf[..n]))
        })
        .expect("client namespace")
}

fn split(reply: &str) -> Answer {
    let mut w = reply.split_whitespace();
    match (w.next(), w.next()) {
        (Some(id), Some(peer)) => {
            let ip = peer
                .parse::<SocketAddr>()
                .map_or_else(|_| peer.to_string(), |a| a.ip().to_string());
            Ok((id.to_string(), ip))
        }
        _ => Err(format!("unexpected reply {reply:?}")),
    }
}
