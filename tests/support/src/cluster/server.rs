//! `berth server` in a cluster: spawning it, and waiting until it has
//! written its credentials and until it listens.

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{API_PORT, SERVER_START_TIMEOUT};
use crate::error::{Error, Result};

/// Adds `berth server`'s arguments to `cmd` (a `berth` command): data in
/// `data`, listening on `ip`:[`API_PORT`] with `ip` in its certificate,
/// output appended to `log`; and spawns it.
pub fn spawn_server(
    cmd: &mut Command,
    data: &Path,
    ip: Ipv4Addr,
    log: &Path,
    args: &[String],
) -> Result<Child> {
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| Error::io(format!("open {}", log.display()), e))?;
    let err = out.try_clone().map_err(|e| Error::io("server log", e))?;
    cmd.arg("server")
        .arg("--data-dir")
        .arg(data)
        .arg("--listen")
        .arg(format!("{ip}:{API_PORT}"))
        .arg("--tls-san")
        .arg(ip.to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    cmd.spawn().map_err(|e| Error::io("spawn berth server", e))
}

/// What `berth server` prints once it listens.
const SERVING: &str = "berth server: serving on";

/// Waits until a server with data directory `data` has written its node
/// token and admin credentials.
pub fn wait_credentials(data: &Path) -> Result<()> {
    let deadline = Instant::now() + SERVER_START_TIMEOUT;
    while !(data.join("node-token").exists() && data.join("admin.conf").exists()) {
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: format!("berth server's credentials in {}", data.display()),
                after: SERVER_START_TIMEOUT,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// How many times the server whose output goes to `log` has said it
/// listens (one more after each start).
pub(super) fn serving_count(log: &Path) -> usize {
    fs::read_to_string(log)
        .unwrap_or_default()
        .matches(SERVING)
        .count()
}

/// Waits until the server whose output goes to `log` says it listens once
/// more than the `before` times counted before it was started.
pub(super) fn wait_serving(log: &Path, before: usize) -> Result<()> {
    let deadline = Instant::now() + SERVER_START_TIMEOUT;
    while serving_count(log) == before {
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: format!("berth server to listen ({SERVING:?} in {})", log.display()),
                after: SERVER_START_TIMEOUT,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
