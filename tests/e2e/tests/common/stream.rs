//! An lbprobe that runs until the test says stop (`stream`, `hold`) beside
//! what a test does, with its progress followed as it happens, so that
//! "the stream ran across X" is proven, not assumed from a clock.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Probe;

/// Only catches a hang: how long the stream may take to make progress.
pub const PROGRESS_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `lbprobe stream` or `hold`.
pub struct Stream {
    child: Child,
    /// Answers so far (the last `progress=` line), and every line.
    seen: Arc<Mutex<(u64, Vec<String>)>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Stream {
    /// Starts `cmd` (an `lbprobe stream|hold ADDR` command) with its stdin
    /// and stdout piped.
    pub fn start(mut cmd: Command) -> Stream {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn lbprobe stream");
        let out = child.stdout.take().expect("stdout");
        let seen = Arc::new(Mutex::new((0, Vec::new())));
        let s = seen.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let mut g = s.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(n) = line.strip_prefix("progress=").and_then(|n| n.parse().ok()) {
                    g.0 = n;
                }
                g.1.push(line);
            }
        });
        Stream {
            child,
            seen,
            reader: Some(reader),
        }
    }

    /// The first line starting with `prefix`, less the prefix (waiting for
    /// it up to [`PROGRESS_TIMEOUT`]).
    pub fn wait_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + PROGRESS_TIMEOUT;
        loop {
            let found = {
                let g = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                g.1.iter()
                    .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
            };
            if let Some(rest) = found {
                return rest;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the probe ended ({status}) before printing {prefix:?}");
            }
            assert!(Instant::now() < deadline, "no {prefix:?} line");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Answers (exchanges) so far.
    pub fn answered(&self) -> u64 {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    /// Waits until at least `n` connections were answered; panics after
    /// [`PROGRESS_TIMEOUT`] or if the stream ended.
    pub fn wait_answered(&mut self, n: u64) -> u64 {
        let deadline = Instant::now() + PROGRESS_TIMEOUT;
        loop {
            let now = self.answered();
            if now >= n {
                return now;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the stream ended ({status}) at {now} answers, before {n}");
            }
            assert!(
                Instant::now() < deadline,
                "the stream stalled at {now} answers (waiting for {n})"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the stream (closes its stdin) and returns its final counts.
    pub fn stop(mut self) -> Probe {
        drop(self.child.stdin.take());
        let status = self.child.wait().expect("wait lbprobe stream");
        if let Some(r) = self.reader.take() {
            r.join().expect("reader");
        }
        let lines = std::mem::take(&mut self.seen.lock().unwrap_or_else(|e| e.into_inner()).1);
        assert!(status.success(), "lbprobe stream: {status}: {lines:?}");
        Probe(
            lines
                .iter()
                .filter_map(|l| l.split_once('='))
                .filter(|(k, _)| *k != "progress")
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
