//! A CRI channel over containerd's unix socket, and what the CRI status
//! says about the runtime.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::StatusRequest;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use serde_json::Value;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use super::{Containerd, ContainerdError, Restarts};

/// Limit for the CRI calls made here: generous, it only catches hangs.
pub const CRI_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A channel to the CRI (and any other gRPC service) at the unix socket
/// `socket`, connected once before it is returned; tonic reconnects it to
/// the same socket after a failure.
pub async fn connect_cri(socket: &Path) -> Result<Channel, ContainerdError> {
    let path: PathBuf = socket.to_path_buf();
    let connect_error = |source| ContainerdError::Connect {
        socket: socket.to_path_buf(),
        source,
    };
    // The URI is required but unused: every connection goes to the socket.
    Endpoint::from_static("http://[::1]:0")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await
        .map_err(connect_error)
}

/// How long one readiness probe of the CRI may take.
const CRI_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the CRI at `socket` answers a `Status` call. A containerd whose
/// socket is open may still refuse CRI calls ("server is not initialized
/// yet") while it recovers the tasks of an earlier run: after a crash,
/// that takes seconds.
pub async fn cri_serving(socket: &Path) -> bool {
    let Ok(channel) = connect_cri(socket).await else {
        return false;
    };
    let mut client = RuntimeServiceClient::new(channel);
    let call = client.status(StatusRequest { verbose: false });
    matches!(
        tokio::time::timeout(CRI_PROBE_TIMEOUT, call).await,
        Ok(Ok(_))
    )
}

/// The snapshotter the CRI plugin at `socket` unpacks images with, from its
/// verbose `Status` (`info.config.containerd.snapshotter`).
pub async fn cri_snapshotter(socket: &Path) -> Result<String, ContainerdError> {
    let channel = connect_cri(socket).await?;
    let mut client = RuntimeServiceClient::new(channel);
    let call = "Status";
    let status = tokio::time::timeout(
        CRI_CALL_TIMEOUT,
        client.status(StatusRequest { verbose: true }),
    )
    .await
    .map_err(|_| ContainerdError::CriTimeout {
        socket: socket.to_path_buf(),
        call,
        timeout: CRI_CALL_TIMEOUT,
    })?
    .map_err(|source| ContainerdError::Cri {
        socket: socket.to_path_buf(),
        call,
        source,
    })?
    .into_inner();
    snapshotter_from_info(&status.info).map_err(|detail| ContainerdError::NoSnapshotter {
        socket: socket.to_path_buf(),
        detail,
    })
}

/// `info["config"]` (JSON) → `containerd.snapshotter`.
pub(crate) fn snapshotter_from_info(
    info: &std::collections::HashMap<String, String>,
) -> Result<String, String> {
    let config = info
        .get("config")
        .ok_or_else(|| "the verbose status has no `config`".to_string())?;
    let config: Value =
        serde_json::from_str(config).map_err(|e| format!("its `config` is not JSON ({e})"))?;
    config
        .pointer("/containerd/snapshotter")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "its `config` has no `containerd.snapshotter`".to_string())
}

impl Containerd {
    /// A containerd someone else runs, at `socket`
    /// (`--container-runtime-endpoint`): its CRI must answer, and says which
    /// snapshotter it uses. It is never stopped, restarted or purged from
    /// here.
    pub async fn adopt(socket: &Path) -> Result<Containerd, ContainerdError> {
        let snapshotter = cri_snapshotter(socket).await?;
        Ok(Containerd {
            socket: socket.to_path_buf(),
            snapshotter,
            managed: None,
            restarts: Restarts::default(),
        })
    }
}
