//! `--metrics-listen`: /healthz, /readyz and Prometheus /metrics over a
//! minimal HTTP/1.1 responder (one request per connection).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::handler::Handler;

/// How long a client may take to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request head read.
const MAX_HEAD: usize = 8192;

/// Errors of the health endpoint.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The listener could not be bound.
    #[error("binding the metrics endpoint on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A bound health and metrics endpoint.
#[derive(Debug)]
pub struct HealthServer {
    listener: TcpListener,
    handler: Arc<Handler>,
}

impl HealthServer {
    /// Binds `addr`; answers from `handler`'s metrics and upstream.
    pub async fn bind(addr: SocketAddr, handler: Arc<Handler>) -> Result<Self, HealthError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| HealthError::Bind { addr, source })?;
        Ok(Self { listener, handler })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the task is dropped.
    pub async fn run(self) {
        loop {
            let Ok((stream, peer)) = self.listener.accept().await else {
                continue;
            };
            let handler = self.handler.clone();
            tokio::spawn(async move {
                if let Err(e) = respond(stream, &handler).await {
                    tracing::debug!(%peer, error = %e, "metrics request failed");
                }
            });
        }
    }
}

async fn respond(mut stream: TcpStream, handler: &Handler) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = tokio::time::timeout(REQUEST_TIMEOUT, stream.read(&mut buf))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = route(method, path, handler);
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}

fn route(method: &str, path: &str, handler: &Handler) -> (&'static str, String) {
    if method != "GET" {
        return ("405 Method Not Allowed", "GET only\n".into());
    }
    let metrics = handler.metrics();
    match path {
        "/healthz" => ("200 OK", "ok\n".into()),
        "/readyz" if handler.is_ready() => ("200 OK", "ready\n".into()),
        "/readyz" => ("503 Service Unavailable", "zone not synced\n".into()),
        "/metrics" => {
            let extra = handler
                .upstream
                .as_ref()
                .map(|u| u.metrics())
                .unwrap_or_default();
            ("200 OK", metrics.render(handler.is_ready(), &extra))
        }
        _ => ("404 Not Found", "not found\n".into()),
    }
}
