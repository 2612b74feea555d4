//! A real etcd for one test: Debian's `etcd` binary on 127.0.0.1 with free
//! client and peer ports and a temporary data dir, killed (SIGKILL) when
//! dropped. A missing binary fails the test with what to install.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use berth_store::{EtcdOptions, EtcdStore, Store as _};

/// A running etcd, stopped on drop.
pub struct EtcdServer {
    child: Child,
    /// The client URL, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    // Holds the data dir and the log until the server is gone.
    _dir: tempfile::TempDir,
}

/// The etcd binary: `$BERTH_ETCD`, else `etcd` on PATH, else Debian's path.
fn etcd_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_ETCD") {
        let p = PathBuf::from(p);
        anyhow::ensure!(p.is_file(), "BERTH_ETCD={} is not a file", p.display());
        return Ok(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join("etcd"))
        .find(|p| p.is_file())
        .context(
            "etcd not found (looked at $BERTH_ETCD, PATH and /usr/bin): the etcd backend's \
             conformance tests need a real etcd; install Debian's etcd-server package \
             (`cargo xtask setup` does) or point BERTH_ETCD at an etcd binary",
        )
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl EtcdServer {
    /// Starts etcd and waits until it answers.
    pub async fn start() -> anyhow::Result<Self> {
        let bin = etcd_binary()?;
        let mut last = None;
        // A port picked free can be taken before etcd binds it: retry.
        for _ in 0..3 {
            match Self::try_start(&bin).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("etcd did not start")))
    }

    async fn try_start(bin: &PathBuf) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-etcd")
            .tempdir()?;
        let (client, peer) = (free_port()?, free_port()?);
        let endpoint = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log_path = dir.path().join("etcd.log");
        let log = File::create(&log_path)?;
        // setpriv (util-linux, always on Debian) makes the kernel kill etcd
        // if the test process dies without running Drop (e.g. kill -9).
        let mut cmd = match Path::new("/usr/bin/setpriv").is_file() {
            true => {
                let mut c = Command::new("/usr/bin/setpriv");
                c.args(["--pdeathsig", "KILL", "--"]).arg(bin);
                c
            }
            false => Command::new(bin),
        };
        let child = cmd
            .arg("--name=berth-test")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=berth-test={peer_url}"))
            .arg("--initial-cluster-state=new")
            .env_remove("ETCD_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        let mut server = Self {
            child,
            endpoint,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = server.child.try_wait()? {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!("etcd exited ({status}) while starting:\n{}", tail(&log));
            }
            if server.healthy().await {
                return Ok(server);
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!("etcd did not become healthy in 20 s:\n{}", tail(&log));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn healthy(&self) -> bool {
        let opts =
            EtcdOptions::new([self.endpoint.clone()]).connect_timeout(Duration::from_millis(500));
        match tokio::time::timeout(Duration::from_secs(2), async {
            EtcdStore::connect(opts).await?.current_revision().await
        })
        .await
        {
            Ok(r) => r.is_ok(),
            Err(_) => false,
        }
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
