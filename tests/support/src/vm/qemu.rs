//! Running a guest under qemu: KVM where a guest boots under it, TCG
//! (software emulation) otherwise, the serial console streamed line by
//! line, and the job's exit status read from [`EXIT_MARKER`].

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::EXIT_MARKER;
use super::initramfs::ROOT_TAG;
use super::kernel::GuestKernel;
use crate::error::{Error, Result};
use crate::netns::Netns;

/// The qemu binary (Debian's qemu-system-x86).
pub const QEMU: &str = "qemu-system-x86_64";

/// Only catches a hang: how long a guest under KVM may take to run the
/// probe job before KVM is judged unusable here. A guest that boots under
/// KVM does it in about a second; on these machines one hangs forever.
pub const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// How the guest's CPU is provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation.
    Kvm,
    /// qemu's software emulation, multi-threaded.
    Tcg,
}

impl Accel {
    /// `kvm` or `tcg`.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }

    fn args(self) -> [&'static str; 4] {
        match self {
            Accel::Kvm => ["-accel", "kvm", "-cpu", "host"],
            Accel::Tcg => ["-accel", "tcg,thread=multi", "-cpu", "max"],
        }
    }
}

/// The accelerator chosen and why.
#[derive(Debug, Clone)]
pub struct AccelChoice {
    /// What guests run with.
    pub accel: Accel,
    /// Why, for the output.
    pub why: String,
}

/// One guest's boot.
#[derive(Debug, Clone)]
pub struct Boot<'a> {
    /// The guest's name (qemu's -name, the console prefix).
    pub name: &'a str,
    /// The kernel.
    pub kernel: &'a GuestKernel,
    /// The initramfs of [`super::initramfs::build`].
    pub initrd: &'a Path,
    /// The job script, at the same path on the host and in the guest.
    pub job: &'a Path,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Memory in MiB.
    pub memory_mib: u32,
    /// More qemu arguments (network devices).
    pub extra: &'a [String],
    /// Only catches a hang: the guest is killed after this.
    pub timeout: Duration,
    /// Shared read-write with the guest (9p tag [`SHARE_TAG`]).
    pub share: Option<&'a Path>,
    /// The namespace qemu runs in.
    pub netns: Option<&'a Netns>,
}

/// The 9p mount tag of a job's shared directory.
pub const SHARE_TAG: &str = "share";

/// How a guest's job ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The job's exit status (255: the guest's own set-up failed).
    pub exit: i32,
    /// From qemu's start to the marker.
    pub elapsed: Duration,
}

/// Boots `boot` with `accel`, passing each console line to `on_line`, and
/// returns the job's status once the guest powered off.
pub fn run(boot: &Boot<'_>, accel: Accel, mut on_line: impl FnMut(&str)) -> Result<Outcome> {
    let start = Instant::now();
    let mut child = spawn(boot, accel)?;
    let stdout = child.stdout.take().ok_or_else(|| Error::NotFound {
        what: "qemu's stdout".into(),
    })?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        while matches!(r.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
            let line: String = String::from_utf8_lossy(&buf)
                .chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .collect();
            if tx.send(line).is_err() {
                return;
            }
            buf.clear();
        }
    });
    let mut exit = None;
    let mut tail: Vec<String> = Vec::new();
    loop {
        let left = boot.timeout.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(code) = line.trim().strip_prefix(EXIT_MARKER) {
                    exit = code
                        .trim()
                        .parse::<i32>()
                        .ok()
                        .map(|c| (c, start.elapsed()));
                }
                on_line(&line);
                tail.push(line);
                if tail.len() > 20 {
                    tail.remove(0);
                }
            }
            // qemu exited: its stdout closed.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                kill(&mut child);
                let seen = if tail.is_empty() {
                    "no console output".to_string()
                } else {
                    format!("last console lines:\n{}", tail.join("\n"))
                };
                return Err(Error::Timeout {
                    what: format!(
                        "guest {} ({}) to finish its job; {seen}",
                        boot.name,
                        accel.name()
                    ),
                    after: boot.timeout,
                });
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| Error::io(format!("wait for {QEMU}"), e))?;
    match exit {
        Some((exit, elapsed)) => Ok(Outcome { exit, elapsed }),
        None => Err(Error::Command {
            cmd: format!("{QEMU} (guest {})", boot.name),
            stderr: format!(
                "the guest stopped ({status}) without reporting its job's status; last console lines:\n{}",
                tail.join("\n")
            ),
        }),
    }
}

