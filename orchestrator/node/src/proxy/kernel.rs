//! The eBPF data plane on this node: loaded and attached to the cgroup-v2
//! root (or `--cgroup-root`), its maps and links pinned under a bpffs
//! directory. A restarted agent adopts what is pinned (the maps as they
//! are; each pinned link gets the new program by an atomic update), so
//! traffic never sees a moment without translation.

use std::path::PathBuf;

use berth_dataplane::kernel::{self, BpfMaps, KernelConfig};
use berth_dataplane::{Dataplane as _, Lb, Limits};

use super::error::ProxyError;

/// Where the node's data plane lives.
#[derive(Debug, Clone)]
pub struct DataplaneSettings {
    /// The pin directory (`/sys/fs/bpf/berth`).
    pub bpffs: PathBuf,
    /// The cgroup-v2 directory to attach to; `None`: the cgroup-v2 root.
    pub cgroup_root: Option<PathBuf>,
    /// Capacity of new maps (pinned maps keep theirs).
    pub limits: Limits,
}

impl Default for DataplaneSettings {
    fn default() -> Self {
        Self {
            bpffs: kernel::DEFAULT_BPFFS.into(),
            cgroup_root: None,
            limits: Limits::default(),
        }
    }
}

/// Loads and attaches the data plane, adopting what is pinned. Nothing in
/// the maps is changed: the proxy's first sync does that, touching only
/// what differs from the API.
pub fn attach(settings: &DataplaneSettings) -> Result<Lb<BpfMaps>, ProxyError> {
    let cgroup = match &settings.cgroup_root {
        Some(c) => c.clone(),
        None => kernel::cgroup2_root().map_err(|source| ProxyError::CgroupRoot { source })?,
    };
    let cfg = KernelConfig {
        bpffs: settings.bpffs.clone(),
        cgroup: cgroup.clone(),
        limits: settings.limits,
    };
    let lb = kernel::start(&cfg).map_err(|source| ProxyError::Kernel {
        bpffs: settings.bpffs.clone(),
        cgroup: cgroup.clone(),
        source: Box::new(source),
    })?;
    let (frontends, backends) = lb.counts();
    tracing::info!(
        bpffs = %settings.bpffs.display(),
        cgroup = %cgroup.display(),
        adopted_frontends = frontends,
        adopted_backends = backends,
        services = lb.service_names().len(),
        "data plane attached"
    );
    Ok(lb)
}
