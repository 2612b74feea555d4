//! What the run needs before it starts: the tools, their versions, and
//! SIGPIPE ignored while it runs.

use super::*;

pub(super) fn progress(msg: std::fmt::Arguments<'_>) {
    eprintln!("[bench] {msg}");
}

/// The first line of `cmd args` (its stdout), or why not.
pub(super) fn first_line(cmd: &str, args: &[&str]) -> String {
    match std::process::Command::new(cmd).args(args).output() {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned(),
        Err(e) => format!("not found ({e})"),
    }
}

/// containerd's release (`1.6.20~ds1`), from `containerd --version`.
pub(super) fn containerd_release() -> String {
    first_line("containerd", &["--version"])
        .split_whitespace()
        .nth(2)
        .unwrap_or("unknown")
        .to_owned()
}

/// Root, and the programs and files the node needs.
pub(super) fn preflight() -> anyhow::Result<()> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "berth bench pods runs containerd, runc and the CNI plugin: run it as root"
    );
    for (path, package) in [
        (berth_node::image::BUSYBOX_STATIC, "busybox-static"),
        (world::LOOPBACK_PLUGIN, "containernetworking-plugins"),
    ] {
        anyhow::ensure!(
            std::path::Path::new(path).is_file(),
            "berth bench pods needs {path} (Debian package {package}; `cargo xtask setup` installs it)"
        );
    }
    crate::tools::require(
        "berth bench pods",
        &[
            ("containerd", "containerd"),
            ("runc", "runc"),
            ("ip", "iproute2"),
        ],
    )?;
    Ok(())
}

/// SIGPIPE ignored while it lives. `berth` restores SIGPIPE's default
/// (a closed stdout pipe ends it quietly), but this process talks to
/// containerd over a unix socket, where a write after containerd closed
/// its end (its HTTP/2 connection as containerd is purged) raises SIGPIPE
/// and would kill the run half-way through its teardown.
pub(super) struct IgnoreSigpipe(SigHandler);

impl IgnoreSigpipe {
    pub(super) fn new() -> anyhow::Result<Self> {
        // SAFETY: SIG_IGN installs no handler function; nothing runs in
        // signal context.
        let old =
            unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) }.context("ignoring SIGPIPE")?;
        Ok(Self(old))
    }
}

impl Drop for IgnoreSigpipe {
    fn drop(&mut self) {
        // SAFETY: puts back the disposition found in `new` (SIG_DFL or
        // SIG_IGN: `berth` installs no handler for SIGPIPE).
        let _ = unsafe { signal(Signal::SIGPIPE, self.0) };
    }
}

/// One JSON row.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Row {
    /// Create call → Running and Ready.
    Ready {
        metric: &'static str,
        probe: &'static str,
        pods: usize,
        p50_ms: f64,
        p99_ms: f64,
        max_ms: f64,
        wall_ms: f64,
    },
    /// One stage of it.
    Stage {
        metric: &'static str,
        probe: &'static str,
        stage: &'static str,
        p50_ms: f64,
        p99_ms: f64,
    },
    /// A runtime call while the pods started.
    Call {
        metric: &'static str,
        probe: &'static str,
        call: &'static str,
        count: usize,
        p50_ms: f64,
        p99_ms: f64,
    },
    /// Service created → first connection through its VIP.
    Programmed {
        metric: &'static str,
        services: usize,
        p50_ms: f64,
        p99_ms: f64,
        max_ms: f64,
        from: &'static str,
    },
    /// Delete calls → all gone.
    Teardown {
        metric: &'static str,
        probe: &'static str,
        pods: usize,
        wall_ms: f64,
    },
}
