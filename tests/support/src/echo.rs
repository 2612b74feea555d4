//! Tiny TCP/UDP servers and matching clients for tests and benchmarks.
//!
//! TCP protocol, per chunk the server reads (up to 64 bytes):
//! - 1 byte: reply with exactly one byte, `b'x'` (request/response benchmark);
//!   the connection stays open for more requests;
//! - `b"who\n"`: reply `<id>\n` and close;
//! - `b"id?\n"`: reply `<id>\n` and stay open (a long-lived client);
//! - `b"from?\n"`: reply `<id> <peer address:port>\n` and close (what
//!   source a NAT left the client);
//! - anything else: echoed back.
//!
//! UDP protocol: every datagram is answered, to its sender, with `<id>`;
//! `b"from?\n"` with `<id> <sender address:port>`.
//!
//! Servers run on their own threads inside a [`Netns`] and stop when dropped.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::sock;

/// How often server threads look at their stop flag.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How long dropping a server waits for its threads (only to catch hangs).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Request of [`tcp_who`] / [`udp_who`].
pub const WHO: &[u8] = b"who\n";
/// Asks the id and keeps the connection open.
pub const ID: &[u8] = b"id?\n";
/// Asks the id and the address the server sees the client at.
pub const FROM: &[u8] = b"from?\n";

/// Reply to a 1-byte TCP request.
pub const RR_REPLY: u8 = b'x';

const CONN_STACK_SIZE: usize = 128 * 1024;

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    count: AtomicU64,
    active_conns: AtomicUsize,
}

/// A TCP server (see the module docs for the protocol).
#[derive(Debug)]
pub struct TcpEcho {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl TcpEcho {
    /// Listens on `bind` inside `ns` (port 0 picks a free port, see
    /// [`TcpEcho::local_addr`]) and answers `who` with `id`.
    pub fn start(ns: &Netns, bind: SocketAddr, id: &str) -> Result<TcpEcho> {
        let listener = ns.run(|| sock::tcp_listener(bind))??;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io(format!("make listener on {bind} non-blocking"), e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::io(format!("local address of listener on {bind}"), e))?;
        let shared = Arc::new(Shared::default());
        let who_reply: Arc<[u8]> = format!("{id}\n").into_bytes().into();
        let acceptor = {
            let shared = Arc::clone(&shared);
            ns.try_spawn(move || accept_loop(&listener, &who_reply, &shared))?
        };
        tracing::debug!(addr = %local_addr, netns = %ns.name(), id, "TCP echo server started");
        Ok(TcpEcho {
            local_addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.count.load(Ordering::Relaxed)
    }
}

impl Drop for TcpEcho {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.shared.active_conns.load(Ordering::Acquire) > 0 {
            if Instant::now() > deadline {
                tracing::warn!(addr = %self.local_addr, "TCP echo connections did not stop");
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn accept_loop(listener: &TcpListener, who_reply: &Arc<[u8]>, shared: &Arc<Shared>) {
    let timeout = PollTimeout::try_from(POLL_INTERVAL).unwrap_or(PollTimeout::ZERO);
    while !shared.stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "poll on echo listener failed");
                std::thread::sleep(POLL_INTERVAL);
                continue;
            }
        }
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    shared.count.fetch_add(1, Ordering::Relaxed);
                    spawn_conn(stream, who_reply, shared);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    std::thread::sleep(Duration::from_millis(10));
                    break;
                }
            }
        }
    }
}

/// Decrements the active-connection count when a connection thread ends,
/// however it ends.
struct ConnGuard(Arc<Shared>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.active_conns.fetch_sub(1, Ordering::Release);
    }
}

fn spawn_conn(stream: TcpStream, who_reply: &Arc<[u8]>, shared: &Arc<Shared>) {
    shared.active_conns.fetch_add(1, Ordering::Acquire);
    let guard = ConnGuard(Arc::clone(shared));
    let who_reply = Arc::clone(who_reply);
    let spawned = std::thread::Builder::new()
        .name("echo-conn".to_owned())
        .stack_size(CONN_STACK_SIZE)
        .spawn(move || {
            serve_conn(stream, &who_reply, &guard.0.stop);
            drop(guard);
        });
    if let Err(e) = spawned {
        // The closure (and with it the guard and the stream) is dropped.
        tracing::warn!(error = %e, "could not spawn echo connection thread");
    }
}

fn serve_conn(mut stream: TcpStream, who_reply: &[u8], stop: &AtomicBool) {
    let setup = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_nodelay(true))
        .and_then(|()| stream.set_read_timeout(Some(POLL_INTERVAL)));
    if let Err(e) = setup {
        tracing::debug!(error = %e, "echo connection setup failed");
        return;
    }
    let mut buf = [0u8; 64];
    while !stop.load(Ordering::Relaxed) {
        let n = match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(_) => return,
        };
        let written = match &buf[..n] {
            [_] => stream.write_all(&[RR_REPLY]),
            chunk if chunk == WHO => {
                let _ = stream.write_all(who_reply);
                return;
            }
            chunk if chunk == ID => stream.write_all(who_reply),
            chunk if chunk == FROM => {
                let _ = stream.write_all(&from_reply(who_reply, stream.peer_addr().ok()));
                return;
            }
            chunk => stream.write_all(chunk),
        };
        if written.is_err() {
            return;
        }
    }
}

