//! The processes the API benchmark starts: `berth server` and etcd, each
//! on loopback with its own temporary directory, killed on drop.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// How long a process may take to come up (only catches a hang).
const READY: Duration = Duration::from_secs(60);

/// A child killed when dropped.
#[derive(Debug)]
pub struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `berth server` on a free loopback port; returns it and its admin.conf.
pub fn berth_server(
    data_dir: &Path,
    datastore: &str,
    controllers: bool,
) -> anyhow::Result<(Proc, PathBuf)> {
    let bin = std::env::current_exe().context("finding the berth binary")?;
    let mut cmd = Command::new(bin);
    cmd.args(["server", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{}", free_port()?)])
        .args(["--datastore", datastore]);
    if !controllers {
        cmd.arg("--disable-controllers");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting berth server")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let proc = Proc { child };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("serving on") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(READY)
        .context("berth server did not start serving")?;
    Ok((proc, data_dir.join("admin.conf")))
}

/// A single-member etcd (Debian etcd-server) on loopback.
pub fn etcd(data_dir: &Path) -> anyhow::Result<(Proc, String)> {
    let (client, peer) = (free_port()?, free_port()?);
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let child = Command::new("etcd")
        .args(["--name", "bench", "--data-dir"])
        .arg(data_dir)
        .args([
            "--listen-client-urls",
            &client_url,
            "--advertise-client-urls",
            &client_url,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ])
        .args(["--initial-cluster", &format!("bench={peer_url}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting etcd (Debian package etcd-server; run `cargo xtask setup`)")?;
    let proc = Proc { child };
    let deadline = Instant::now() + READY;
    while std::net::TcpStream::connect(("127.0.0.1", client)).is_err() {
        if Instant::now() > deadline {
            bail!("etcd did not listen on {client_url}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((proc, format!("etcd://127.0.0.1:{client}")))
}

/// VmRSS of `pid` in MiB.
pub fn rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")?;
    Ok(kb / 1024.0)
}
