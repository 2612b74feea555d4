//! Stage 2 of a guest's boot: the job script `/init` switches to. It runs
//! as PID 1 on the host's root (read-only 9p under a tmpfs overlay), mounts
//! what a Berth node needs (proc, sys, dev, cgroup2, bpffs, tmpfs on /run;
//! not on /tmp, which stays the overlay's: a checkout, a cache or a test
//! directory under the host's /tmp must stay visible), puts the guest kernel's modules where `modprobe` looks, runs
//! the caller's commands and prints [`EXIT_MARKER`] with their status
//! before it powers the guest off.

use std::path::Path;

use super::EXIT_MARKER;
use super::kernel::GuestKernel;
use super::qemu::SHARE_TAG;

/// Modules every job gets loaded (the rest load on demand through the
/// kernel's modprobe): namespaces' links and socket termination through
/// sock_diag.
const JOB_MODULES: &[&str] = &[
    "veth",
    "bridge",
    "inet_diag",
    "tcp_diag",
    "udp_diag",
    "virtio_net",
];

/// The whole script for `body` (shell, run with `set -e` off; its last
/// status is the job's exit status). `hostname` names the guest; `share`,
/// if any, is mounted read-write at its own path.
pub fn script(kernel: &GuestKernel, hostname: &str, share: Option<&Path>, body: &str) -> String {
    let release = &kernel.release;
    let share = share.map_or(String::new(), |dir| {
        let d = quote_path(dir);
        format!(
            "mkdir -p {d} && mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 {SHARE_TAG} {d} || fail \"mount the share {d}\"\n"
        )
    });
    let modules = kernel.modules.display();
    let load = JOB_MODULES.join(" ");
    format!(
        r#"#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
fail() {{ echo "berth-vm: $*"; echo "{EXIT_MARKER} 255"; busybox poweroff -f; }}
mount -t proc proc /proc || fail "mount proc"
mount -t sysfs sysfs /sys || fail "mount sysfs"
mount -t devtmpfs devtmpfs /dev || fail "mount devtmpfs"
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm || fail "mount devpts/shm"
mount -t tmpfs -o mode=0755 tmpfs /run || fail "mount /run"
mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "mount cgroup2"
mount -t bpf bpf /sys/fs/bpf || fail "mount bpffs"
mkdir -p /lib/modules/{release} && mount --bind {modules} /lib/modules/{release} || fail "bind modules"
modprobe -a {load} || fail "modprobe {load}"
{share}ip link set lo up
hostname {hostname}
echo "berth-vm: $(hostname) up: kernel $(uname -r), $(nproc) CPUs, $(($(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) / 1024)) MiB"
(
{body}
)
rc=$?
echo "{EXIT_MARKER} $rc"
busybox poweroff -f
"#
    )
}

/// Shell-quotes `s` in single quotes.
pub fn quote(s: impl AsRef<str>) -> String {
    format!("'{}'", s.as_ref().replace('\'', r"'\''"))
}

/// `quote` for a path.
pub fn quote_path(p: &Path) -> String {
    quote(p.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("a'b c"), r"'a'\''b c'");
    }

    #[test]
    fn the_script_ends_with_the_marker_and_the_status() {
        let k = GuestKernel {
            release: "6.1.0-1-amd64".into(),
            vmlinuz: "/k/vmlinuz".into(),
            modules: "/k/lib/modules/6.1.0-1-amd64".into(),
        };
        let s = script(&k, "vm0", Some(Path::new("/tmp/x y")), "true");
        assert!(s.contains(
            "mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 share '/tmp/x y'"
        ));
        assert!(s.contains("mount --bind /k/lib/modules/6.1.0-1-amd64 /lib/modules/6.1.0-1-amd64"));
        assert!(s.contains(&format!("echo \"{EXIT_MARKER} $rc\"")));
        assert!(s.find("(\ntrue\n)").is_some());
    }
}
