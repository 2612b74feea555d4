//! One dnsperf run and what it printed.
//!
//! dnsperf 2.10 reports the average latency but no percentiles, so it runs
//! with `-v`: one line per answered query, `> RCODE name type 0.000123`
//! (latency in seconds, microsecond resolution), `> T name type` for a
//! query that timed out. Its stdout goes to a file in the work directory
//! (no pipe for this process to drain while the clock runs), parsed after
//! it exits: p50/p99 and the mean from every answered query, and each
//! answer's rcode checked against what its query must get. The QPS, the
//! counts and the packet sizes come from dnsperf's own statistics.

use std::{
    collections::{BTreeMap, HashMap},
    io::BufRead,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::Context as _;

use super::{
    proc::Guard,
    workload::{Expect, Queries},
};
use crate::stats;

/// The client's CPU (`taskset -c`).
pub const CLIENT_CPU: usize = 0;
/// Wrong answers quoted in the report per run (the rest are counted).
const MAX_EXAMPLES: usize = 5;

/// The fixed part of the command line, for the report.
pub fn flags(duration: u64) -> String {
    format!(
        "taskset -c {CLIENT_CPU} dnsperf -s 127.0.0.1 -p PORT -c 1 -T 1 -l {duration} -d FILE -v"
    )
}

/// `dnsperf -h` says `Version 2.10.0`.
pub fn version() -> String {
    let out = Command::new("dnsperf").arg("-h").output();
    out.ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            text.lines()
                .find_map(|l| l.trim().strip_prefix("Version "))
                .map(|v| format!("dnsperf {v}"))
        })
        .unwrap_or_else(|| "dnsperf (version unknown)".to_string())
}

/// What one run measured and found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub summary: Summary,
    /// Answered queries with a latency.
    pub answered: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// `> T` lines.
    pub timed_out: u64,
    /// Answers whose rcode is not the one their query must get.
    pub wrong: u64,
    /// NXDOMAIN answers (checked against the mix's share).
    pub nxdomain: u64,
    /// A few wrong answers, `name type: got X, want Y`.
    pub examples: Vec<String>,
}

/// dnsperf's own statistics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub sent: u64,
    pub completed: u64,
    pub lost: u64,
    /// rcode → count.
    pub rcodes: BTreeMap<String, u64>,
    pub request_bytes: f64,
    pub response_bytes: f64,
    pub run_time_s: f64,
    pub qps: f64,
    pub avg_latency_ms: f64,
}

/// Runs dnsperf against `127.0.0.1:port` for `duration` seconds (`None`:
/// one pass over the file, the warm-up), stdout into `out`, stderr into
/// `err`; parses the result against `queries`.
pub fn run(
    port: u16,
    duration: Option<u64>,
    file: &Path,
    queries: &Queries,
    out: &Path,
    err: &Path,
) -> anyhow::Result<Outcome> {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", &CLIENT_CPU.to_string(), "dnsperf"])
        .args(["-s", "127.0.0.1", "-p", &port.to_string()])
        .args(["-c", "1", "-T", "1"]);
    match duration {
        Some(d) => cmd.args(["-l", &d.to_string()]),
        None => cmd.args(["-n", "1"]),
    };
    cmd.arg("-d").arg(file).arg("-v");
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?)
        .stderr(std::fs::File::create(err).with_context(|| format!("creating {}", err.display()))?);
    let limit = Duration::from_secs(duration.unwrap_or(60) + 30);
    let mut child = Guard::spawn("dnsperf", cmd)?;
    if duration.is_some() {
        // Its threads exist by now; none may have left the client's CPU.
        std::thread::sleep(Duration::from_millis(200));
        if child.exited().is_none() {
            let off = super::proc::threads_off_cpu(child.pid(), CLIENT_CPU)?;
            anyhow::ensure!(
                off.is_empty(),
                "dnsperf threads left CPU {CLIENT_CPU}: {}",
                off.join(", ")
            );
        }
    }
    let status = child.wait(limit)?;
    if !status.success() {
        anyhow::bail!("dnsperf failed ({status}): {}", super::proc::tail(err, 10));
    }
    let reader = std::io::BufReader::new(
        std::fs::File::open(out).with_context(|| format!("opening {}", out.display()))?,
    );
    let outcome = parse(reader, &queries.expect)?;
    // 100 MB of lines per 10 s at full speed: gone as soon as read.
    let _ = std::fs::remove_file(out);
    Ok(outcome)
}

