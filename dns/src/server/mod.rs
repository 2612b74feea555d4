//! UDP and TCP transport for the [`Handler`].

mod tcp;
mod udp;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};

use crate::handler::Handler;

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
    handler: Arc<Handler>,
    udp_workers: usize,
}

/// Binds `addr` (UDP and TCP) and serves with `handler` until an error.
pub async fn serve(addr: SocketAddr, handler: Handler) -> Result<(), ServeError> {
    Server::bind(addr, handler).await?.run().await
}

impl Server {
    /// Binds UDP and TCP on `addr`; with port 0 both get the same free port.
    pub async fn bind(addr: SocketAddr, handler: impl Into<Handler>) -> Result<Self, ServeError> {
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
                        handler: Arc::new(handler.into()),
                        udp_workers: 1,
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

    /// Serves UDP with `n` worker tasks (each with its own answer cache).
    pub fn with_udp_workers(mut self, n: usize) -> Self {
        self.udp_workers = n.max(1);
        self
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The handler (for the health endpoint).
    pub fn handler(&self) -> &Arc<Handler> {
        &self.handler
    }

    /// Serves until a socket fails.
    pub async fn run(self) -> Result<(), ServeError> {
        let Self {
            udp,
            tcp,
            addr,
            handler,
            udp_workers,
        } = self;
        let udp = Arc::new(udp);
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..udp_workers {
            workers.spawn(udp::serve(udp.clone(), addr, handler.clone()));
        }
        tokio::select! {
            Some(r) = workers.join_next() => r.unwrap_or(Ok(())),
            r = tcp::serve(tcp, addr, handler) => r,
        }
    }
}

impl From<Arc<crate::Zone>> for Handler {
    fn from(zone: Arc<crate::Zone>) -> Self {
        Handler::new(zone)
    }
}
