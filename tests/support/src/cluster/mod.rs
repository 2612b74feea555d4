//! A multi-node Berth cluster in network namespaces on one machine: the
//! topology of the cluster tests and `cargo xtask cluster up`.
//!
//! ```text
//!   server (.1)        node-1 (.2)          node-2 (.3)       ...
//!   berth server       berth agent          berth agent
//!                      ├ containerd, runc   ├ ...
//!                      ├ berth dns
//!                      └ pods (berth-cni)
//!   ───────────────── underlay bridge (a Lan) ──────────────────
//! ```
//!
//! Each node is a network namespace with its own agent, containerd (own
//! root, state and socket, started by the agent inside the node's
//! namespace), pod bridge, cgroup-v2 subtree for its socket-LB hooks
//! (`--cgroup-root`, the pods' `--cgroup-parent` beneath it), bpffs
//! directory, and the pod CIDR the server hands it; the server has a
//! namespace of its own and listens on its underlay address. Everything
//! lives in `/tmp/berth-test-node-<pid>-<tag>/`; dropping the cluster
//! kills its processes, removes its containers, network namespaces,
//! mounts, pins, cgroups and directory (and `cargo xtask clean` does the
//! same for a killed owner's).

use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::cgroup::Cgroup;
use crate::error::{Error, Result};
use crate::lan::Lan;
use crate::name;
use crate::netns::Netns;

mod server;

pub use server::{spawn_server, wait_credentials};

/// The API server's port on its underlay address.
pub const API_PORT: u16 = 6443;
/// How long the server may take to write its credentials.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(60);

/// What to start.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Nodes running an agent.
    pub nodes: usize,
    /// The berth binary.
    pub berth: PathBuf,
    /// Names this cluster's directory and bpffs pins (with the pid).
    pub tag: String,
    /// The underlay subnet (inside the cluster's namespaces only).
    pub underlay: String,
    /// Its IPv6 subnet, for dual-stack nodes (`--node-ip v4,v6`): pods'
    /// IPv6 CIDRs are then routed host-gw over the nodes' IPv6 addresses.
    pub underlay6: Option<String>,
    /// More `berth server` arguments.
    pub server_args: Vec<String>,
    /// More `berth agent` arguments (every node); `{link}` in one stands
    /// for the node's underlay interface.
    pub agent_args: Vec<String>,
}

/// One node.
#[derive(Debug)]
pub struct ClusterNode {
    /// The Node's name (`node-<i>`).
    pub name: String,
    /// Its underlay address.
    pub ip: Ipv4Addr,
    /// Its IPv6 underlay address (a dual-stack underlay).
    pub ip6: Option<Ipv6Addr>,
    /// Its directory (state, run, CNI, logs).
    pub dir: PathBuf,
    /// The cgroup its socket-LB hooks attach to; pods live beneath.
    pub cgroup: Cgroup,
    /// Its data plane's pins.
    pub bpffs: PathBuf,
    agent: Option<Child>,
}

impl ClusterNode {
    /// The node's containerd socket (for `berth exec --address`).
    pub fn containerd_socket(&self) -> PathBuf {
        containerd_socket(&self.dir)
    }

    /// The agent's log.
    pub fn log(&self) -> PathBuf {
        self.dir.join("agent.log")
    }
}

/// The containerd socket of an agent whose directory is `dir`.
fn containerd_socket(dir: &Path) -> PathBuf {
    dir.join("run/containerd/containerd.sock")
}

/// The last `n` lines of a log (empty if it cannot be read).
pub fn tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// How one `berth agent` is started: everything it keeps under `dir`
/// (state, run, CNI, pod logs).
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// `https://IP:PORT` of the server.
    pub server: String,
    /// The server's node token.
    pub token: PathBuf,
    /// The Node's name.
    pub name: String,
    /// The node's address.
    pub ip: Ipv4Addr,
    /// Its IPv6 address, for a dual-stack node.
    pub ip6: Option<Ipv6Addr>,
    /// The node's directory.
    pub dir: PathBuf,
    /// The cgroup its socket-LB hooks attach to, pods beneath it (the
    /// cgroup-v2 root and the default parent when `None`).
    pub cgroup: Option<PathBuf>,
    /// Its data plane's pins (the default when `None`).
    pub bpffs: Option<PathBuf>,
    /// More arguments.
    pub args: Vec<String>,
    /// Where its output is appended.
    pub log: PathBuf,
}

