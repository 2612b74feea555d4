//! `cargo xtask setup`: installs what is missing, idempotently, in well
//! under a second when everything is present.

use std::{path::PathBuf, process::Command};

use anyhow::{Context as _, bail};

use crate::util::{output, sh};

/// Debian packages the project uses.
pub const PACKAGES: &[&str] = &[
    "protobuf-compiler", // protoc, for gRPC protos
    // google/protobuf/*.proto (descriptor, struct, ...): etcd-client's
    // protos import them, and protobuf-compiler does not ship them.
    "libprotobuf-dev",
    "iproute2",                    // ip: test namespaces and the host's safety routes
    "iptables",                    // kube-proxy-style peer in berth bench lb
    "nftables",                    // nftables peer in berth bench lb
    "curl",                        // demo client on the host
    "containernetworking-plugins", // reference bridge + host-local (/usr/lib/cni): berth bench cni, cni/tests/reference.rs
    // containerd's CRI plugin with a locally built pause image: node agent,
    // tests/cri (berth-cri-tests).
    "containerd",
    "runc",
    "busybox-static",
    // berth-cni's ipMasq speaks nftables over netlink (nftnl + mnl crates).
    "libnftnl-dev",
    "libmnl-dev",
    "pkg-config",
    // dig: the DNS server's tests query it with a real client.
    "dnsutils",
    // etcd: berth-store's conformance suite runs its etcd backend against a
    // real etcd, started by the tests on loopback (never as a service).
    "etcd-server",
    // berth bench dns: the load generator, and the peer server. The bench
    // starts its own knotd (own config, rundir, storage, loopback port);
    // the package's service has no listen address and serves no zone, so
    // whether an init system starts it does not matter.
    "dnsperf",
    "knot",
    // bpftool: tests check that `berth down` leaves no program attached to
    // the cgroup it used.
    "bpftool",
    // The vm tier: qemu boots Debian's 6.1 kernel (fetched with apt-get
    // download, never installed); depmod indexes its modules and the
    // guest's modprobe loads them.
    "qemu-system-x86",
    "kmod",
];

/// bpf-linker, pinned; built against the toolchain's own LLVM.
pub const BPF_LINKER_VERSION: &str = "0.13.0";
pub const BPF_LINKER_LLVM_FEATURE: &str = "llvm-22";

/// The cluster's CIDRs: the host gets `unreachable` routes for them, so a
/// packet to an address nobody serves fails here instead of leaving.
pub const SAFETY_ROUTES: &[&str] = &[
    "10.96.0.0/12",
    "10.244.0.0/16",
    "fd00:10:96::/108",
    "fd00:10:244::/56",
];

pub fn run() -> anyhow::Result<()> {
    if !nix_is_root() {
        bail!("cargo xtask setup needs root (it installs packages, mounts bpffs, adds routes)");
    }
    packages()?;
    rust_src()?;
    bpf_linker()?;
    bpffs()?;
    safety_routes()?;
    Ok(())
}

fn nix_is_root() -> bool {
    output(Command::new("id").arg("-u")).is_some_and(|s| s.trim() == "0")
}

fn packages() -> anyhow::Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            !output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_some_and(|s| s.contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("setup: installing Debian packages: {}", missing.join(" "));
    sh(Command::new("apt-get").args(["update", "-q"]))?;
    sh(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn sysroot() -> anyhow::Result<PathBuf> {
    let s = output(Command::new("rustc").args(["--print", "sysroot"]))
        .context("rustc --print sysroot")?;
    Ok(PathBuf::from(s.trim()))
}

fn rust_src() -> anyhow::Result<()> {
    if sysroot()?
        .join("lib/rustlib/src/rust/library/core")
        .exists()
    {
        return Ok(());
    }
    eprintln!("setup: adding rust-src");
    sh(Command::new("rustup").args(["component", "add", "rust-src"]))
}

fn bpf_linker() -> anyhow::Result<()> {
    let have = output(Command::new("bpf-linker").arg("--version"))
        .is_some_and(|v| v.contains(BPF_LINKER_VERSION));
    if have {
        return Ok(());
    }
    let root = sysroot()?;
    let lib = root.join("lib");
    let llvm = std::fs::read_dir(&lib)?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("libLLVM.so.")
                    || (n.starts_with("libLLVM-")
                        && n.ends_with(".so")
                        && std::fs::metadata(p)
                            .map(|m| m.len() > 1_000_000)
                            .unwrap_or(false))
            })
        })
        .context("the toolchain has no libLLVM shared library")?;
    let link = lib.join("libLLVM.so");
    if !link.exists() {
        std::os::unix::fs::symlink(&llvm, &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    eprintln!(
        "setup: building bpf-linker {BPF_LINKER_VERSION} against {}",
        llvm.display()
    );
    sh(Command::new("cargo")
        .args([
            "install",
            "bpf-linker",
            "--locked",
            "--version",
            BPF_LINKER_VERSION,
        ])
        .args([
            "--no-default-features",
            "--features",
            BPF_LINKER_LLVM_FEATURE,
        ])
        .env("LLVM_PREFIX", &root))
}

fn bpffs() -> anyhow::Result<()> {
    let mounts = std::fs::read_to_string("/proc/self/mounts")?;
    if mounts.lines().any(|l| {
        l.split_whitespace().nth(1) == Some("/sys/fs/bpf")
            && l.split_whitespace().nth(2) == Some("bpf")
    }) {
        return Ok(());
    }
    eprintln!("setup: mounting bpffs at /sys/fs/bpf");
    std::fs::create_dir_all("/sys/fs/bpf")?;
    sh(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]))
}

fn safety_routes() -> anyhow::Result<()> {
    for cidr in SAFETY_ROUTES {
        let fam = if cidr.contains(':') { "-6" } else { "-4" };
        let shown =
            output(Command::new("ip").args([fam, "route", "show", "type", "unreachable", cidr]))
                .unwrap_or_default();
        if shown.contains(cidr.split('/').next().unwrap_or(cidr)) {
            continue;
        }
        eprintln!("setup: unreachable route for {cidr} on the host");
        sh(Command::new("ip").args([fam, "route", "replace", "unreachable", cidr]))?;
    }
    Ok(())
}
