//! The UDP loop: datagrams are read and answered in batches (recvmmsg and
//! sendmmsg, up to [`BATCH`] per system call) on the non-blocking tokio
//! socket; a query that must wait for the upstream is spawned so that one
//! slow name never holds up the others.

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::Arc;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::ServeError;
use crate::handler::{Handler, Step, Transport, Worker};

/// Datagrams per recvmmsg/sendmmsg call.
const BATCH: usize = 32;
/// Largest request read; longer ones are cut and answered FORMERR.
const MAX_REQUEST: usize = 4096;

pub(super) async fn serve(
    udp: Arc<UdpSocket>,
    addr: SocketAddr,
    handler: Arc<Handler>,
) -> Result<(), ServeError> {
    let io_err = |source| ServeError::Io {
        transport: "udp",
        addr,
        source,
    };
    let mut worker = Worker::new(handler.clone(), true);
    let mut batch = Batch::new();
    loop {
        udp.readable().await.map_err(io_err)?;
        let received = match udp.try_io(Interest::READABLE, || batch.receive(udp.as_raw_fd())) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if is_transient(&e) => {
                tracing::debug!(error = %e, "UDP receive failed");
                continue;
            }
            Err(e) => return Err(io_err(e)),
        };
        batch.clear_replies();
        for i in 0..received {
            let (len, peer) = batch.received[i];
            let Some(peer) = peer else { continue };
            match worker.handle(&batch.bufs[i][..len], peer.ip(), Transport::Udp) {
                Step::Reply => batch.push_reply(&worker.out, peer),
                Step::Drop => {}
                Step::Forward(pending) => {
                    let (udp, handler) = (udp.clone(), handler.clone());
                    tokio::spawn(async move {
                        if let Some(bytes) = pending.finish(&handler).await
                            && let Err(e) = udp.send_to(&bytes, peer).await
                        {
                            tracing::debug!(%peer, error = %e, "UDP send failed");
                        }
                    });
                }
            }
        }
        batch.send(&udp).await;
    }
}

/// Errors after which the socket is still good (ICMP errors queued on it).
fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EINTR)
    )
}

/// Reusable buffers of one worker. (The mmsghdr arrays hold raw pointers,
/// are not `Send`, and so are made per call rather than kept across awaits.)
struct Batch {
    bufs: Vec<Vec<u8>>,
    received: Vec<(usize, Option<SocketAddr>)>,
    replies: Vec<Vec<u8>>,
    reply_addrs: Vec<Option<SockaddrStorage>>,
    used: usize,
}

impl Batch {
    fn new() -> Self {
        Self {
            bufs: vec![vec![0u8; MAX_REQUEST]; BATCH],
            received: Vec::with_capacity(BATCH),
            replies: (0..BATCH).map(|_| Vec::with_capacity(512)).collect(),
            reply_addrs: Vec::with_capacity(BATCH),
            used: 0,
        }
    }

    /// One recvmmsg: how many datagrams arrived (at least one).
    fn receive(&mut self, fd: i32) -> std::io::Result<usize> {
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> = self
            .bufs
            .iter_mut()
            .map(|b| [IoSliceMut::new(b.as_mut_slice())])
            .collect();
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
        let results = recvmmsg(
            fd,
            &mut headers,
            iovs.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )
        .map_err(std::io::Error::from)?;
        self.received.clear();
        self.received
            .extend(results.map(|m| (m.bytes, m.address.as_ref().and_then(to_socket_addr))));
        Ok(self.received.len())
    }

    fn clear_replies(&mut self) {
        self.used = 0;
        self.reply_addrs.clear();
    }

    fn push_reply(&mut self, bytes: &[u8], peer: SocketAddr) {
        let slot = &mut self.replies[self.used];
        slot.clear();
        slot.extend_from_slice(bytes);
        self.reply_addrs.push(Some(SockaddrStorage::from(peer)));
        self.used += 1;
    }

    /// Sends the replies: sendmmsg while the socket takes them, then one
    /// awaited send per remaining reply.
    async fn send(&mut self, udp: &UdpSocket) {
        let mut sent = 0;
        while sent < self.used {
            let slices: Vec<[IoSlice<'_>; 1]> = self.replies[sent..self.used]
                .iter()
                .map(|r| [IoSlice::new(r)])
                .collect();
            let addrs = &self.reply_addrs[sent..self.used];
            let result = udp.try_io(Interest::WRITABLE, || {
                let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(slices.len(), None);
                sendmmsg(
                    udp.as_raw_fd(),
                    &mut headers,
                    slices.iter(),
                    addrs,
                    [],
                    MsgFlags::MSG_DONTWAIT,
                )
                .map(Iterator::count)
                .map_err(std::io::Error::from)
            });
            match result {
                Ok(0) => break,
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let peer = addrs[0].as_ref().and_then(to_socket_addr);
                    if let Some(peer) = peer
                        && let Err(e) = udp.send_to(&self.replies[sent], peer).await
                    {
                        tracing::debug!(%peer, error = %e, "UDP send failed");
                    }
                    sent += 1;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "UDP send failed; reply dropped");
                    sent += 1;
                }
            }
        }
    }
}

fn to_socket_addr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    s.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for a in ["127.0.0.1:53", "[::1]:5353"] {
            let a: SocketAddr = a.parse().unwrap();
            assert_eq!(to_socket_addr(&SockaddrStorage::from(a)), Some(a));
        }
    }
}