fn spawn(boot: &Boot<'_>, accel: Accel) -> Result<Child> {
    let mut cmd = match boot.netns {
        Some(ns) => ns.command(QEMU),
        None => Command::new(QEMU),
    };
    if let Some(dir) = boot.share {
        cmd.arg("-virtfs").arg(format!(
            "local,path={},mount_tag={SHARE_TAG},security_model=none,multidevs=remap",
            dir.display()
        ));
    }
    cmd.args([
        "-name",
        boot.name,
        "-nodefaults",
        "-no-user-config",
        "-no-reboot",
    ])
    .args(["-display", "none", "-serial", "stdio", "-monitor", "none"])
    .args(accel.args())
    .args([
        "-m",
        &boot.memory_mib.to_string(),
        "-smp",
        &boot.cpus.to_string(),
    ])
    .arg("-kernel")
    .arg(&boot.kernel.vmlinuz)
    .arg("-initrd")
    .arg(boot.initrd)
    .arg("-append")
    .arg(format!(
        "console=ttyS0 quiet panic=-1 berth.job={}",
        boot.job.display()
    ))
    .arg("-virtfs")
    .arg(format!(
        "local,path=/,mount_tag={ROOT_TAG},security_model=none,readonly=on,multidevs=remap"
    ))
    .args(boot.extra)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    cmd.spawn()
        .map_err(|e| Error::io(format!("spawn {QEMU} (Debian package qemu-system-x86)"), e))
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// KVM if `/dev/kvm` opens and a probe guest finishes under it, TCG
/// otherwise. The verdict is kept in `cache` per guest kernel, host kernel
/// and qemu, so the probe's cost is paid once per machine.
/// `BERTH_VM_ACCEL=kvm|tcg` overrides it.
pub fn choose(
    cache: &Path,
    probe: impl FnOnce(Accel) -> Result<Outcome>,
    guest: &str,
) -> AccelChoice {
    match std::env::var("BERTH_VM_ACCEL").as_deref() {
        Ok("kvm") => return choice(Accel::Kvm, "BERTH_VM_ACCEL=kvm"),
        Ok("tcg") => return choice(Accel::Tcg, "BERTH_VM_ACCEL=tcg"),
        _ => {}
    }
    if let Err(e) = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return choice(Accel::Tcg, &format!("/dev/kvm does not open ({e})"));
    }
    let key = cache.join(format!(
        "accel-{guest}-host-{}-{}",
        host_release(),
        qemu_version().replace(' ', "_")
    ));
    if let Ok(saved) = fs::read_to_string(&key)
        && let Some((name, why)) = saved.split_once('\n')
    {
        let accel = if name == "kvm" {
            Accel::Kvm
        } else {
            Accel::Tcg
        };
        return choice(
            accel,
            &format!("{} (probed earlier, {})", why.trim(), key.display()),
        );
    }
    let (accel, why) = match probe(Accel::Kvm) {
        Ok(o) if o.exit == 0 => (
            Accel::Kvm,
            format!(
                "a probe guest ran under KVM in {:.1} s",
                o.elapsed.as_secs_f64()
            ),
        ),
        Ok(o) => (
            Accel::Tcg,
            format!("a probe guest under KVM failed (status {})", o.exit),
        ),
        Err(e) => (
            Accel::Tcg,
            format!(
                "a guest hangs at boot under KVM here (no result within {} s: {})",
                KVM_PROBE_TIMEOUT.as_secs(),
                first_line(&e.to_string())
            ),
        ),
    };
    let _ = fs::write(&key, format!("{}\n{why}\n", accel.name()));
    choice(accel, &why)
}

fn choice(accel: Accel, why: &str) -> AccelChoice {
    AccelChoice {
        accel,
        why: why.to_string(),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

fn host_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `QEMU emulator version 7.2.x (...)`'s version.
pub fn qemu_version() -> String {
    Command::new(QEMU)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(3))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Where job files go: inside `cache`, which the guest sees at the same path.
pub(super) fn job_path(cache: &Path, name: &str) -> PathBuf {
    cache
        .join("jobs")
        .join(format!("{name}-{}.sh", std::process::id()))
}
