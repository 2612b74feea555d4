//! Request latency from this host: a fresh TCP connection, one HTTP/1.0
//! GET, the whole response read — to the service's VIP (translated by the
//! socket load balancer at connect()) and to a pod's own address,
//! interleaved so that both see the same noise.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long one request may take before it counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// One request; its duration, or why it failed.
pub fn request(addr: SocketAddr) -> std::io::Result<Duration> {
    let t = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)?;
    s.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut buf = Vec::with_capacity(512);
    s.read_to_end(&mut buf)?;
    if !buf.starts_with(b"HTTP/1.") {
        return Err(std::io::Error::other("not an HTTP response"));
    }
    Ok(t.elapsed())
}

/// p50, p90 and p99 of some samples, and how many failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Successful requests.
    pub ok: usize,
    /// Failed requests.
    pub failed: usize,
    /// Median, µs.
    pub p50_us: f64,
    /// 90th percentile, µs.
    pub p90_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
}

/// Nearest-rank percentiles of `samples` (sorted here).
pub fn summarize(samples: &mut [Duration], failed: usize) -> Summary {
    samples.sort();
    let at = |q: f64| -> f64 {
        if samples.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
        samples[rank - 1].as_secs_f64() * 1e6
    };
    Summary {
        ok: samples.len(),
        failed,
        p50_us: at(0.50),
        p90_us: at(0.90),
        p99_us: at(0.99),
    }
}

/// `n` requests to each target, interleaved; one summary per target.
pub fn compare(targets: &[SocketAddr], n: usize) -> Vec<Summary> {
    let mut samples = vec![Vec::with_capacity(n); targets.len()];
    let mut failed = vec![0; targets.len()];
    for _ in 0..n {
        for (i, t) in targets.iter().enumerate() {
            match request(*t) {
                Ok(d) => samples[i].push(d),
                Err(_) => failed[i] += 1,
            }
        }
    }
    samples
        .iter_mut()
        .zip(failed)
        .map(|(s, f)| summarize(s, f))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut s: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let sum = summarize(&mut s, 2);
        assert_eq!((sum.ok, sum.failed), (100, 2));
        assert_eq!((sum.p50_us, sum.p90_us, sum.p99_us), (50.0, 90.0, 99.0));
        assert!(summarize(&mut [], 1).p50_us.is_nan());
    }

    #[test]
    fn a_request_to_a_local_http_server() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut b = [0; 64];
            let _ = c.read(&mut b).unwrap();
            c.write_all(b"HTTP/1.0 200 OK\r\n\r\nhi").unwrap();
        });
        assert!(request(addr).is_ok());
        server.join().unwrap();
        // Nothing listens there any more.
        assert!(request(addr).is_err());
    }
}
