//! The API part of `cargo xtask up`: a `berth server` with its own data
//! dir under target/, a manifest applied with the CLI, `berth get`, then
//! the server stopped.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use crate::util::sh;

/// How long the server may take to start (only catches a hang).
const READY: Duration = Duration::from_secs(60);

const DEMO: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: busybox
        command: [httpd, -f, -p, '8080']
        ports: [{containerPort: 8080, name: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
";

pub fn run(bin: &Path) -> anyhow::Result<()> {
    let dir = std::fs::canonicalize("target")?.join("up-server");
    let _ = std::fs::remove_dir_all(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut server = Command::new(bin)
        .args(["server", "--data-dir"])
        .arg(&dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting berth server")?;
    let stdout = server.stdout.take().context("server stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            let _ = tx.send(());
        }
    });
    let result = (|| {
        rx.recv_timeout(READY)
            .context("berth server did not start")?;
        let manifest = dir.join("demo.yaml");
        std::fs::write(&manifest, DEMO)?;
        let config = dir.join("admin.conf");
        let cli = |args: &[&str]| {
            println!("$ berth {}", args.join(" "));
            sh(Command::new(bin).args(args).env("BERTH_CONFIG", &config))
        };
        cli(&["apply", "-f", &manifest.display().to_string()])?;
        // The controllers make a ReplicaSet and its pods; with no node
        // agent yet (issue 7) the scheduler says why they stay Pending.
        std::thread::sleep(Duration::from_millis(500));
        cli(&["get", "deploy,rs,pods,svc", "-o", "wide"])?;
        cli(&["scale", "deploy/web", "--replicas", "5"])?;
        std::thread::sleep(Duration::from_millis(300));
        cli(&["get", "deploy,rs"])?;
        cli(&["get", "events"])?;
        println!(
            "(no node agent yet: pods stay Pending until `berth agent` (issue 7) registers a node)"
        );
        Ok(())
    })();
    let _ = Command::new("kill").arg(server.id().to_string()).status();
    let _ = server.wait();
    result
}
