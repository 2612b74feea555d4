//! `cargo xtask up`: setup, build, then `berth up --detach`: a one-node
//! cluster on this machine (server, agent, containerd, the eBPF data plane,
//! node DNS) running the demo — a 3-replica Deployment and its Service,
//! resolved by name and balanced from a client pod, LB latency VIP vs
//! direct — then `berth status` and how to use and stop the cluster. A
//! second run resumes the same cluster.

use std::process::Command;

use crate::{build, setup, util::Phases, util::sh};

pub fn run() -> anyhow::Result<()> {
    let mut p = Phases::default();
    p.time("setup", setup::run)?;
    p.time("build (release)", build::run)?;
    let bin = std::fs::canonicalize("target/release/berth")?;
    p.time("berth up --detach: the cluster and its demo", || {
        sh(Command::new(&bin).args(["up", "--detach"]))
    })?;
    sh(Command::new(&bin).arg("status"))?;
    p.summary();
    let b = bin.display();
    println!(
        "\nThe cluster keeps running (state /var/lib/berth; the CLI reads ~/.berth/config):\n  \
         {b} get pods,svc,endpointslices -o wide\n  \
         {b} exec client -- nslookup web.default.svc.cluster.local\n  \
         {b} scale deploy/web --replicas 5\n  \
         {b} dataplane list\n  \
         {b} apply -f app.yaml\n\
         Stop it: {b} down   (--purge also wipes its state; a later `up` resumes otherwise)\n\
         Benchmarks: {b} bench lb|dns|cni|api|pods (docs/benchmarks.md)"
    );
    Ok(())
}