impl AgentSpec {
    /// Adds the agent's arguments to `cmd` (a `berth` command, possibly
    /// set to start in a namespace) and spawns it.
    pub fn spawn(&self, cmd: &mut Command) -> Result<Child> {
        fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(format!("mkdir {}", self.dir.display()), e))?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| Error::io("agent log", e))?;
        let err = log.try_clone().map_err(|e| Error::io("agent log", e))?;
        let d = |s: &str| self.dir.join(s);
        cmd.arg("agent")
            .args(["--server", &self.server])
            .arg("--token-file")
            .arg(&self.token)
            .args(["--node-name", &self.name])
            .args(["--node-ip", &self.node_ips()])
            .arg("--data-dir")
            .arg(d("state/agent"))
            .arg("--run-dir")
            .arg(d("run"))
            .arg("--cni-bin-dir")
            .arg(d("cni-bin"))
            .arg("--cni-conf-dir")
            .arg(d("cni-conf"))
            .arg("--pod-log-dir")
            .arg(d("logs/pods"));
        if let Some(cg) = &self.cgroup {
            let rel = cg.file_name().and_then(|s| s.to_str()).unwrap_or_default();
            cmd.args(["--cgroup-parent", &format!("/{rel}/pods")])
                .arg("--cgroup-root")
                .arg(cg);
        }
        if let Some(b) = &self.bpffs {
            cmd.arg("--bpffs").arg(b);
        }
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        cmd.spawn().map_err(|e| Error::io("spawn berth agent", e))
    }

    /// The node's containerd socket (the agent starts containerd).
    pub fn containerd_socket(&self) -> PathBuf {
        containerd_socket(&self.dir)
    }

    /// `--node-ip`: the IPv4 address, and the IPv6 one after a comma.
    fn node_ips(&self) -> String {
        match self.ip6 {
            Some(v6) => format!("{},{v6}", self.ip),
            None => self.ip.to_string(),
        }
    }
}

/// A running cluster. Host 0 of the [`Lan`] is the server, host `i` is
/// node `i`.
#[derive(Debug)]
pub struct Cluster {
    cfg: ClusterConfig,
    dir: PathBuf,
    server: Option<Child>,
    nodes: Vec<ClusterNode>,
    // Dropped last: the namespaces.
    lan: Lan,
}

