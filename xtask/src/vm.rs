//! `cargo xtask vm [-- CMD...]` and the vm test tier: guests on Debian's
//! 6.1 kernel under qemu (KVM where a guest boots under it, TCG otherwise),
//! running the host's own build through its root shared read-only (see
//! berth_test_support::vm).

use std::{path::PathBuf, process::Command, time::Duration};

use anyhow::{Context as _, bail};
use berth_test_support::vm::{
    Job, VmHost,
    job::{quote, quote_path},
};

/// Where the guest kernel, initramfs and job files live (on the host's
/// root, so the guest sees them at the same path).
pub fn cache_dir() -> anyhow::Result<PathBuf> {
    Ok(std::env::current_dir()?.join("target/vm"))
}

/// The data plane's end-to-end suites that run in the guest: the socket LB,
/// its policies (affinity, Maglev) and draining (socket termination through
/// sock_diag, the path 6.1 takes).
pub const GUEST_SUITES: &[&str] = &["lb", "lb_policy", "lb_drain"];

/// Only catches a hang: the data plane suites under TCG on 2 vCPUs.
pub const SUITES_TIMEOUT: Duration = Duration::from_secs(40 * 60);

/// Only catches a hang: an ad-hoc command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Guest size: this machine's 2 cores, and memory to spare of its 24 GiB.
const CPUS: u32 = 2;
const MEMORY_MIB: u32 = 4096;

/// Prepares the kernel and initramfs and says which accelerator guests get.
pub fn host() -> anyhow::Result<VmHost> {
    let cache = cache_dir()?;
    let mut host = VmHost::prepare(&cache).context("preparing the guest kernel and initramfs")?;
    let accel = host.accel();
    eprintln!(
        "vm: guest kernel {} (Debian {}), qemu {}, accelerator {}: {}",
        host.kernel().release,
        berth_test_support::vm::kernel::KERNEL_PACKAGE,
        berth_test_support::vm::qemu::qemu_version(),
        accel.accel.name().to_uppercase(),
        accel.why
    );
    Ok(host)
}

/// `cargo xtask vm -- CMD...`: CMD in one guest (a shell if none), from the
/// workspace root.
pub fn run(cmd: &[String]) -> anyhow::Result<()> {
    let root = std::env::current_dir()?;
    let body = if cmd.is_empty() {
        "uname -a; cat /proc/cmdline; ls /sys/fs/bpf; ip -br link".to_string()
    } else {
        cmd.iter().map(quote).collect::<Vec<_>>().join(" ")
    };
    in_guest(
        "berth-vm",
        format!("cd {} && {body}", quote_path(&root)),
        COMMAND_TIMEOUT,
        "the command",
    )
}

/// The vm tier: the data plane suites on the guest kernel.
pub fn test(bin: &std::path::Path) -> anyhow::Result<()> {
    let exes = suite_executables()?;
    let root = std::env::current_dir()?;
    let mut body = format!(
        "cd {} && export BERTH_BIN={} RUST_BACKTRACE=1\nrc=0\n",
        quote_path(&root),
        quote_path(bin)
    );
    for (name, exe) in &exes {
        body.push_str(&format!(
            "echo \"==> guest suite {name}\"; {} --test-threads=1 --color never || rc=1\n",
            quote_path(exe)
        ));
    }
    body.push_str("exit $rc");
    in_guest(
        "berth-vm-dataplane",
        body,
        SUITES_TIMEOUT,
        "the data plane suites",
    )
}

/// Runs `body` in one guest named `name`, its console prefixed `[vm] `;
/// fails unless it exits 0.
fn in_guest(name: &str, body: String, timeout: Duration, what: &str) -> anyhow::Result<()> {
    let mut host = host()?;
    let mut job = Job::new(name, body, timeout);
    job.cpus = CPUS;
    job.memory_mib = MEMORY_MIB;
    let out = host.run(&job, &mut |l| println!("[vm] {l}"))?;
    eprintln!(
        "vm: {what} on {} ended with status {} after {:.1} s",
        host.kernel().release,
        out.exit,
        out.elapsed.as_secs_f64()
    );
    if out.exit != 0 {
        bail!("{what} failed in the guest (status {})", out.exit);
    }
    Ok(())
}

/// `cargo xtask vm --nodes N` and the vm tier's cluster: `berth bench lb
/// --cluster --vm` at a small size: two nodes in namespaces, then N guests
/// on a private bridge, guest 1 running `berth server`, an agent and the
/// measurement (a Service per node, VIP and pod latency same-node and
/// across VMs), guests 2..N an agent each. Fails unless every request of
/// every run is answered. Rows, table and plot in target/bench-lb-cluster.*.
pub fn cluster(bin: &std::path::Path, nodes: usize) -> anyhow::Result<()> {
    let cache = cache_dir()?;
    let status = Command::new(bin)
        .args(["bench", "lb", "--cluster", "--services", "1,1000"])
        .args(["--samples", "300", "--vm", "--vm-nodes", &nodes.to_string()])
        .arg("--vm-cache")
        .arg(&cache)
        .args(["--json", "target/bench-lb-cluster.json"])
        .status()
        .context("berth bench lb --cluster --vm")?;
    if !status.success() {
        bail!("berth bench lb --cluster --vm failed: {status}");
    }
    Ok(())
}

/// Builds the berth-e2e test executables and returns those of
/// [`GUEST_SUITES`], as cargo reports them.
fn suite_executables() -> anyhow::Result<Vec<(String, PathBuf)>> {
    let out = Command::new("cargo")
        .args([
            "test",
            "--release",
            "--locked",
            "-p",
            "berth-e2e",
            "--no-run",
            "--message-format=json",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cargo test --no-run -p berth-e2e")?;
    if !out.status.success() {
        bail!("building berth-e2e's tests failed: {}", out.status);
    }
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let name = msg["target"]["name"].as_str().unwrap_or_default();
        let test = msg["profile"]["test"].as_bool() == Some(true);
        if let (true, Some(exe)) = (test, msg["executable"].as_str())
            && GUEST_SUITES.contains(&name)
        {
            found.push((name.to_string(), PathBuf::from(exe)));
        }
    }
    for s in GUEST_SUITES {
        if !found.iter().any(|(n, _)| n == s) {
            bail!("cargo did not report a test executable for berth-e2e's suite {s}");
        }
    }
    Ok(found)
}
