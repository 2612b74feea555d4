//! Virtual machines for tests on a second kernel: Debian's 6.1
//! (`linux-image-amd64`) under qemu, booted from a small initramfs into the
//! host's own root, shared read-only over 9p under a tmpfs overlay. The
//! guest thus runs the very binaries the host built (berth, the test
//! executables, iproute2, containerd, runc) on its own kernel, with its own
//! /run, cgroup2 and bpffs, writes into its overlay only (the shared
//! directory of [`Job::share`] aside), and sees the host's files at their own paths.
//!
//! ```text
//! VmHost::prepare(cache)      kernel fetched + depmod'ed, initramfs written
//!   .accel()                  KVM if a guest boots under it, else TCG
//!   .run(&job, on_line)       qemu; job script as PID 1; console streamed;
//!                             the job's exit status from the console
//! ```

pub mod initramfs;
pub mod job;
pub mod kernel;
pub mod net;
pub mod qemu;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use kernel::GuestKernel;
pub use qemu::{Accel, AccelChoice, Outcome};

use crate::error::{Error, Result};
use crate::netns::Netns;

/// What a guest prints, alone on a console line, with its job's status.
pub const EXIT_MARKER: &str = "BERTH-VM-EXIT";

/// A guest kernel and initramfs ready to boot.
#[derive(Debug)]
pub struct VmHost {
    cache: PathBuf,
    kernel: GuestKernel,
    initrd: PathBuf,
    accel: Option<AccelChoice>,
}

/// A job for one guest.
#[derive(Debug, Clone)]
pub struct Job {
    /// The guest's name and hostname.
    pub name: String,
    /// Shell commands; the status of the last is the job's.
    pub body: String,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Memory in MiB.
    pub memory_mib: u32,
    /// More qemu arguments (network devices).
    pub qemu_args: Vec<String>,
    /// Only catches a hang.
    pub timeout: Duration,
    /// A host directory the guest mounts read-write at the same path (9p),
    /// for files the guests and the host exchange.
    pub share: Option<PathBuf>,
    /// The network namespace qemu runs in (where its taps are).
    pub netns: Option<Arc<Netns>>,
}

impl Job {
    /// A job without NIC, share or namespace.
    pub fn new(name: impl Into<String>, body: impl Into<String>, timeout: Duration) -> Job {
        Job {
            name: name.into(),
            body: body.into(),
            cpus: 1,
            memory_mib: 512,
            qemu_args: Vec::new(),
            timeout,
            share: None,
            netns: None,
        }
    }
}

impl VmHost {
    /// The guest kernel (downloaded once into `cache`) and a fresh
    /// initramfs. `cache` must be an absolute path the guest sees as well,
    /// i.e. on the host's root file system.
    pub fn prepare(cache: &Path) -> Result<VmHost> {
        if !cache.is_absolute() {
            return Err(Error::Invalid {
                what: "VM cache directory",
                value: cache.display().to_string(),
                reason: "must be absolute: the guest reads job files at the same path".into(),
            });
        }
        fs::create_dir_all(cache.join("jobs"))
            .map_err(|e| Error::io(format!("mkdir {}/jobs", cache.display()), e))?;
        let kernel = GuestKernel::prepare(cache)?;
        let initrd = cache.join(format!("initramfs-{}.cpio", kernel.release));
        initramfs::build(&kernel, &initrd)?;
        Ok(VmHost {
            cache: cache.to_path_buf(),
            kernel,
            initrd,
            accel: None,
        })
    }

    /// The guest kernel.
    pub fn kernel(&self) -> &GuestKernel {
        &self.kernel
    }

    /// The accelerator guests run with (probed on first use).
    pub fn accel(&mut self) -> AccelChoice {
        if let Some(a) = &self.accel {
            return a.clone();
        }
        let probe = Job::new("berth-kvm-probe", "true", qemu::KVM_PROBE_TIMEOUT);
        let chosen = qemu::choose(
            &self.cache,
            |accel| self.boot(&probe, accel, &mut |_| {}),
            &self.kernel.release,
        );
        self.accel = Some(chosen.clone());
        chosen
    }

    /// Boots a guest for `job` with the chosen accelerator; each console
    /// line goes to `on_line`.
    pub fn run(&mut self, job: &Job, on_line: &mut dyn FnMut(&str)) -> Result<Outcome> {
        let accel = self.accel().accel;
        self.boot(job, accel, on_line)
    }

    /// Boots one guest per job, all at once, and returns each job's outcome
    /// in order; each console line goes to `on_line` with the job's index.
    pub fn run_all(
        &mut self,
        jobs: &[Job],
        on_line: &(dyn Fn(usize, &str) + Sync),
    ) -> Vec<Result<Outcome>> {
        let accel = self.accel().accel;
        let me = &*self;
        std::thread::scope(|s| {
            let handles: Vec<_> = jobs
                .iter()
                .enumerate()
                .map(|(i, job)| s.spawn(move || me.boot(job, accel, &mut |l| on_line(i, l))))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::Command {
                            cmd: "guest thread".into(),
                            stderr: "panicked".into(),
                        })
                    })
                })
                .collect()
        })
    }

    fn boot(&self, job: &Job, accel: Accel, on_line: &mut dyn FnMut(&str)) -> Result<Outcome> {
        let path = qemu::job_path(&self.cache, &job.name);
        let script = job::script(&self.kernel, &job.name, job.share.as_deref(), &job.body);
        fs::write(&path, script).map_err(|e| Error::io(format!("write {}", path.display()), e))?;
        let boot = qemu::Boot {
            name: &job.name,
            kernel: &self.kernel,
            initrd: &self.initrd,
            job: &path,
            cpus: job.cpus,
            memory_mib: job.memory_mib,
            extra: &job.qemu_args,
            timeout: job.timeout,
            share: job.share.as_deref(),
            netns: job.netns.as_deref(),
        };
        let r = qemu::run(&boot, accel, on_line);
        let _ = fs::remove_file(&path);
        r
    }
}