/// Parses dnsperf `-v` output: per-query lines and the statistics.
pub fn parse(reader: impl BufRead, expect: &HashMap<String, Expect>) -> anyhow::Result<Outcome> {
    let mut o = Outcome::default();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut wrong_more = 0u64;
    let mut stats = false;
    for line in reader.lines() {
        let line = line.context("reading dnsperf's output")?;
        if let Some(rest) = line.strip_prefix("> ") {
            let Some((rcode, rest)) = rest.split_once(' ') else {
                continue;
            };
            if rcode == "T" || rcode == "I" {
                o.timed_out += u64::from(rcode == "T");
                continue;
            }
            let Some((query, latency)) = rest.rsplit_once(' ') else {
                continue;
            };
            let Some(us) = micros(latency) else {
                continue;
            };
            latencies.push(Duration::from_micros(us));
            if rcode == "NXDOMAIN" {
                o.nxdomain += 1;
            }
            let want = expect.get(query).map(|e| e.rcode());
            if want != Some(rcode) {
                o.wrong += 1;
                if o.examples.len() < MAX_EXAMPLES {
                    o.examples.push(match want {
                        Some(w) => format!("{query}: got {rcode}, want {w}"),
                        None => format!("{query}: got {rcode} for a query never sent"),
                    });
                } else {
                    wrong_more += 1;
                }
            }
        } else if line.trim() == "Statistics:" {
            stats = true;
        } else if stats {
            summary_line(&line, &mut o.summary);
        }
    }
    if wrong_more > 0 {
        o.examples.push(format!("… and {wrong_more} more"));
    }
    anyhow::ensure!(stats, "dnsperf printed no statistics (did it run at all?)");
    o.answered = latencies.len() as u64;
    if !latencies.is_empty() {
        let sum: Duration = latencies.iter().sum();
        o.mean_ms = sum.as_secs_f64() * 1e3 / latencies.len() as f64;
        if let Some(p) = stats::percentiles(&mut latencies) {
            o.p50_ms = p.p50_us / 1e3;
            o.p99_ms = p.p99_us / 1e3;
        }
    }
    Ok(o)
}

/// `0.000123` (seconds, six decimals) → 123 µs.
fn micros(s: &str) -> Option<u64> {
    let (secs, frac) = s.split_once('.')?;
    let mut us: u64 = secs.parse::<u64>().ok()?.checked_mul(1_000_000)?;
    let digits = frac.get(..frac.len().min(6))?;
    let scale = 10u64.pow(6 - digits.len() as u32);
    us += digits.parse::<u64>().ok()? * scale;
    Some(us)
}

