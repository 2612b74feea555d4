//! A request stream inside a client pod ([`berth_local::demo::request_stream`])
//! that the test follows while it goes on: it reads the stream's file with
//! `berth exec` and waits for lines, so that "requests ran across X" is
//! proven by requests counted during X, never assumed from a clock.

use std::process::Output;
use std::time::{Duration, Instant};

use berth_local::demo::{self, Timed};

/// Only catches a hang: how long the stream may take to add lines, or to
/// end once told to stop.
pub const PROGRESS_TIMEOUT: Duration = Duration::from_secs(120);

/// A running stream: its files in the pod. Each method takes `exec`,
/// which runs a command in the client pod (`berth exec`), so that the
/// test is free to restart or crash things between calls.
pub struct PodStream {
    stop: String,
    out: String,
}

/// The kernel's uptime now, the clock of the stream's lines (pods share
/// the host's kernel).
pub fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("/proc/uptime")
}

impl PodStream {
    /// Starts requests to `target` (`HOST PORT`) in the pod, detached;
    /// `tag` names its files there (under `/tmp`).
    pub fn start(exec: impl Fn(&[&str]) -> Output, tag: &str, target: &str) -> Self {
        let s = PodStream {
            stop: format!("/tmp/stream-{tag}.stop"),
            out: format!("/tmp/stream-{tag}.out"),
        };
        let script = demo::request_stream(target, &s.stop, &s.out);
        let started = exec(&["sh", "-c", &script]);
        assert!(
            started.status.success(),
            "starting the stream: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        s
    }

    /// The lines so far, and whether the stream has ended.
    pub fn read(&self, exec: impl Fn(&[&str]) -> Output) -> (Vec<Timed>, bool) {
        let out = exec(&["cat", &self.out]);
        Timed::parse(&String::from_utf8_lossy(&out.stdout))
    }

    /// Waits until the stream has at least `n` lines; returns them.
    pub fn wait_lines(&self, exec: impl Fn(&[&str]) -> Output, n: usize) -> Vec<Timed> {
        let deadline = Instant::now() + PROGRESS_TIMEOUT;
        loop {
            let (lines, ended) = self.read(&exec);
            if lines.len() >= n {
                return lines;
            }
            assert!(
                !ended,
                "the stream ended at {} lines, before {n}",
                lines.len()
            );
            assert!(
                Instant::now() < deadline,
                "the stream stalled at {} lines (waiting for {n})",
                lines.len()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Tells the stream to stop and returns every line once it has ended.
    pub fn stop(self, exec: impl Fn(&[&str]) -> Output) -> Vec<Timed> {
        let touched = exec(&["touch", &self.stop]);
        assert!(touched.status.success(), "touch {}", self.stop);
        let deadline = Instant::now() + PROGRESS_TIMEOUT;
        loop {
            let (lines, ended) = self.read(&exec);
            if ended {
                return lines;
            }
            assert!(Instant::now() < deadline, "the stream did not end");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Answered requests and failures among `lines`.
pub fn counts(lines: &[Timed]) -> (usize, usize) {
    let failed = lines.iter().filter(|l| l.answer.is_none()).count();
    (lines.len() - failed, failed)
}
