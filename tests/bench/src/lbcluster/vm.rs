//! `berth bench lb --cluster --vm`: N guests on Debian's 6.1 kernel under
//! qemu (KVM where a guest boots under it, TCG otherwise; see
//! berth_test_support::vm), on a private bridge inside a namespace of this
//! process's own, sharing a directory with the host. Each runs this very
//! binary from the host's root: guest 1 `berth bench vm-node --role
//! server`, the others `--role peer` ([`super::vmnode`]). Their consoles
//! are printed prefixed `[vm-i] `.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use berth_test_support::vm::{
    Job, VmHost,
    job::quote_path,
    kernel::KERNEL_PACKAGE,
    net::{self, VmNet},
    qemu,
};

use super::report::ClusterRow;
use super::vmnode;

/// Only catches a hang: the whole cluster run under TCG.
const TIMEOUT: Duration = Duration::from_secs(45 * 60);
/// Each guest: this machine's 2 cores, and memory for containerd and pods.
const CPUS: u32 = 2;
const MEMORY_MIB: u32 = 3072;

/// What `--vm` runs.
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// Guests (at least 2).
    pub nodes: usize,
    /// Where the guest kernel and initramfs are kept (absolute, on the
    /// host's root: the guests read job files there).
    pub cache: PathBuf,
    /// Requests per target.
    pub samples: usize,
}

/// Boots the guests, waits for all, and returns guest 1's rows; fails
/// unless every guest's job succeeded.
pub fn run(cfg: &VmConfig) -> anyhow::Result<(Vec<ClusterRow>, String)> {
    if cfg.nodes < 2 {
        bail!(
            "--vm-nodes {}: a VM cluster needs at least 2 guests",
            cfg.nodes
        );
    }
    let berth = std::env::current_exe().context("locating the running berth binary")?;
    let cache = std::path::absolute(&cfg.cache)
        .with_context(|| format!("--vm-cache {}", cfg.cache.display()))?;
    let mut host = VmHost::prepare(&cache).context("preparing the guest kernel and initramfs")?;
    let accel = host.accel();
    let about = format!(
        "guest kernel {} (Debian {KERNEL_PACKAGE}), qemu {}, {} guests × {CPUS} vCPUs, accelerator {}: {}",
        host.kernel().release,
        qemu::qemu_version(),
        cfg.nodes,
        accel.accel.name().to_uppercase(),
        accel.why
    );
    eprintln!("[bench] vm: {about}");
    let vmnet = VmNet::new(cfg.nodes).context("the guests' network")?;
    let share = Share::new()?;
    let jobs: Vec<Job> = (1..=cfg.nodes)
        .map(|i| {
            let role = if i == 1 { "server" } else { "peer" };
            let body = format!(
                "{}cd / && RUST_BACKTRACE=1 {} bench vm-node --role {role} --index {i} --nodes {} --share {} --samples {}",
                net::guest_setup(i),
                quote_path(&berth),
                cfg.nodes,
                quote_path(&share.0),
                cfg.samples
            );
            let mut job = Job::new(format!("vm-{i}"), body, TIMEOUT);
            job.cpus = CPUS;
            job.memory_mib = MEMORY_MIB;
            job.qemu_args = vmnet.qemu_args(i);
            job.share = Some(share.0.clone());
            job.netns = Some(std::sync::Arc::clone(vmnet.netns()));
            job
        })
        .collect();
    eprintln!(
        "[bench] vm: {} guests on bridge {}.0/{} in netns {}",
        cfg.nodes,
        net::SUBNET.map(|b| b.to_string()).join("."),
        net::PREFIX_LEN,
        vmnet.netns().name()
    );
    let outcomes = host.run_all(&jobs, &|i, l| println!("[vm-{}] {l}", i + 1));
    drop(jobs);
    let mut failed = Vec::new();
    for (i, o) in outcomes.into_iter().enumerate() {
        match o {
            Ok(o) => {
                eprintln!(
                    "[bench] vm: guest vm-{} ended with status {} after {:.1} s",
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
        share.print_logs();
        bail!("the VM cluster failed: {}", failed.join("; "));
    }
    let path = share.0.join(vmnode::ROWS);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let rows = serde_json::from_str(&text).context("guest 1's rows")?;
    Ok((rows, about))
}

/// The directory shared with the guests; removed on drop. Named like the
/// cluster harness's, so that `cargo xtask clean` removes a killed run's.
struct Share(PathBuf);

impl Share {
    fn new() -> anyhow::Result<Share> {
        let dir = PathBuf::from(format!(
            "/tmp/berth-test-node-{}-vmbench",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
        Ok(Share(dir))
    }

    /// The last lines of the logs the guests left.
    fn print_logs(&self) {
        let Ok(dir) = std::fs::read_dir(&self.0) else {
            return;
        };
        for e in dir.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "log") {
                eprintln!(
                    "--- {}:\n{}",
                    path.display(),
                    berth_test_support::cluster::tail(&path, 30)
                );
            }
        }
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
