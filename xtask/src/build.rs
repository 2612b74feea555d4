//! `cargo xtask build`: the one binary, eBPF programs included (built by
//! berth-dataplane's build.rs).

use std::process::Command;

use anyhow::bail;

use crate::util::sh;

/// The feature that puts `berth bench` in the binary: on in every build
/// xtask makes (and in its clippy and tests, which would otherwise rebuild
/// `target/release/berth` without it).
pub const BENCH: &str = "berth/bench";

pub fn run() -> anyhow::Result<()> {
    sh(Command::new("cargo").args([
        "build",
        "--release",
        "--locked",
        "-p",
        "berth",
        "--features",
        BENCH,
    ]))?;
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
