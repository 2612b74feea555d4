//! `cargo xtask vm [-- CMD...]` and the vm test tier: guests on Debian's
//! 6.1 kernel under qemu (KVM where a guest boots under it, TCG otherwise),
//! running the host's own build through its root shared read-only (see
//! berth_test_support::vm).

use std::{path::PathBuf, process::Command, sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use berth_test_support::vm::{
    Job, VmHost,
    job::{quote, quote_path},
    net::{self, VmNet},
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

/// The berth-e2e suite whose two roles make the VM cluster.
pub const CLUSTER_SUITE: &str = "vm_cluster";

/// Only catches a hang: the VM cluster (server, agents, containerd and
/// pods under TCG, then the latency measurement).
pub const CLUSTER_TIMEOUT: Duration = Duration::from_secs(45 * 60);

/// Memory of each cluster guest (containerd, a few pods).
const CLUSTER_MEMORY_MIB: u32 = 3072;

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
    let exes = suite_executables(GUEST_SUITES)?;
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

/// `cargo xtask vm --nodes N` and the vm tier's cluster: N guests on a
/// private bridge inside a namespace of this process's own; guest 1 runs
/// `berth server`, an agent and the test (services pinned to each node,
/// requests and their latency from guest 1), guests 2..N an agent each.
/// Their consoles are prefixed `[vm-i] `; guest 1's rows are kept in
/// `target/vm/lb-vm.json`.
pub fn cluster(bin: &std::path::Path, nodes: usize) -> anyhow::Result<()> {
    if nodes < 2 {
        bail!("--nodes {nodes}: a VM cluster needs at least 2 guests");
    }
    let exe = suite_executables(&[CLUSTER_SUITE])?
        .pop()
        .map(|(_, e)| e)
        .context("the vm_cluster executable")?;
    let mut host = host()?;
    let vmnet = VmNet::new(nodes).context("the guests' network")?;
    let share = PathBuf::from(format!("/tmp/berth-test-node-{}-vm", std::process::id()));
    let _ = std::fs::remove_dir_all(&share);
    std::fs::create_dir_all(&share).with_context(|| format!("mkdir {}", share.display()))?;
    let root = std::env::current_dir()?;
    let jobs: Vec<Job> = (1..=nodes)
        .map(|i| {
            let test = if i == 1 {
                "vm_cluster_serves_across_vms"
            } else {
                "vm_cluster_peer_node"
            };
            let body = format!(
                "{}cd {} && export BERTH_BIN={} BERTH_VM_SHARE={} BERTH_VM_NODES={nodes} BERTH_VM_INDEX={i} RUST_BACKTRACE=1\n{} --ignored --exact {test} --nocapture --test-threads=1 --color never",
                net::guest_setup(i),
                quote_path(&root),
                quote_path(bin),
                quote_path(&share),
                quote_path(&exe),
            );
            let mut job = Job::new(format!("vm-{i}"), body, CLUSTER_TIMEOUT);
            job.cpus = CPUS;
            job.memory_mib = CLUSTER_MEMORY_MIB;
            job.qemu_args = vmnet.qemu_args(i);
            job.share = Some(share.clone());
            job.netns = Some(Arc::clone(vmnet.netns()));
            job
        })
        .collect();
    eprintln!(
        "vm: {nodes} guests on bridge {}.0/{} in netns {}",
        net::SUBNET.map(|b| b.to_string()).join("."),
        net::PREFIX_LEN,
        vmnet.netns().name()
    );
    let outcomes = host.run_all(&jobs, &|i, l| println!("[vm-{}] {l}", i + 1));
    let rows = share.join("lb-vm.json");
    if rows.exists() {
        let kept = crate::vm::cache_dir()?.join("lb-vm.json");
        std::fs::copy(&rows, &kept).context("keeping lb-vm.json")?;
        eprintln!("vm: latency rows in {}", kept.display());
    }
    drop(jobs);
    let mut failed = Vec::new();
    for (i, o) in outcomes.into_iter().enumerate() {
        match o {
            Ok(o) => {
                eprintln!(
                    "vm: guest vm-{} ended with status {} after {:.1} s",
                    i + 1,
                    o.exit,
                    o.elapsed.as_secs_f64()
                );
                if o.exit != 0 {
                    failed.push(format!("vm-{}: status {}", i + 1, o.exit));
                }
            }
            Err(e) => failed.push(format!("vm-{}: {e}", i + 1)),
        }
    }
    if !failed.is_empty() {
        print_logs(&share);
    }
    let _ = std::fs::remove_dir_all(&share);
    if !failed.is_empty() {
        bail!("the VM cluster failed: {}", failed.join("; "));
    }
    Ok(())
}

/// The last lines of the logs the guests left in the share.
fn print_logs(share: &std::path::Path) {
    let Ok(dir) = std::fs::read_dir(share) else {
        return;
    };
    for e in dir.flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "log") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("--- {}:", path.display());
            for l in &lines[lines.len().saturating_sub(30)..] {
                eprintln!("{l}");
            }
        }
    }
}

/// Builds the berth-e2e test executables and returns those of `suites`,
/// as cargo reports them.
fn suite_executables(suites: &[&str]) -> anyhow::Result<Vec<(String, PathBuf)>> {
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
            && suites.contains(&name)
        {
            found.push((name.to_string(), PathBuf::from(exe)));
        }
    }
    for s in suites {
        if !found.iter().any(|(n, _)| n == s) {
            bail!("cargo did not report a test executable for berth-e2e's suite {s}");
        }
    }
    Ok(found)
}
