//! A CRI (v1) client over a unix socket.

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// A connected channel to the CRI server at `socket`.
pub async fn channel(socket: &Path) -> anyhow::Result<Channel> {
    let socket: PathBuf = socket.to_path_buf();
    // The URI is required but unused: every connection goes to the socket.
    let channel = Endpoint::try_from("http://[::1]:0")?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await?;
    Ok(channel)
}

/// The runtime and image service clients on one channel.
#[derive(Debug, Clone)]
pub struct Cri {
    /// RuntimeService (sandboxes, containers, status).
    pub runtime: RuntimeServiceClient<Channel>,
    /// ImageService.
    pub images: ImageServiceClient<Channel>,
}

impl Cri {
    /// Connects to the CRI server at `socket`.
    pub async fn connect(socket: &Path) -> anyhow::Result<Cri> {
        let ch = channel(socket).await?;
        Ok(Cri {
            runtime: RuntimeServiceClient::new(ch.clone()),
            images: ImageServiceClient::new(ch),
        })
    }
}
