//! Builds the eBPF programs (ebpf/programs) for bpfel-unknown-none with the
//! stable toolchain (RUSTC_BOOTSTRAP=1 for -Z build-std=core) and bpf-linker,
//! and hands the objects to the crate as `$OUT_DIR/berth-sock-lb.o` (the
//! socket LB), `$OUT_DIR/berth-sock-destroy.o` (the socket-destroy
//! iterators) and `$OUT_DIR/berth-nodeport.o` (the per-packet path). `BERTH_EBPF_OBJECT=/path/to/dir` skips the build and uses
//! the files of that directory.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

const OBJECTS: [&str; 3] = ["berth-sock-lb", "berth-sock-destroy", "berth-nodeport"];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let programs = manifest.join("../programs");
    let common = manifest.join("../common");
    for p in [
        programs.join("src"),
        programs.join("Cargo.toml"),
        programs.join("Cargo.lock"),
        common.join("src"),
        common.join("Cargo.toml"),
    ] {
        println!("cargo::rerun-if-changed={}", p.display());
    }
    println!("cargo::rerun-if-env-changed=BERTH_EBPF_OBJECT");

    if let Some(prebuilt) = env::var_os("BERTH_EBPF_OBJECT") {
        for o in OBJECTS {
            copy(&Path::new(&prebuilt).join(o), &out.join(format!("{o}.o")));
        }
        return;
    }

    let target_dir = manifest.join("../../target/ebpf");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&programs)
        .args([
            "build",
            "--release",
            "--locked",
            "-Z",
            "build-std=core",
            "--target",
            "bpfel-unknown-none",
            "--target-dir",
        ])
        .arg(&target_dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            "-Cdebuginfo=2\x1f-Clink-arg=--btf",
        );
    for var in [
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("could not run cargo to build the eBPF programs: {e}");
    });
    if !status.success() {
        panic!(
            "building the eBPF programs failed ({status}); `cargo xtask setup` installs \
             rust-src and bpf-linker, which this build needs"
        );
    }
    for o in OBJECTS {
        copy(
            &target_dir.join("bpfel-unknown-none/release").join(o),
            &out.join(format!("{o}.o")),
        );
    }
}

fn copy(from: &Path, to: &Path) {
    fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
}
