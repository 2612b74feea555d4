//! `cargo xtask test [--tier unit|netns|vm]`: clean stale state, setup,
//! build, then the tiers, printing the time of each phase.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::{
    Tier, build, clean, setup,
    util::{Phases, sh, workspace_root},
};

pub fn run(tier: Option<Tier>) -> anyhow::Result<()> {
    let mut phases = Phases::default();
    let r = all(&mut phases, tier);
    phases.summary();
    r
}

fn all(p: &mut Phases, tier: Option<Tier>) -> anyhow::Result<()> {
    let want = |t: Tier| tier.is_none() || tier == Some(t);
    p.time("clean stale state", clean::run)?;
    p.time("setup", setup::run)?;
    p.time("build (release)", build::run)?;
    let bin = std::fs::canonicalize("target/release/berth").context("target/release/berth")?;
    if want(Tier::Unit) {
        unit(p)?;
    }
    if want(Tier::Netns) {
        netns(p, &bin)?;
        benches(p, &bin)?;
    }
    if want(Tier::Vm) {
        vm(p, &bin)?;
    }
    Ok(())
}

/// fmt, clippy, and the tests that need neither root nor a real kernel.
fn unit(p: &mut Phases) -> anyhow::Result<()> {
    p.time("fmt --check", || {
        sh(Command::new("cargo").args(["fmt", "--all", "--check"]))
    })?;
    p.time("clippy -D warnings", || {
        sh(Command::new("cargo").args([
            "clippy",
            "--release",
            "--locked",
            "--workspace",
            "--all-targets",
            "--features",
            build::BENCH,
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    ebpf_programs(p)?;
    p.time("unit tests", || {
        sh(Command::new("cargo").args([
            "test",
            "--release",
            "--locked",
            "--workspace",
            "--features",
            build::BENCH,
            "--exclude",
            "berth-e2e",
            "--exclude",
            "berth-test-support",
            "--exclude",
            "xtask",
            "--exclude",
            "berth-cni",
            "--exclude",
            "berth-cri-tests",
            "--exclude",
            "berth-node",
        ]))?;
        // berth-node: its library's tests (its tests/ run containerd).
        sh(Command::new("cargo").args([
            "test",
            "--release",
            "--locked",
            "-p",
            "berth-node",
            "--lib",
        ]))?;
        // berth-cni: everything but its network-namespace suite.
        sh(Command::new("cargo").args([
            "test",
            "--release",
            "--locked",
            "-p",
            "berth-cni",
            "--lib",
            "--bins",
            "--test",
            "ipam",
            "--test",
            "errors",
        ]))
    })?;
    Ok(())
}

/// fmt and clippy of ebpf/programs, which is outside the workspace: clippy
/// checks it for bpfel-unknown-none as berth-dataplane's build.rs builds it
/// (same flags, same environment removed), in a target directory of its
/// own so that it never invalidates that build's.
fn ebpf_programs(p: &mut Phases) -> anyhow::Result<()> {
    let root = workspace_root()?;
    let dir = root.join("ebpf/programs");
    p.time("ebpf/programs: fmt --check", || {
        sh(Command::new("cargo")
            .current_dir(&dir)
            .args(["fmt", "--check"]))
    })?;
    p.time("ebpf/programs: clippy -D warnings", || {
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&dir)
            .args([
                "clippy",
                "--release",
                "--locked",
                "-Z",
                "build-std=core",
                "--target",
                "bpfel-unknown-none",
                "--target-dir",
            ])
            .arg(root.join("target/ebpf-clippy"))
            .args(["--", "-D", "warnings"])
            .env("RUSTC_BOOTSTRAP", "1");
        for var in [
            "RUSTC",
            "RUSTC_WRAPPER",
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_TARGET",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_RUSTFLAGS",
        ] {
            cmd.env_remove(var);
        }
        sh(&mut cmd)
    })
}

/// The tests on the real kernel: eBPF, namespaces, containerd.
fn netns(p: &mut Phases, bin: &Path) -> anyhow::Result<()> {
    if !is_root() {
        bail!("the netns tier needs root: it loads eBPF programs and creates network namespaces");
    }
    p.time("netns tests (real kernel)", || {
        sh(Command::new("cargo")
            .args([
                "test",
                "--release",
                "--locked",
                "-p",
                "berth-test-support",
                "-p",
                "berth-e2e",
            ])
            .env("BERTH_BIN", bin))?;
        // berth-cni on real namespaces, and containerd's CRI calling it.
        let mut cni = Command::new("cargo");
        cni.args(["test", "--release", "--locked", "-p", "berth-cni"]);
        for t in CNI_NETNS_SUITES {
            cni.args(["--test", t]);
        }
        sh(&mut cni)?;
        sh(Command::new("cargo")
            .args(["test", "--release", "--locked", "-p", "berth-cri-tests"])
            .env("BERTH_BIN", bin))?;
        // The node agent's containerd and images, on a real containerd.
        sh(Command::new("cargo").args(["test", "--release", "--locked", "-p", "berth-node"]))
    })?;
    Ok(())
}

/// Each benchmark at a smoke size: its phase name and its arguments (the
/// JSON written under target/).
const SMOKE_BENCHES: &[(&str, &[&str])] = &[
    (
        "bench cni (smoke size)",
        &[
            "cni",
            "--pods",
            "16",
            "--json",
            "target/bench-cni-smoke.json",
        ],
    ),
    (
        "bench api (smoke size)",
        &[
            "api",
            "--services",
            "200",
            "--endpoints",
            "2000",
            "--watchers",
            "10",
            "--updates",
            "10",
            "--json",
            "target/bench-api-smoke.json",
        ],
    ),
    (
        "bench pods (smoke size)",
        &[
            "pods",
            "--pods",
            "5",
            "--json",
            "target/bench-pods-smoke.json",
        ],
    ),
    (
        "bench dns (smoke size)",
        &[
            "dns",
            "--services",
            "200",
            "--duration",
            "1",
            "--json",
            "target/bench-dns-smoke.json",
        ],
    ),
    (
        "bench lb (smoke size)",
        &[
            "lb",
            "--services",
            "1,200",
            "--samples",
            "300",
            "--json",
            "target/bench-smoke.json",
        ],
    ),
];

/// Every benchmark once, at a smoke size.
fn benches(p: &mut Phases, bin: &Path) -> anyhow::Result<()> {
    for (phase, args) in SMOKE_BENCHES {
        p.time(phase, || sh(Command::new(bin).arg("bench").args(*args)))?;
    }
    Ok(())
}

/// The guests: the data plane on Debian's kernel, and a VM cluster.
fn vm(p: &mut Phases, bin: &Path) -> anyhow::Result<()> {
    if !is_root() {
        bail!("the vm tier needs root: the guests' tests load eBPF programs");
    }
    p.time("vm: data plane suites on the guest kernel", || {
        crate::vm::test(bin)
    })?;
    p.time("vm: a 2-VM cluster, LB latency across VMs", || {
        crate::vm::cluster(bin, 2)
    })?;
    Ok(())
}

/// berth-cni's test suites that need root and real namespaces.
const CNI_NETNS_SUITES: &[&str] = &["netns", "stress", "attach", "masq", "reference"];

fn is_root() -> bool {
    crate::util::output(Command::new("id").arg("-u")).is_some_and(|s| s.trim() == "0")
}