/// One line of the statistics block.
fn summary_line(line: &str, s: &mut Summary) {
    let Some((key, value)) = line.trim().split_once(':') else {
        return;
    };
    let value = value.trim();
    let first = |v: &str| {
        v.split_whitespace()
            .next()
            .and_then(|x| x.parse::<f64>().ok())
    };
    match key {
        "Queries sent" => s.sent = first(value).unwrap_or(0.0) as u64,
        "Queries completed" => s.completed = first(value).unwrap_or(0.0) as u64,
        "Queries lost" => s.lost = first(value).unwrap_or(0.0) as u64,
        "Response codes" => {
            for part in value.split(", ") {
                let mut w = part.split_whitespace();
                if let (Some(code), Some(n)) = (w.next(), w.next().and_then(|n| n.parse().ok())) {
                    s.rcodes.insert(code.to_string(), n);
                }
            }
        }
        "Average packet size" => {
            for part in value.split(", ") {
                let n = part.split_whitespace().nth(1).and_then(|n| n.parse().ok());
                match (part.split_whitespace().next(), n) {
                    (Some("request"), Some(n)) => s.request_bytes = n,
                    (Some("response"), Some(n)) => s.response_bytes = n,
                    _ => {}
                }
            }
        }
        "Run time (s)" => s.run_time_s = first(value).unwrap_or(0.0),
        "Queries per second" => s.qps = first(value).unwrap_or(0.0),
        "Average Latency (s)" => s.avg_latency_ms = first(value).unwrap_or(0.0) * 1e3,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 15353 -c 1 -T 1 -l 5 -d q -v
[Status] Sending queries (to 127.0.0.1:15353)
> NOERROR svc-0.default.svc.cluster.local A 0.000129
> NXDOMAIN missing-0.default.svc.cluster.local A 0.000022
> NOERROR svc-1.apps.svc.cluster.local A 1.000100
> NOERROR missing-2.data.svc.cluster.local A 0.000050
> T svc-0.default.svc.cluster.local A
> REFUSED other.example A 0.000010
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         7
  Queries completed:    5 (71.43%)
  Queries lost:         2 (28.57%)

  Response codes:       NOERROR 3 (60.00%), NXDOMAIN 1 (20.00%), REFUSED 1 (20.00%)
  Average packet size:  request 51, response 67
  Run time (s):         5.005515
  Queries per second:   97884.233690

  Average Latency (s):  0.000853 (min 0.000024, max 0.005839)
  Latency StdDev (s):   0.000296
";

    fn expect() -> HashMap<String, Expect> {
        [
            ("svc-0.default.svc.cluster.local A", Expect::NoError),
            ("svc-1.apps.svc.cluster.local A", Expect::NoError),
            ("missing-0.default.svc.cluster.local A", Expect::NxDomain),
            ("missing-2.data.svc.cluster.local A", Expect::NxDomain),
        ]
        .into_iter()
        .map(|(q, e)| (q.to_string(), e))
        .collect()
    }

    #[test]
    fn parses_queries_and_statistics() {
        let o = parse(OUTPUT.as_bytes(), &expect()).unwrap();
        let s = &o.summary;
        assert_eq!((s.sent, s.completed, s.lost), (7, 5, 2));
        assert_eq!(s.rcodes["NOERROR"], 3);
        assert_eq!(s.rcodes["REFUSED"], 1);
        assert_eq!((s.request_bytes, s.response_bytes), (51.0, 67.0));
        assert_eq!(s.qps, 97884.23369);
        assert!((s.avg_latency_ms - 0.853).abs() < 1e-9);
        assert_eq!((o.answered, o.timed_out, o.nxdomain), (5, 1, 1));
        assert_eq!(o.wrong, 2);
        assert_eq!(
            o.examples,
            [
                "missing-2.data.svc.cluster.local A: got NOERROR, want NXDOMAIN",
                "other.example A: got REFUSED for a query never sent",
            ]
        );
        // Latencies 10, 22, 50, 129, 1000100 µs.
        assert!((o.mean_ms - 1000.311 / 5.0).abs() < 1e-9, "{}", o.mean_ms);
        assert_eq!(o.p50_ms, 0.05);
        assert_eq!(o.p99_ms, 1000.1);
    }

    #[test]
    fn no_statistics_is_an_error() {
        assert!(parse("> NOERROR a A 0.000001\n".as_bytes(), &expect()).is_err());
    }

    #[test]
    fn latency_text() {
        assert_eq!(micros("0.000129"), Some(129));
        assert_eq!(micros("1.5"), Some(1_500_000));
        assert_eq!(micros("2.0000019"), Some(2_000_001));
        assert_eq!(micros("x"), None);
    }
}