impl Cluster {
    /// Starts the server and every agent; returns once each node has
    /// registered and is Ready.
    pub fn start(cfg: ClusterConfig, ready_timeout: Duration) -> Result<Cluster> {
        let dir = PathBuf::from(format!(
            "/tmp/berth-test-node-{}-{}",
            std::process::id(),
            cfg.tag
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| Error::io(format!("mkdir {}", dir.display()), e))?;
        let lan = Lan::new(cfg.nodes + 1, &cfg.underlay, cfg.underlay6.as_deref())?;
        let mut nodes = Vec::new();
        for i in 1..=cfg.nodes {
            let host = lan.host(i);
            host.netns.enable_ip_forward()?;
            nodes.push(ClusterNode {
                name: format!("node-{i}"),
                ip: host.ipv4,
                ip6: host.ipv6,
                dir: dir.join(format!("node-{i}")),
                cgroup: Cgroup::new()?,
                bpffs: name::unique_bpffs_dir(),
                agent: None,
            });
        }
        let mut c = Cluster {
            cfg,
            dir,
            server: None,
            nodes,
            lan,
        };
        c.start_server()?;
        for i in 1..=c.nodes.len() {
            c.start_agent(i)?;
        }
        c.wait_ready(ready_timeout)?;
        Ok(c)
    }

    /// The server's underlay address.
    pub fn server_ip(&self) -> Ipv4Addr {
        self.lan.host(0).ipv4
    }

    /// The server's namespace (the CLI runs there).
    pub fn server_netns(&self) -> &Netns {
        &self.lan.host(0).netns
    }

    /// Node `i` (1-based).
    pub fn node(&self, i: usize) -> &ClusterNode {
        &self.nodes[i - 1]
    }

    /// Node `i`'s namespace.
    pub fn node_netns(&self, i: usize) -> &Netns {
        &self.lan.host(i).netns
    }

    /// Node `i`'s interface on the underlay (inside its namespace).
    pub fn node_link(&self, i: usize) -> &str {
        &self.lan.host(i).ifname
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The admin credentials.
    pub fn admin_conf(&self) -> PathBuf {
        self.dir.join("server/admin.conf")
    }

    fn start_server(&mut self) -> Result<()> {
        let data = self.dir.join("server");
        let log = self.dir.join("server.log");
        let before = server::serving_count(&log);
        let mut cmd = self.server_netns().command(&self.cfg.berth);
        let child = spawn_server(
            &mut cmd,
            &data,
            self.server_ip(),
            &log,
            &self.cfg.server_args,
        )?;
        self.server = Some(child);
        wait_credentials(&data)?;
        // The credentials are written before the server listens: an agent
        // started in between would find the port closed.
        server::wait_serving(&log, before)
    }

    /// Kills the server (SIGKILL) and starts it again on the same data
    /// directory and address; returns once it answers.
    pub fn restart_server(&mut self, timeout: Duration) -> Result<()> {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        self.start_server()?;
        let deadline = Instant::now() + timeout;
        while !self.cli(&["get", "nodes"])?.status.success() {
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    what: format!("the restarted server to answer\n{}", self.log_tails(15)),
                    after: timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Starts node `i`'s agent (again, after [`Cluster::kill_agent`]).
    pub fn start_agent(&mut self, i: usize) -> Result<()> {
        let n = &self.nodes[i - 1];
        let spec = AgentSpec {
            server: format!("https://{}:{API_PORT}", self.server_ip()),
            token: self.dir.join("server/node-token"),
            name: n.name.clone(),
            ip: n.ip,
            ip6: n.ip6,
            dir: n.dir.clone(),
            cgroup: Some(n.cgroup.path().to_path_buf()),
            bpffs: Some(n.bpffs.clone()),
            args: self
                .cfg
                .agent_args
                .iter()
                .map(|a| a.replace("{link}", &self.lan.host(i).ifname))
                .collect(),
            log: n.log(),
        };
        let mut cmd = self.lan.host(i).netns.command(&self.cfg.berth);
        let child = spec.spawn(&mut cmd)?;
        self.nodes[i - 1].agent = Some(child);
        Ok(())
    }

    /// Kills node `i`'s agent (SIGKILL); its pods and containerd go on.
    pub fn kill_agent(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i - 1].agent.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Crashes node `i` as a power cut would: SIGKILL to its agent, and
    /// at once to every process in its network namespace (containerd, the
    /// shims, the DNS process) and its cgroup subtree (the pods). Its files
    /// stay; [`Cluster::start_agent`] boots it again. Returns how many
    /// processes were killed.
    pub fn crash_node(&mut self, i: usize) -> Result<usize> {
        if let Some(mut c) = self.nodes[i - 1].agent.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let ino = self.node_netns(i).ino();
        let cgroup = self.nodes[i - 1].cgroup.path().to_path_buf();
        let name = self.nodes[i - 1].name.clone();
        crate::crash::kill_until_gone(&name, || {
            let mut pids = crate::crash::pids_in_netns(ino);
            pids.extend(crate::crash::pids_in_cgroup_tree(&cgroup));
            pids
        })
        .map(|n| n + 1)
    }

    /// Takes node `i`'s underlay link down (a partition) or up again.
    pub fn set_link(&self, i: usize, up: bool) -> Result<()> {
        let ifname = self.node_link(i).to_string();
        self.node_netns(i)
            .ip(&["link", "set", &ifname, if up { "up" } else { "down" }])?;
        if up {
            // The on-link default route goes with the link.
            let _ = self
                .node_netns(i)
                .ip(&["route", "replace", "default", "dev", &ifname]);
        }
        Ok(())
    }

    /// `berth --config <admin.conf> ARGS` in the server's namespace.
    pub fn cli(&self, args: &[&str]) -> Result<Output> {
        self.server_netns()
            .command(&self.cfg.berth)
            .arg("--config")
            .arg(self.admin_conf())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::io(format!("berth {args:?}"), e))
    }

    /// Like [`Cluster::cli`], failing with stderr unless it succeeds.
    pub fn cli_ok(&self, args: &[&str]) -> Result<String> {
        let out = self.cli(args)?;
        if !out.status.success() {
            return Err(Error::Command {
                cmd: format!("berth {}", args.join(" ")),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `berth exec POD -- CMD` through the containerd of node `i`.
    pub fn exec(&self, i: usize, pod: &str, cmd: &[&str]) -> Result<Output> {
        self.exec_command(i, pod, cmd)
            .output()
            .map_err(|e| Error::io(format!("berth exec {pod} {cmd:?}"), e))
    }

    /// The same, not started (to run it beside something else).
    pub fn exec_command(&self, i: usize, pod: &str, cmd: &[&str]) -> Command {
        let mut c = self.server_netns().command(&self.cfg.berth);
        c.arg("--config")
            .arg(self.admin_conf())
            .arg("exec")
            .arg("--address")
            .arg(self.node(i).containerd_socket())
            .arg(pod)
            .arg("--")
            .args(cmd)
            .stdin(Stdio::null());
        c
    }

    /// Waits until every node is registered and Ready, and its containerd
    /// serves.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            for n in &mut self.nodes {
                if let Some(status) = n.agent.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    n.agent = None;
                    return Err(Error::Command {
                        cmd: format!("berth agent ({})", n.name),
                        stderr: format!("exited: {status}\n{}", self.log_tails(30)),
                    });
                }
            }
            let out = self.cli(&["get", "nodes"])?;
            let text = String::from_utf8_lossy(&out.stdout);
            let ready = self
                .nodes
                .iter()
                .filter(|n| {
                    text.lines().any(|l| {
                        let mut f = l.split_whitespace();
                        f.next() == Some(n.name.as_str()) && f.next() == Some("Ready")
                    })
                })
                .count();
            let sockets = self.nodes.iter().all(|n| n.containerd_socket().exists());
            if ready == self.nodes.len() && sockets {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    what: format!(
                        "{} nodes Ready (berth get nodes:\n{text}{})\n{}",
                        self.nodes.len(),
                        String::from_utf8_lossy(&out.stderr),
                        self.log_tails(15)
                    ),
                    after: timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The last `n` lines of the server's and each agent's log.
    pub fn log_tails(&self, n: usize) -> String {
        let mut out = String::new();
        let logs = std::iter::once(("server".to_string(), self.dir.join("server.log")))
            .chain(self.nodes.iter().map(|x| (x.name.clone(), x.log())));
        for (name, path) in logs {
            out.push_str(&format!("--- {name} ({}):\n", path.display()));
            out.push_str(&tail(&path, n));
            out.push('\n');
        }
        out
    }

    /// Imports `archive` (an OCI image archive) into every node's containerd.
    pub fn import_image(&self, archive: &Path) -> Result<()> {
        for n in &self.nodes {
            let out = Command::new(&self.cfg.berth)
                .args(["image", "import", "--address"])
                .arg(n.containerd_socket())
                .arg(archive)
                .output()
                .map_err(|e| Error::io("berth image import", e))?;
            if !out.status.success() {
                return Err(Error::Command {
                    cmd: format!("berth image import (node {})", n.name),
                    stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                });
            }
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.agent.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        // containerd, shims, the DNS processes, runc containers, their
        // network namespaces and mounts, and the directory.
        crate::leftovers::clean_node_dir(&self.dir, |what| tracing::debug!("{what}"));
        for n in &self.nodes {
            let _ = fs::remove_dir_all(&n.bpffs);
            if let Some(name) = n.cgroup.path().file_name() {
                crate::cgroup::remove_v1(name);
            }
        }
    }
}
