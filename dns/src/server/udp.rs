//! The UDP loop: answer at once from the zone, or spawn the wait for the
//! upstream so that one slow name never holds up the others.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;

use super::ServeError;
use crate::handler::{Handler, Step, Transport, Worker};

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
    let mut buf = vec![0u8; 65535];
    loop {
        let (len, peer) = udp.recv_from(&mut buf).await.map_err(io_err)?;
        match worker.handle(&buf[..len], peer.ip(), Transport::Udp) {
            Step::Reply => {
                if let Err(e) = udp.send_to(&worker.out, peer).await {
                    tracing::debug!(%peer, error = %e, "UDP send failed");
                }
            }
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
}
