//! `berth server` (the binary under test) on a free loopback port, with
//! its data dir at `dir`.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Only catches a hang: how long the server may take to start serving.
pub const SERVER_READY: Duration = Duration::from_secs(60);

/// Starts the server and waits for its "serving on" line; the caller
/// kills it (its credentials are `dir/admin.conf`).
pub fn start_server(dir: &Path) -> Child {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(super::berth_bin())
        .args(["server", "--data-dir"])
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("serving on") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(SERVER_READY)
        .expect("berth server never said it was serving");
    child
}
