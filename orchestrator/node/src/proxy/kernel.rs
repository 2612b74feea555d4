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
    /// The per-packet path (node ports, externalIPs); `None`: only the
    /// socket hooks serve, and no device is touched.
    pub nodeport: Option<kernel::NodePort>,
}

impl Default for DataplaneSettings {
    fn default() -> Self {
        Self {
            bpffs: kernel::DEFAULT_BPFFS.into(),
            cgroup_root: None,
            limits: Limits::default(),
            nodeport: None,
        }
    }
}

impl DataplaneSettings {
    /// The kernel configuration these settings say.
    fn kernel_config(&self) -> Result<KernelConfig, ProxyError> {
        let cgroup = match &self.cgroup_root {
            Some(c) => c.clone(),
            None => kernel::cgroup2_root().map_err(|source| ProxyError::CgroupRoot { source })?,
        };
        Ok(KernelConfig {
            bpffs: self.bpffs.clone(),
            cgroup,
            limits: self.limits,
        })
    }
}

/// Attaches the per-packet program to the devices of `np` that exist, and
/// again whenever that set changes (the pods' bridge appears with the first
/// pod, the overlay with the pod network): checked every
/// [`DEVICE_POLL`], on a thread of its own, for the agent's life.
pub fn follow_nodeport_devices(settings: &DataplaneSettings) -> Result<(), ProxyError> {
    let Some(np) = settings.nodeport.clone() else {
        return Ok(());
    };
    let cfg = settings.kernel_config()?;
    std::thread::Builder::new()
        .name("berth-nodeport".into())
        .spawn(move || {
            let mut attached: Option<Vec<String>> = None;
            loop {
                let present: Vec<String> = np
                    .devices
                    .iter()
                    .filter(|d| nix::net::if_::if_nametoindex(d.as_str()).is_ok())
                    .cloned()
                    .collect();
                if attached.as_ref() != Some(&present) {
                    let now = kernel::NodePort {
                        devices: present.clone(),
                        ..np.clone()
                    };
                    match kernel::start_nodeport(&cfg, &now) {
                        Ok(()) => {
                            tracing::info!(devices = ?present, snat = ?np.snat4, "node ports served");
                            attached = Some(present);
                        }
                        Err(e) => tracing::warn!(error = %berth_api::error_chain(&e), devices = ?present, "node ports not served; retrying"),
                    }
                }
                std::thread::sleep(DEVICE_POLL);
            }
        })
        .map(|_| ())
        .map_err(|source| ProxyError::Thread { source })
}

/// How often the agent looks for the node-port devices.
pub const DEVICE_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Loads and attaches the data plane, adopting what is pinned. Nothing in
/// the maps is changed: the proxy's first sync does that, touching only
/// what differs from the API.
pub fn attach(settings: &DataplaneSettings) -> Result<Lb<BpfMaps>, ProxyError> {
    let cfg = settings.kernel_config()?;
    let cgroup = cfg.cgroup.clone();
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
