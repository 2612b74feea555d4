//! Readiness and liveness probes (`exec`, `httpGet`, `tcpSocket`) with
//! their thresholds, as kubelet runs them: the first probe after
//! `initialDelaySeconds`, then every `periodSeconds`; `successThreshold`
//! passes in a row make a container ready, `failureThreshold` failures in
//! a row unready (readiness) or restarted (liveness).
//!
//! One deliberate difference from kubelet: until a container's readiness
//! probe has passed once, it is run again after [`FAST_START_MIN`]
//! (100 ms), doubling after each failure up to `periodSeconds`, instead of
//! a full period later. The first probe runs right after the container
//! starts, usually before its server listens; kubelet's next try a period
//! later made the period the pod's readiness latency. This changes nothing
//! a pod can rely on: a readiness probe that has never passed leaves the
//! container unready whatever the failure count (`failureThreshold` only
//! counts after a success), and liveness probes keep their period.

use std::time::Duration;

use berth_api::IntOrString;
use berth_api::container::Container;
use berth_api::probe::{Probe, ProbeHandler};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::runtime::Runtime;

/// The first wait between readiness probes that have not passed yet
/// (doubled after each failure, up to `periodSeconds`).
pub const FAST_START_MIN: Duration = Duration::from_millis(100);

/// The running state of one probe of one container.
#[derive(Debug, Clone)]
pub struct Track {
    /// Passes in a row.
    pub successes: u32,
    /// Failures in a row.
    pub failures: u32,
    /// When it last ran.
    pub last: Option<Instant>,
    /// The verdict so far.
    pub passing: bool,
    /// Whether it has ever passed.
    pub ever_passed: bool,
    /// Probe at a short back-off until the first pass (readiness).
    pub fast_start: bool,
}

impl Track {
    /// A probe that has not run: readiness starts failing, liveness passing.
    pub fn new(initially: bool) -> Self {
        Self {
            successes: 0,
            failures: 0,
            last: None,
            passing: initially,
            ever_passed: false,
            fast_start: false,
        }
    }

    /// A readiness probe: failing until it passes, tried at a short
    /// back-off until then ([`FAST_START_MIN`]).
    pub fn readiness() -> Self {
        Self {
            fast_start: true,
            ..Self::new(false)
        }
    }

    /// The wait after the last run: `periodSeconds`, or the fast-start
    /// back-off before the first pass.
    pub fn interval(&self, probe: &Probe) -> Duration {
        let period = Duration::from_secs(probe.period_seconds.max(1) as u64);
        if self.fast_start && !self.ever_passed {
            FAST_START_MIN
                .saturating_mul(1u32 << self.failures.saturating_sub(1).min(16))
                .min(period)
        } else {
            period
        }
    }

    /// When it is due next, for a container first seen at `started`.
    pub fn next_due(&self, probe: &Probe, started: Instant) -> Instant {
        let delay = Duration::from_secs(probe.initial_delay_seconds.max(0) as u64);
        let first = started + delay;
        match self.last {
            None => first,
            Some(l) => (l + self.interval(probe)).max(first),
        }
    }

    /// Whether it is due, for a container first seen at `started`.
    pub fn due(&self, probe: &Probe, started: Instant, now: Instant) -> bool {
        now >= self.next_due(probe, started)
    }

    /// Counts one result; returns the verdict.
    pub fn record(&mut self, probe: &Probe, ok: bool, now: Instant) -> bool {
        self.last = Some(now);
        if ok {
            self.ever_passed = true;
            self.successes += 1;
            self.failures = 0;
            if self.successes >= probe.success_threshold.max(1) as u32 {
                self.passing = true;
            }
        } else {
            self.failures += 1;
            self.successes = 0;
            if self.failures >= probe.failure_threshold.max(1) as u32 {
                self.passing = false;
            }
        }
        self.passing
    }
}

/// The number a probe's port means (a name is looked up in the container).
pub fn port(c: &Container, p: &IntOrString) -> Option<u16> {
    match p {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => c
            .ports
            .iter()
            .find(|cp| cp.name == *name)
            .and_then(|cp| u16::try_from(cp.container_port).ok()),
    }
}

