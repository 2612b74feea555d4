//! UDP and TCP transport for [`crate::answer`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::answer::{SERVER_UDP_PAYLOAD, answer};
use crate::zone::Zone;

/// Classic DNS UDP payload limit without EDNS0.
const UDP_LIMIT_NO_EDNS: usize = 512;
/// How long an idle TCP connection is kept.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Errors of the DNS server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A socket could not be bound.
    #[error("binding DNS {transport} socket on {addr}")]
    Bind {
        /// `udp` or `tcp`.
        transport: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The UDP or TCP socket failed.
    #[error("DNS {transport} socket on {addr} failed")]
    Io {
        /// `udp` or `tcp`.
        transport: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A bound DNS server (UDP and TCP on the same address).
#[derive(Debug)]
pub struct Server {
    udp: UdpSocket,
    tcp: TcpListener,
    addr: SocketAddr,
    zone: Arc<Zone>,
}

/// Binds `addr` (UDP and TCP) and serves `zone` until an error.
pub async fn serve(addr: SocketAddr, zone: Arc<Zone>) -> Result<(), ServeError> {
    Server::bind(addr, zone).await?.run().await
}

impl Server {
    /// Binds UDP and TCP on `addr`; with port 0 both get the same free port.
    pub async fn bind(addr: SocketAddr, zone: Arc<Zone>) -> Result<Self, ServeError> {
        let bind_err = |transport, source| ServeError::Bind {
            transport,
            addr,
            source,
        };
        let mut attempt = 0;
        loop {
            let udp = UdpSocket::bind(addr)
                .await
                .map_err(|e| bind_err("udp", e))?;
            let bound = udp.local_addr().map_err(|e| bind_err("udp", e))?;
            match TcpListener::bind(bound).await {
                Ok(tcp) => {
                    return Ok(Self {
                        udp,
                        tcp,
                        addr: bound,
                        zone,
                    });
                }
                Err(e) if addr.port() == 0 && attempt < 10 => {
                    attempt += 1;
                    tracing::debug!(%bound, error = %e, "TCP port taken, retrying");
                }
                Err(e) => return Err(bind_err("tcp", e)),
            }
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until a socket fails.
    pub async fn run(self) -> Result<(), ServeError> {
        let Self {
            udp,
            tcp,
            addr,
            zone,
        } = self;
        let tcp_zone = zone.clone();
        tokio::select! {
            r = serve_udp(udp, addr, zone) => r,
            r = serve_tcp(tcp, addr, tcp_zone) => r,
        }
    }
}

/// Parses, answers and encodes one request; `limit` is the UDP size limit.
fn respond(zone: &Zone, request: &[u8], limit: Option<usize>) -> Option<Vec<u8>> {
    let response = match Message::from_vec(request) {
        Ok(query) if query.metadata.message_type == MessageType::Response => return None,
        Ok(query) => {
            let limit = limit.map(|l| match &query.edns {
                Some(edns) => {
                    usize::from(edns.max_payload().min(SERVER_UDP_PAYLOAD)).max(UDP_LIMIT_NO_EDNS)
                }
                None => l,
            });
            let response = answer(zone, &query);
            let bytes = response.to_vec().ok()?;
            match limit {
                Some(limit) if bytes.len() > limit => response.truncate(),
                _ => return Some(bytes),
            }
        }
        Err(_) if request.len() >= 12 => {
            let id = u16::from_be_bytes([request[0], request[1]]);
            Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
        }
        Err(_) => return None,
    };
    response.to_vec().ok()
}

async fn serve_udp(udp: UdpSocket, addr: SocketAddr, zone: Arc<Zone>) -> Result<(), ServeError> {
    let io_err = |source| ServeError::Io {
        transport: "udp",
        addr,
        source,
    };
    let mut buf = vec![0u8; 65535];
    loop {
        let (len, peer) = udp.recv_from(&mut buf).await.map_err(io_err)?;
        if let Some(bytes) = respond(&zone, &buf[..len], Some(UDP_LIMIT_NO_EDNS))
            && let Err(e) = udp.send_to(&bytes, peer).await
        {
            tracing::debug!(%peer, error = %e, "UDP send failed");
        }
    }
}

async fn serve_tcp(tcp: TcpListener, addr: SocketAddr, zone: Arc<Zone>) -> Result<(), ServeError> {
    loop {
        let (stream, peer) = tcp.accept().await.map_err(|source| ServeError::Io {
            transport: "tcp",
            addr,
            source,
        })?;
        let zone = zone.clone();
        tokio::spawn(async move {
            if let Err(e) = tcp_connection(stream, &zone).await {
                tracing::debug!(%peer, error = %e, "TCP connection ended");
            }
        });
    }
}

async fn tcp_connection(mut stream: TcpStream, zone: &Zone) -> std::io::Result<()> {
    loop {
        let len = match tokio::time::timeout(TCP_IDLE, stream.read_u16()).await {
            Ok(Ok(len)) => usize::from(len),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        };
        let mut request = vec![0u8; len];
        tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut request))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        let Some(bytes) = respond(zone, &request, None) else {
            return Ok(());
        };
        let Ok(len) = u16::try_from(bytes.len()) else {
            return Ok(());
        };
        let mut frame = Vec::with_capacity(bytes.len() + 2);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&bytes);
        stream.write_all(&frame).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StaticSource, ZoneConfig};

    fn zone() -> Zone {
        Zone::build(&StaticSource::default(), &ZoneConfig::default()).unwrap()
    }

    #[test]
    fn garbage_gets_formerr_or_nothing() {
        let zone = zone();
        assert_eq!(respond(&zone, &[1, 2, 3], Some(512)), None);
        let mut junk = vec![0xab, 0xcd];
        junk.extend((0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        let bytes = respond(&zone, &junk, Some(512)).unwrap();
        let resp = Message::from_vec(&bytes).unwrap();
        assert_eq!(resp.metadata.id, 0xabcd);
        assert_eq!(resp.metadata.response_code, ResponseCode::FormErr);
    }

    #[test]
    fn compression_loop_is_formerr() {
        // Header with one question whose name is a pointer to itself.
        let packet = [
            0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1,
        ];
        let bytes = respond(&zone(), &packet, Some(512)).unwrap();
        let resp = Message::from_vec(&bytes).unwrap();
        assert_eq!(resp.metadata.response_code, ResponseCode::FormErr);
    }
}
