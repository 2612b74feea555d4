//! TCP: one task per connection, length-prefixed messages, idle timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::ServeError;
use crate::handler::{Handler, Step, Transport, Worker};

/// How long an idle TCP connection is kept.
const TCP_IDLE: Duration = Duration::from_secs(10);

pub(super) async fn serve(
    tcp: TcpListener,
    addr: SocketAddr,
    handler: Arc<Handler>,
) -> Result<(), ServeError> {
    loop {
        let (stream, peer) = tcp.accept().await.map_err(|source| ServeError::Io {
            transport: "tcp",
            addr,
            source,
        })?;
        let handler = handler.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, peer, handler).await {
                tracing::debug!(%peer, error = %e, "TCP connection ended");
            }
        });
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<Handler>,
) -> std::io::Result<()> {
    let mut worker = Worker::new(handler.clone(), false);
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
        let bytes = match worker.handle(&request, peer.ip(), Transport::Tcp) {
            Step::Reply => std::mem::take(&mut worker.out),
            Step::Drop => return Ok(()),
            Step::Forward(pending) => match pending.finish(&handler).await {
                Some(bytes) => bytes,
                None => return Ok(()),
            },
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
