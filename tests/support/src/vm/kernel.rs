//! The guest kernel: Debian's `linux-image-amd64` (6.1 on bookworm), fetched
//! with `apt-get download` (never installed on the host), unpacked into a
//! cache directory and indexed with `depmod` so that the guest's `modprobe`
//! finds its modules.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::ip::run as run_output;

/// The Debian meta package whose dependency names the guest kernel.
pub const KERNEL_PACKAGE: &str = "linux-image-amd64";

/// An unpacked guest kernel.
#[derive(Debug, Clone)]
pub struct GuestKernel {
    /// `uname -r` of the guest, e.g. `6.1.0-57-amd64`.
    pub release: String,
    /// The bzImage.
    pub vmlinuz: PathBuf,
    /// `<root>/lib/modules/<release>`, indexed by depmod.
    pub modules: PathBuf,
}

impl GuestKernel {
    /// The kernel `linux-image-amd64` points at, unpacked under `cache`
    /// (`cache/<release>/`). A second call finds it there and downloads
    /// nothing.
    pub fn prepare(cache: &Path) -> Result<GuestKernel> {
        let package = image_package()?;
        let release = package
            .strip_prefix("linux-image-")
            .ok_or_else(|| Error::Invalid {
                what: "kernel package",
                value: package.clone(),
                reason: "does not start with linux-image-".into(),
            })?
            .to_string();
        let root = cache.join(&release);
        let kernel = GuestKernel {
            vmlinuz: root.join(format!("boot/vmlinuz-{release}")),
            modules: root.join(format!("lib/modules/{release}")),
            release,
        };
        if kernel.vmlinuz.exists() && kernel.modules.join("modules.dep").exists() {
            return Ok(kernel);
        }
        let download = cache.join("download");
        fs::create_dir_all(&download)
            .map_err(|e| Error::io(format!("mkdir {}", download.display()), e))?;
        // apt's sandbox user cannot write here: it warns and downloads as root.
        let fetch = || {
            run_output(
                Command::new("apt-get")
                    .args(["download", "-q", &package])
                    .current_dir(&download),
            )
        };
        if fetch().is_err() {
            // Stale package lists name a file the mirror no longer has.
            run_output(Command::new("apt-get").args(["update", "-q"]))?;
            fetch()?;
        }
        let deb = fs::read_dir(&download)
            .map_err(|e| Error::io(format!("list {}", download.display()), e))?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
            })
            .ok_or_else(|| Error::NotFound {
                what: format!("{package}_*.deb in {}", download.display()),
            })?;
        let partial = cache.join(format!("{}.partial", kernel.release));
        let _ = fs::remove_dir_all(&partial);
        run_output(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&partial))?;
        run_output(
            Command::new("depmod")
                .arg("-b")
                .arg(&partial)
                .arg(&kernel.release),
        )?;
        let _ = fs::remove_dir_all(&root);
        fs::rename(&partial, &root)
            .map_err(|e| Error::io(format!("rename to {}", root.display()), e))?;
        let _ = fs::remove_file(&deb);
        Ok(kernel)
    }

    /// The files of the modules `names` (`9pnet_virtio`, ...) and of what
    /// they need, in an order that loads each after its dependencies, each
    /// once (from modules.dep).
    pub fn modules_with_deps(&self, names: &[&str]) -> Result<Vec<PathBuf>> {
        let dep_file = self.modules.join("modules.dep");
        let deps = fs::read_to_string(&dep_file)
            .map_err(|e| Error::io(format!("read {}", dep_file.display()), e))?;
        let mut out = Vec::new();
        for name in names {
            let file = format!("/{name}.ko:");
            let line = deps
                .lines()
                .find(|l| l.contains(&file) || l.starts_with(&file[1..]))
                .ok_or_else(|| Error::NotFound {
                    what: format!("module {name} in {}", dep_file.display()),
                })?;
            let (this, needs) = line.split_once(':').unwrap_or((line, ""));
            // modules.dep lists a module's dependencies so that loading
            // them from last to first satisfies each before its users.
            for rel in needs.split_whitespace().rev().chain(std::iter::once(this)) {
                let path = self.modules.join(rel);
                if !out.contains(&path) {
                    out.push(path);
                }
            }
        }
        Ok(out)
    }
}

/// `linux-image-6.1.0-N-amd64`: what the meta package depends on now.
fn image_package() -> Result<String> {
    let out = run_output(Command::new("apt-cache").args(["depends", KERNEL_PACKAGE]))?;
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-") && !p.contains('<'))
        .map(str::to_string)
        .ok_or_else(|| Error::NotFound {
            what: format!("a linux-image dependency of {KERNEL_PACKAGE} (apt-cache depends; run apt-get update)"),
        })
}
