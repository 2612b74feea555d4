//! Facts about the machine for the report, and the root check.

/// `uname -r`.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// The 1-, 5- and 15-minute load averages (other work on the machine
/// shows up as latency tails, so the report carries them).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}

/// The CPU model (`model name` of /proc/cpuinfo).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|v| v.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// CPUs this process may run on.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Fails unless running as root (namespaces, cgroups and BPF need it).
pub fn require_root(what: &str) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!(
            "{what} creates network namespaces, a cgroup and BPF programs: run it as root"
        );
    }
    Ok(())
}

/// Removes what earlier runs that were killed (SIGKILL, power loss) left
/// behind: namespaces, cgroups and bpffs directories whose owner process is
/// gone. Never touches anything of a live process.
pub fn remove_leftovers() {
    berth_test_support::cleanup::stale(|what| {
        eprintln!("[bench] leftover of a killed run: {what}")
    });
}
