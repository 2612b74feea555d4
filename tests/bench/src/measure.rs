//! The client side of the latency benchmark: from one thread that moves
//! between client namespaces, many short TCP connections, one at a time, each to a
//! uniformly random target: socket, connect, send 1 byte, read the 1-byte
//! reply, close. The elapsed time of each is one sample.

use std::{
    io::{self, Read as _, Write as _},
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream},
    os::fd::AsRawFd as _,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use berth_test_support::{Netns, echo::RR_REPLY};
use nix::sys::{
    socket::{
        AddressFamily, SockFlag, SockType, SockaddrStorage, connect, setsockopt, socket, sockopt,
    },
    time::TimeVal,
};

use crate::{interrupt, rng::Rng};

/// Bound on each blocking step of a connection.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(2);
/// A run stops early after this many failed connections (they are counted
/// and reported; the run is failed either way).
pub const MAX_FAILURES: u64 = 20;
/// Error messages kept per run.
const KEPT_ERRORS: usize = 3;

/// Where each connection goes.
#[derive(Debug, Clone)]
pub enum Targets {
    /// `base + 1 + i` for a random `i` in `0..count`, port `port`: one of
    /// `count` service VIPs.
    Vips {
        base: Ipv4Addr,
        count: usize,
        port: u16,
    },
    /// One of these addresses.
    List(Vec<SocketAddr>),
}

impl Targets {
    /// A random target, and its index when it is one of a [`Targets::List`].
    fn pick(&self, rng: &mut Rng) -> (SocketAddr, Option<usize>) {
        match self {
            Targets::Vips { base, count, port } => {
                let i = rng.below(*count);
                (SocketAddr::new(IpAddr::V4(nth_vip(*base, i)), *port), None)
            }
            Targets::List(v) => {
                let i = rng.below(v.len());
                (v[i], Some(i))
            }
        }
    }
}

/// The VIP of service `i` in a range starting at network address `base`
/// (the network address itself is skipped).
pub fn nth_vip(base: Ipv4Addr, i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base) + 1 + i as u32)
}

/// Samples and failures of one run.
#[derive(Debug, Default)]
pub struct Run {
    pub samples: Vec<Duration>,
    /// Connections made, warm-up included, that got their reply.
    pub succeeded: u64,
    pub failures: u64,
    /// The first few failures, for the report.
    pub errors: Vec<String>,
    /// For a [`Targets::List`]: successful connections per address.
    pub picked: Vec<u64>,
}

/// One connection; its latency from before `socket()` to after `close()`.
pub fn rr_once(addr: SocketAddr, timeout: Duration) -> io::Result<Duration> {
    let start = Instant::now();
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    let tv = TimeVal::new(timeout.as_secs() as _, timeout.subsec_micros() as _);
    // SO_SNDTIMEO also bounds a blocking connect().
    setsockopt(&fd, sockopt::SendTimeout, &tv)?;
    setsockopt(&fd, sockopt::ReceiveTimeout, &tv)?;
    connect(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    let mut stream = TcpStream::from(fd);
    stream.write_all(b"r")?;
    let mut reply = [0u8; 1];
    stream.read_exact(&mut reply)?;
    if reply[0] != RR_REPLY {
        return Err(io::Error::other(format!(
            "unexpected reply {:?}",
            reply[0] as char
        )));
    }
    drop(stream);
    Ok(start.elapsed())
}

/// Connections of one kind: from a thread inside `ns`, to `targets`.
#[derive(Debug, Clone, Copy)]
pub struct Set<'a> {
    pub ns: &'a Netns,
    pub targets: &'a Targets,
}

/// `warmup` unrecorded then `samples` recorded connections per set. The
/// sets take turns connection by connection (in ABBA order, one connection
/// at a time) on one thread, which moves between the sets' namespaces
/// (setns, outside the timed part): drift of the machine over time and
/// where the scheduler puts the thread affect every set alike. Each set's
/// [`Run`] is returned in order.
pub fn run(sets: &[Set<'_>], warmup: usize, samples: usize) -> anyhow::Result<Vec<Run>> {
    let first = sets.first().context("no connection sets")?;
    let runs = first.ns.run(|| -> anyhow::Result<Vec<Run>> {
        let mut current = first.ns.ino();
        let mut rng = Rng::from_entropy();
        let mut runs: Vec<Run> = sets
            .iter()
            .map(|set| Run {
                samples: Vec::with_capacity(samples),
                picked: match set.targets {
                    Targets::List(v) => vec![0; v.len()],
                    Targets::Vips { .. } => Vec::new(),
                },
                ..Run::default()
            })
            .collect();
        let mut order: Vec<usize> = (0..sets.len()).collect();
        'rounds: for i in 0..warmup + samples {
            if i % 64 == 0 && interrupt::requested() {
                break;
            }
            order.reverse();
            for &s in &order {
                let set = sets[s];
                if set.ns.ino() != current {
                    set.ns.enter_current_thread()?;
                    current = set.ns.ino();
                }
                let (addr, index) = set.targets.pick(&mut rng);
                let run = &mut runs[s];
                match rr_once(addr, STEP_TIMEOUT) {
                    Ok(d) => {
                        run.succeeded += 1;
                        if let Some(j) = index {
                            run.picked[j] += 1;
                        }
                        if i >= warmup {
                            run.samples.push(d);
                        }
                    }
                    Err(e) => {
                        run.failures += 1;
                        if run.errors.len() < KEPT_ERRORS {
                            run.errors.push(format!("{addr}: {e}"));
                        }
                        if run.failures >= MAX_FAILURES {
                            break 'rounds;
                        }
                    }
                }
            }
        }
        Ok(runs)
    })??;
    interrupt::check()?;
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vips_skip_the_network_address() {
        let base = Ipv4Addr::new(10, 96, 0, 0);
        assert_eq!(nth_vip(base, 0), Ipv4Addr::new(10, 96, 0, 1));
        assert_eq!(nth_vip(base, 99_999), Ipv4Addr::new(10, 97, 134, 160));
        let t = Targets::Vips {
            base,
            count: 3,
            port: 80,
        };
        let mut rng = Rng::new(3);
        for _ in 0..100 {
            let (a, index) = t.pick(&mut rng);
            assert_eq!(index, None);
            assert!(matches!(a.ip(), IpAddr::V4(v) if (1..=3).contains(&v.octets()[3])));
            assert_eq!(a.port(), 80);
        }
    }
}
