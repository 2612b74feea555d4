//! The guest's initramfs: a static busybox, the few modules the guest needs
//! before it can see the host's root (virtio, 9p, overlay), and `/init`,
//! which mounts the host's root read-only over 9p under a tmpfs overlay and
//! switches into it to run the job named by `berth.job=` on the kernel
//! command line.
//!
//! Written as an uncompressed `newc` cpio archive by [`Cpio`] (the kernel
//! unpacks it as it is), so no `cpio` tool is needed.

use std::fs;
use std::path::Path;

use super::EXIT_MARKER;
use super::kernel::GuestKernel;
use crate::error::{Error, Result};

/// The static busybox of Debian's busybox-static.
pub const BUSYBOX: &str = "/bin/busybox";

/// Modules loaded by `/init`, each after what it needs.
const EARLY_MODULES: &[&str] = &["virtio_pci", "9pnet_virtio", "9p", "overlay"];

/// The 9p mount tag of the host's root.
pub const ROOT_TAG: &str = "hostroot";

/// Writes the initramfs for `kernel` to `out`.
pub fn build(kernel: &GuestKernel, out: &Path) -> Result<()> {
    let mut cpio = Cpio::default();
    for dir in ["bin", "dev", "proc", "sys", "host", "rw", "newroot", "mods"] {
        cpio.dir(dir);
    }
    let busybox =
        fs::read(BUSYBOX).map_err(|e| Error::io(format!("read {BUSYBOX} (busybox-static)"), e))?;
    cpio.file("bin/busybox", 0o755, &busybox);
    let mut order = Vec::new();
    for path in kernel.modules_with_deps(EARLY_MODULES)? {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::NotFound {
                what: format!("file name of {}", path.display()),
            })?
            .to_string();
        let bytes =
            fs::read(&path).map_err(|e| Error::io(format!("read {}", path.display()), e))?;
        cpio.file(&format!("mods/{name}"), 0o644, &bytes);
        order.push(name);
    }
    cpio.file("init", 0o755, init_script(&order).as_bytes());
    let bytes = cpio.finish();
    let tmp = out.with_extension("partial");
    fs::write(&tmp, bytes).map_err(|e| Error::io(format!("write {}", tmp.display()), e))?;
    fs::rename(&tmp, out).map_err(|e| Error::io(format!("rename to {}", out.display()), e))
}

/// Stage 1: from the initramfs to the host's root (read-only, with a tmpfs
/// overlay for writes), then `sh JOB` as PID 1 there.
fn init_script(modules: &[String]) -> String {
    format!(
        r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
fail() {{ echo "berth-vm: $*"; echo "{EXIT_MARKER} 255"; poweroff -f; }}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in {modules}; do insmod /mods/$m || fail "insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288 {ROOT_TAG} /host || fail "9p mount of the host's root failed"
mount -t tmpfs -o mode=0755 tmpfs /rw && mkdir /rw/upper /rw/work || fail "tmpfs"
mount -t overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail "overlay mount failed"
job=$(sed -n 's/.*berth\.job=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$job" ] && [ -f "/newroot$job" ] || fail "no job file: berth.job=$job"
umount /proc /sys /dev
exec switch_root /newroot /bin/sh "$job"
"#,
        modules = modules.join(" ")
    )
}

/// An uncompressed `newc` (SVR4, no CRC) cpio archive in memory.
#[derive(Debug, Default)]
pub struct Cpio {
    buf: Vec<u8>,
    ino: u32,
}

impl Cpio {
    /// A directory (mode 0755).
    pub fn dir(&mut self, name: &str) {
        self.entry(name, 0o040_755, &[]);
    }

    /// A regular file with permission bits `perm`.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, 0o100_000 | perm, data);
    }

    /// The archive, with its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[]);
        self.buf
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.ino += 1;
        let nlink = if mode & 0o040_000 != 0 { 2 } else { 1 };
        let fields = [
            self.ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime
            u32::try_from(data.len()).unwrap_or(u32::MAX),
            0,
            0,
            0,
            0,
            u32::try_from(name.len() + 1).unwrap_or(u32::MAX),
            0, // check
        ];
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_entries_are_aligned_and_end_with_the_trailer() {
        let mut c = Cpio::default();
        c.dir("bin");
        c.file("init", 0o755, b"#!/bin/sh\n");
        let out = c.finish();
        assert_eq!(out.len() % 4, 0);
        assert!(out.starts_with(b"070701"));
        // Header of "bin": mode 040755 as 8 hex digits after the inode.
        assert_eq!(&out[14..22], b"000041ED");
        let trailer = out
            .windows(10)
            .position(|w| w == b"TRAILER!!!")
            .expect("trailer");
        let init = out
            .windows(4)
            .position(|w| w == b"init")
            .expect("init entry");
        assert!(init < trailer);
        assert_eq!(out.windows(10).filter(|w| *w == b"#!/bin/sh\n").count(), 1);
    }
}
