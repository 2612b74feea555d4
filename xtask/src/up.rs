//! `cargo xtask up`: setup, build, and run what exists of Berth: the data
//! plane with a demo service in network namespaces and the LB benchmark,
//! the cluster DNS against knot, the API server with the CLI; then what is
//! not there yet.

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
    p.time("cluster DNS: berth dns vs knot under dnsperf", || {
        sh(Command::new(&bin).args([
            "bench",
            "dns",
            "--services",
            "1000",
            "--duration",
            "2",
            "--json",
            "target/bench-dns-up.json",
        ]))
    })?;
    p.time("API server: apply, get, scale with the CLI", || {
        crate::up_api::run(&bin)
    })?;
    sh(Command::new(&bin).arg("status"))?;
    p.summary();
    println!(
        "\nThe demos cleaned up after themselves. To run the parts yourself:\n  \
         target/release/berth dataplane run --static FILE   (schema: README, 'Data plane')\n  \
         target/release/berth dns --static MANIFESTS --listen 127.0.0.1:5353 --no-upstream\n  \
         target/release/berth server --data-dir DIR   then BERTH_CONFIG=DIR/admin.conf berth apply|get ...\n  \
         target/release/berth dataplane list | down"
    );
    Ok(())
}
