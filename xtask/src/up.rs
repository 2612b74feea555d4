//! `cargo xtask up`: setup, build, and run what exists of Berth: today the
//! data plane alone, with a demo service in network namespaces and the LB
//! benchmark; then what is not there yet.

use std::process::Command;

use crate::{build, setup, util::Phases, util::sh};

pub fn run() -> anyhow::Result<()> {
    let mut p = Phases::default();
    p.time("setup", setup::run)?;
    p.time("build (release)", build::run)?;
    let bin = std::fs::canonicalize("target/release/berth")?;
    p.time("demo: a VIP with 3 backends in network namespaces", || {
        sh(Command::new(&bin).args(["bench", "demo"]))
    })?;
    p.time("LB latency: VIP vs direct vs iptables vs nftables", || {
        sh(Command::new(&bin).args([
            "bench",
            "lb",
            "--services",
            "1,1000",
            "--samples",
            "1000",
            "--json",
            "target/bench-up.json",
        ]))
    })?;
    sh(Command::new(&bin).arg("status"))?;
    p.summary();
    println!(
        "\nThe demo cleaned up after itself. To run the load balancer yourself:\n  \
         target/release/berth dataplane run --static FILE   (schema: README, 'Data plane')\n  \
         target/release/berth dataplane list\n  \
         target/release/berth dataplane down"
    );
    Ok(())
}
