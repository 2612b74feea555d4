//! Percentiles of latency samples.

use std::time::Duration;

/// p50/p90/p99 of a run, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
}

/// Nearest-rank percentile of sorted samples (`q` in 0..=1).
fn nearest_rank(sorted: &[Duration], q: f64) -> Duration {
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

/// Percentiles of `samples` (sorted in place); `None` when empty.
pub fn percentiles(samples: &mut [Duration]) -> Option<Percentiles> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let us = |q| nearest_rank(samples, q).as_nanos() as f64 / 1_000.0;
    Some(Percentiles {
        p50_us: us(0.50),
        p90_us: us(0.90),
        p99_us: us(0.99),
    })
}

/// Median of durations in milliseconds (sorted in place); `None` when empty.
pub fn median_ms(samples: &mut [Duration]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    Some(nearest_rank(samples, 0.5).as_nanos() as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let p = percentiles(&mut v).unwrap();
        assert_eq!((p.p50_us, p.p90_us, p.p99_us), (50.0, 90.0, 99.0));
        let mut one = vec![Duration::from_nanos(1500)];
        assert_eq!(percentiles(&mut one).unwrap().p99_us, 1.5);
        assert!(percentiles(&mut []).is_none());
        let mut ms = vec![
            Duration::from_micros(300),
            Duration::from_micros(100),
            Duration::from_micros(200),
        ];
        assert_eq!(median_ms(&mut ms), Some(0.2));
    }
}
