//! Stopping containerd (and nothing else: shims and containers stay).

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tracing::{info, warn};

use super::process::Process;
use super::{Containerd, STOP_TIMEOUT};

/// How often a stopping containerd is checked.
const EXIT_POLL: Duration = Duration::from_millis(20);

impl Containerd {
    /// Stops containerd: SIGTERM, then SIGKILL when it has not exited
    /// within [`STOP_TIMEOUT`]. Shims and containers keep running; the
    /// next start finds them. Does nothing for an adopted containerd, or
    /// one already stopped. Returns how it ended, when it ran.
    pub async fn stop(&mut self) -> Option<String> {
        let mut process = self.managed.as_mut()?.process.take()?;
        if let Some(status) = process.exited() {
            return Some(status);
        }
        process.signal(Signal::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = process.exited() {
                info!(socket = %self.socket.display(), "containerd stopped ({status})");
                return Some(status);
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
        Some(self.kill(process))
    }

    /// [`stop`](Containerd::stop) without a runtime (for drop): the same,
    /// sleeping the thread.
    pub(crate) fn stop_blocking(&mut self) -> Option<String> {
        let mut process = self.managed.as_mut()?.process.take()?;
        if let Some(status) = process.exited() {
            return Some(status);
        }
        process.signal(Signal::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = process.exited() {
                return Some(status);
            }
            std::thread::sleep(EXIT_POLL);
        }
        Some(self.kill(process))
    }

    fn kill(&self, mut process: Process) -> String {
        warn!(
            socket = %self.socket.display(),
            "containerd ignored SIGTERM for {STOP_TIMEOUT:?} (STOP_TIMEOUT): SIGKILL"
        );
        process.signal(Signal::SIGKILL);
        match process {
            Process::Child(mut c) => match c.wait() {
                Ok(status) => status.to_string(),
                Err(e) => format!("killed; waiting for it failed: {e}"),
            },
            Process::Adopted { .. } => "killed".into(),
        }
    }
}