/// A UDP server answering every datagram with its id.
#[derive(Debug)]
pub struct UdpEcho {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl UdpEcho {
    /// Binds `bind` inside `ns` (port 0 picks a free port, see
    /// [`UdpEcho::local_addr`]) and answers every datagram with `id`.
    pub fn start(ns: &Netns, bind: SocketAddr, id: &str) -> Result<UdpEcho> {
        let socket = ns.run(|| sock::udp_socket(bind))??;
        socket
            .set_read_timeout(Some(POLL_INTERVAL))
            .map_err(|e| Error::io(format!("set read timeout on {bind}"), e))?;
        let local_addr = socket
            .local_addr()
            .map_err(|e| Error::io(format!("local address of UDP socket on {bind}"), e))?;
        let shared = Arc::new(Shared::default());
        let reply: Vec<u8> = id.as_bytes().to_vec();
        let thread = {
            let shared = Arc::clone(&shared);
            ns.try_spawn(move || udp_loop(&socket, &reply, &shared))?
        };
        tracing::debug!(addr = %local_addr, netns = %ns.name(), id, "UDP echo server started");
        Ok(UdpEcho {
            local_addr,
            shared,
            thread: Some(thread),
        })
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Datagrams received so far.
    pub fn received(&self) -> u64 {
        self.shared.count.load(Ordering::Relaxed)
    }
}

impl Drop for UdpEcho {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn udp_loop(socket: &UdpSocket, reply: &[u8], shared: &Shared) {
    let mut buf = [0u8; 2048];
    while !shared.stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                shared.count.fetch_add(1, Ordering::Relaxed);
                let answer = if &buf[..n] == FROM {
                    from_reply(reply, Some(from))
                } else {
                    reply.to_vec()
                };
                if let Err(e) = socket.send_to(&answer, from) {
                    tracing::debug!(peer = %from, error = %e, "UDP echo reply failed");
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                tracing::debug!(error = %e, "UDP echo receive failed");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// `<id> <peer>\n` (the id without its newline).
fn from_reply(id: &[u8], peer: Option<SocketAddr>) -> Vec<u8> {
    let id = String::from_utf8_lossy(id);
    let peer = peer.map_or_else(|| "?".to_string(), |p| p.to_string());
    format!("{} {peer}\n", id.trim_end()).into_bytes()
}

/// Maps an I/O error to [`Error::Timeout`] when it is one.
fn io_err(what: String, e: std::io::Error, timeout: Duration) -> Error {
    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
        Error::Timeout {
            what,
            after: timeout,
        }
    } else {
        Error::io(what, e)
    }
}

fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| io_err(format!("connect to {addr}"), e, timeout))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .and_then(|()| stream.set_nodelay(true))
        .map_err(|e| Error::io(format!("configure socket to {addr}"), e))?;
    Ok(stream)
}

/// Asks the TCP server at `addr` for its id (from the calling thread's
/// namespace). `timeout` bounds each step.
pub fn tcp_who(addr: SocketAddr, timeout: Duration) -> Result<String> {
    let mut stream = connect(addr, timeout)?;
    stream
        .write_all(WHO)
        .map_err(|e| io_err(format!("send to {addr}"), e, timeout))?;
    let deadline = Instant::now() + timeout;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 256];
    while !reply.contains(&b'\n') {
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: format!("who reply from {addr}"),
                after: timeout,
            });
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(format!("read from {addr}"), e, timeout)),
        }
    }
    let Some(end) = reply.iter().position(|b| *b == b'\n') else {
        return Err(Error::Protocol {
            peer: addr.to_string(),
            detail: format!(
                "connection closed before a full reply ({:?})",
                String::from_utf8_lossy(&reply)
            ),
        });
    };
    Ok(String::from_utf8_lossy(&reply[..end]).into_owned())
}

/// One TCP request/response round trip: connect, send 1 byte, read the
/// 1-byte reply. Returns the time from before `connect` to after the reply.
/// The socket is then closed with a RST (`SO_LINGER` 0), so that thousands of
/// round trips per second do not exhaust ephemeral ports in TIME_WAIT.
pub fn tcp_rr_once(addr: SocketAddr, timeout: Duration) -> Result<Duration> {
    let start = Instant::now();
    let mut stream = connect(addr, timeout)?;
    stream
        .write_all(b"r")
        .map_err(|e| io_err(format!("send to {addr}"), e, timeout))?;
    let mut reply = [0u8; 1];
    stream
        .read_exact(&mut reply)
        .map_err(|e| io_err(format!("read from {addr}"), e, timeout))?;
    let elapsed = start.elapsed();
    if reply[0] != RR_REPLY {
        return Err(Error::Protocol {
            peer: addr.to_string(),
            detail: format!(
                "expected {:?}, got {:?}",
                RR_REPLY as char, reply[0] as char
            ),
        });
    }
    // Best effort: a normal close works too, it just leaves TIME_WAIT behind.
    let _ = sock::set_linger_zero(&stream);
    Ok(elapsed)
}

/// Sends `who` from an unconnected UDP socket to `addr` and returns the reply
/// with the source address `recv_from` reported (to check that a reply to a
/// service VIP appears to come from the VIP).
pub fn udp_who(addr: SocketAddr, timeout: Duration) -> Result<(String, SocketAddr)> {
    let local: SocketAddr = match addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).map_err(|e| Error::io(format!("bind {local}"), e))?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|e| Error::io("set UDP read timeout", e))?;
    socket
        .send_to(WHO, addr)
        .map_err(|e| io_err(format!("send to {addr}"), e, timeout))?;
    let mut buf = [0u8; 2048];
    let (n, from) = socket
        .recv_from(&mut buf)
        .map_err(|e| io_err(format!("receive reply from {addr}"), e, timeout))?;
    Ok((String::from_utf8_lossy(&buf[..n]).into_owned(), from))
}
