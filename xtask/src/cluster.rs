//! `cargo xtask cluster up [--nodes N]` / `cluster down`: a multi-node
//! cluster in network namespaces on this machine (see
//! berth_test_support::cluster), left running for exploring by hand.
//!
//! The cluster belongs to the `cluster up` process, which ends: so `cluster
//! down`, like any later `cargo xtask clean` or `test`, removes it as the
//! leftover of a process that is gone.

use std::time::Duration;

use anyhow::Context as _;
use berth_test_support::cluster::{Cluster, ClusterConfig};

use crate::{build, clean, setup};

/// Only catches a hang: the nodes' start.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

pub fn up(nodes: usize) -> anyhow::Result<()> {
    setup::run()?;
    build::run()?;
    let berth = std::fs::canonicalize("target/release/berth")?;
    eprintln!("cluster: starting a server and {nodes} nodes in network namespaces");
    let cfg = ClusterConfig {
        nodes,
        berth: berth.clone(),
        tag: "xtask".into(),
        underlay: "192.168.92.0/24".into(),
        underlay6: Some("fd00:192:168:92::/64".into()),
        server_args: Vec::new(),
        agent_args: Vec::new(),
    };
    let c = Cluster::start(cfg, READY_TIMEOUT).context("starting the cluster")?;
    let image = c.dir().join("busybox.oci.tar");
    crate::util::sh(
        std::process::Command::new(&berth)
            .args(["image", "build", "--busybox", "--name", "busybox", "-o"])
            .arg(&image),
    )?;
    c.import_image(&image)?;
    let conf = c.admin_conf();
    let ns = c.server_netns().name().to_string();
    let b = berth.display();
    println!("cluster: {nodes} nodes Ready, busybox imported on each");
    println!("  server  {}:6443 (network namespace {ns})", c.server_ip());
    for i in 1..=c.len() {
        let n = c.node(i);
        let ip6 = n.ip6.map(|ip| format!(", {ip}")).unwrap_or_default();
        println!(
            "  {}  {}{ip6} (network namespace {}, containerd {}, log {})",
            n.name,
            n.ip,
            c.node_netns(i).name(),
            n.containerd_socket().display(),
            n.log().display()
        );
    }
    println!(
        "\nUse it (the API listens in the server's namespace):\n  \
         ip netns exec {ns} {b} --config {} get nodes -o wide\n  \
         ip netns exec {ns} {b} --config {} apply -f app.yaml\n  \
         ip netns exec {ns} {b} --config {} exec --address <node's containerd> POD -- CMD\n\
         Remove it: cargo xtask cluster down",
        conf.display(),
        conf.display(),
        conf.display()
    );
    // Left running: `cluster down` removes it once this process is gone.
    std::mem::forget(c);
    Ok(())
}

pub fn down() -> anyhow::Result<()> {
    clean::run()
}
