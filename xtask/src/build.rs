//! `cargo xtask build`: the one binary, eBPF programs included (built by
//! berth-dataplane's build.rs).

use std::process::Command;

use anyhow::bail;

use crate::util::sh;

pub fn run() -> anyhow::Result<()> {
    sh(Command::new("cargo").args(["build", "--release", "--locked", "-p", "berth"]))?;
    let bin = std::path::Path::new("target/release/berth");
    if !bin.exists() {
        bail!("{} was not produced", bin.display());
    }
    Ok(())
}
