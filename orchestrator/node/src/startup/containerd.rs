//! Phase 3, the container runtime: the node's own containerd started (or
//! adopted when it already runs) unless `--container-runtime-endpoint`
//! names one, its CRI connected, and the sandbox image built from
//! busybox-static and imported when missing.

use std::path::Path;
use std::sync::Arc;

use super::config::NodeConfig;
use super::error::StartError;
use crate::containerd::Containerd;
use crate::image::{self, BUSYBOX_STATIC};
use crate::runtime::Runtime as _;
use crate::runtime::cri::CriRuntime;

/// Starts or adopts containerd and makes sure the sandbox image is there.
pub(super) async fn start(
    config: &NodeConfig,
) -> Result<(Containerd, Arc<CriRuntime>), StartError> {
    let containerd = match &config.containerd.endpoint {
        Some(sock) => Containerd::adopt(sock).await,
        None => Containerd::start(&config.containerd_dir(), config.containerd_config()).await,
    }
    .map_err(|source| StartError::Containerd {
        source: Box::new(source),
    })?;
    let runtime =
        CriRuntime::connect(containerd.socket()).map_err(|source| StartError::Runtime {
            action: "connecting to containerd's CRI",
            source: Box::new(source),
        })?;
    let reference = &config.containerd.sandbox_image;
    let found = runtime
        .image_id(reference)
        .await
        .map_err(|source| StartError::Runtime {
            action: "looking up the sandbox image",
            source: Box::new(source),
        })?;
    if found.is_none() {
        let archive = config.data_dir.join("pause.oci.tar");
        let image_err = |source| StartError::SandboxImage {
            reference: reference.clone(),
            source: Box::new(source),
        };
        image::pause_image(Path::new(BUSYBOX_STATIC), reference)
            .and_then(|b| b.write(&archive))
            .map_err(image_err)?;
        image::import(containerd.socket(), &archive, containerd.snapshotter())
            .await
            .map_err(image_err)?;
    }
    Ok((containerd, Arc::new(runtime)))
}
