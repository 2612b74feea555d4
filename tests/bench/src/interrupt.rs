//! Ctrl-C / SIGTERM: the benchmark notices at its next step and returns an
//! error, so that every guard (data plane, cgroup, namespaces) cleans up.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicBool, Ordering},
};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Installs the handlers (once per process).
pub fn install() -> anyhow::Result<()> {
    if FLAG.get().is_some() {
        return Ok(());
    }
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&flag))?;
    }
    let _ = FLAG.set(flag);
    Ok(())
}

/// Whether a signal asked us to stop.
pub fn requested() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::Relaxed))
}

/// `Err` once a signal asked us to stop.
pub fn check() -> anyhow::Result<()> {
    if requested() {
        anyhow::bail!("interrupted; cleaning up");
    }
    Ok(())
}