async fn http_get(host: &str, port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect((host, port)).await else {
        return false;
    };
    let req = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: berth-probe/1.0\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut buf[n..]).await {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    // `HTTP/1.x 200`: 200–399 pass.
    let line = String::from_utf8_lossy(&buf[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .is_some_and(|c| (200..400).contains(&c))
}

/// Runs `probe` once against container `id` (IP `pod_ip`); `true` passes.
pub async fn run<R: Runtime>(
    runtime: &R,
    c: &Container,
    id: &str,
    probe: &Probe,
    pod_ip: &str,
) -> bool {
    let timeout = Duration::from_secs(probe.timeout_seconds.max(1) as u64);
    let work = async {
        match probe.handler() {
            Some(ProbeHandler::Exec(e)) => runtime
                .exec_sync(id, &e.command, timeout)
                .await
                .is_ok_and(|r| r.exit_code == 0),
            Some(ProbeHandler::TcpSocket(t)) => {
                let host = if t.host.is_empty() { pod_ip } else { &t.host };
                match port(c, &t.port) {
                    Some(p) => TcpStream::connect((host, p)).await.is_ok(),
                    None => false,
                }
            }
            Some(ProbeHandler::HttpGet(h)) => {
                let host = if h.host.is_empty() { pod_ip } else { &h.host };
                match port(c, &h.port) {
                    Some(p) => http_get(host, p, &h.path).await,
                    None => false,
                }
            }
            None => true,
        }
    };
    tokio::time::timeout(timeout, work).await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(success: i32, failure: i32) -> Probe {
        let mut p = Probe::default();
        p.apply_defaults();
        p.success_threshold = success;
        p.failure_threshold = failure;
        p
    }

    #[test]
    fn thresholds() {
        let p = probe(1, 3);
        let now = Instant::now();
        let mut t = Track::new(false);
        assert!(t.record(&p, true, now));
        assert!(t.record(&p, false, now));
        assert!(t.record(&p, false, now));
        assert!(!t.record(&p, false, now));
        assert!(t.record(&p, true, now));
    }

    #[test]
    fn readiness_backs_off_from_100ms_until_it_first_passes() {
        let mut p = probe(1, 3);
        p.period_seconds = 1;
        let now = Instant::now();
        let mut t = Track::readiness();
        assert!(t.due(&p, now, now));
        let ms = |d: Duration| d.as_millis();
        let mut waits = Vec::new();
        for _ in 0..5 {
            t.record(&p, false, now);
            waits.push(ms(t.interval(&p)));
        }
        assert_eq!(waits, [100, 200, 400, 800, 1000]);
        assert!(!t.passing);
        t.record(&p, true, now);
        assert!(t.passing);
        assert_eq!(t.interval(&p), Duration::from_secs(1));
        // After the first pass failures count against the period again.
        t.record(&p, false, now);
        assert_eq!(t.interval(&p), Duration::from_secs(1));
        // Liveness keeps its period from the start.
        let mut l = Track::new(true);
        l.record(&p, false, now);
        assert_eq!(l.interval(&p), Duration::from_secs(1));
        // initialDelaySeconds still holds the first probe back.
        p.initial_delay_seconds = 5;
        let fresh = Track::readiness();
        assert_eq!(fresh.next_due(&p, now), now + Duration::from_secs(5));
    }

    #[tokio::test]
    async fn http_and_tcp_against_a_local_server() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                let mut b = [0u8; 256];
                let n = s.read(&mut b).await.unwrap_or(0);
                let ok = String::from_utf8_lossy(&b[..n]).starts_with("GET /ok ");
                let line: &[u8] = if ok {
                    b"HTTP/1.0 200 OK\r\n\r\n"
                } else {
                    b"HTTP/1.0 503 Unavailable\r\n\r\n"
                };
                let _ = s.write_all(line).await;
            }
        });
        assert!(http_get("127.0.0.1", port, "/ok").await);
        assert!(!http_get("127.0.0.1", port, "/bad").await);
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert!(!http_get("127.0.0.1", closed, "/ok").await);
    }
}
