//! Keeping containerd running.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::Containerd;

/// The first wait before restarting containerd after it exited.
pub const RESTART_BACKOFF_MIN: Duration = Duration::from_secs(1);

/// The longest wait between restarts (the wait doubles after each failed
/// or short-lived start).
pub const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// A containerd that ran this long before exiting is restarted after
/// [`RESTART_BACKOFF_MIN`] again.
pub const STABLE_AFTER: Duration = Duration::from_secs(60);

/// How often a running containerd is checked.
const EXIT_POLL: Duration = Duration::from_millis(250);

/// Log lines quoted when containerd exits.
const EXIT_LOG_LINES: usize = 20;

impl Containerd {
    /// Keeps containerd running until `shutdown` completes: when it exits,
    /// it is started again after a back-off ([`RESTART_BACKOFF_MIN`]
    /// doubling to [`RESTART_BACKOFF_MAX`], reset once a start has lasted
    /// [`STABLE_AFTER`]); a failed start is retried the same way. Each exit
    /// and restart is logged with the end of containerd's log;
    /// [`restarts`](Containerd::restarts) counts them.
    ///
    /// Returns when `shutdown` completes, leaving containerd running (call
    /// [`stop`](Containerd::stop), or drop it). For an adopted containerd
    /// it only waits for `shutdown`: someone else keeps that one running.
    ///
    /// For the agent, in a task:
    /// `tokio::spawn(async move { cd.supervise(token.cancelled()).await; cd })`.
    pub async fn supervise(&mut self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        if self.managed.is_none() {
            shutdown.await;
            return;
        }
        let mut backoff = RESTART_BACKOFF_MIN;
        let mut started = Instant::now();
        loop {
            let status = tokio::select! {
                () = &mut shutdown => return,
                status = self.exited() => status,
            };
            if started.elapsed() >= STABLE_AFTER {
                backoff = RESTART_BACKOFF_MIN;
            }
            warn!(
                socket = %self.socket.display(),
                "containerd exited ({status}); restarting in {backoff:?}; the end of its log:\n{}",
                self.log_tail(EXIT_LOG_LINES)
            );
            loop {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(RESTART_BACKOFF_MAX);
                let result = tokio::select! {
                    () = &mut shutdown => return,
                    result = self.spawn() => result,
                };
                match result {
                    Ok(()) => {
                        let restarts = self.restarts.bump();
                        started = Instant::now();
                        info!(
                            socket = %self.socket.display(),
                            pid = self.pid(),
                            restarts,
                            "containerd restarted"
                        );
                        break;
                    }
                    Err(e) => warn!(
                        socket = %self.socket.display(),
                        "restarting containerd failed ({e}); trying again in {backoff:?}"
                    ),
                }
            }
        }
    }

    /// Resolves when the managed containerd has exited (at once when none
    /// runs), with how it ended.
    async fn exited(&mut self) -> String {
        loop {
            let Some(m) = self.managed.as_mut() else {
                return "not managed".into();
            };
            let Some(process) = m.process.as_mut() else {
                return "not running".into();
            };
            if let Some(status) = process.exited() {
                m.process = None;
                return status;
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
    }
}

/// A containerd supervised in a task of its own (as `berth agent` runs
/// it), until [`Supervised::stop`] gives it back.
#[derive(Debug)]
pub struct Supervised {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Containerd>,
}

impl Supervised {
    /// Supervises `containerd` ([`Containerd::supervise`]) in a task.
    pub fn spawn(mut containerd: Containerd) -> Supervised {
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            containerd
                .supervise(async {
                    let _ = rx.await;
                })
                .await;
            containerd
        });
        Supervised { stop, task }
    }

    /// Ends the supervision and gives containerd back (still running).
    pub async fn stop(self) -> Result<Containerd, tokio::task::JoinError> {
        let _ = self.stop.send(());
        self.task.await
    }
}
