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
    // The CNI plugin is the same binary under another name.
    let cni = bin.with_file_name("berth-cni");
    if std::fs::read_link(&cni).ok().as_deref() != Some(std::path::Path::new("berth")) {
        let _ = std::fs::remove_file(&cni);
        std::os::unix::fs::symlink("berth", &cni)?;
    }
    Ok(())
}
