//! `cargo xtask build`: the one binary, eBPF programs included (built by
//! berth-dataplane's build.rs).

use std::process::Command;

use anyhow::bail;

use crate::util::run;

pub fn run_build() -> anyhow::Result<()> {
    run(Command::new("cargo").args(["build", "--release", "--locked", "-p", "berth"]))?;
    let bin = std::path::Path::new("target/release/berth");
    if !bin.exists() {
        bail!("{} was not produced", bin.display());
    }
    Ok(())
}

pub use run_build as run;
