//! What the node agent writes for containerd 1.6 (Debian's) so that its CRI
//! plugin runs pods on `berth-cni`:
//!
//! - [`ConflistSpec`]: the CNI network configuration list (`cniVersion`
//!   1.0.0, the newest containerd 1.6 speaks), one `berth-cni` plugin entry;
//! - [`ContainerdConfig`]: a containerd `config.toml` (version 2) with its own
//!   root, state and socket, the CRI plugin's sandbox image, CNI directories,
//!   snapshotter and `restrict_oom_score_adj = true` (needed where the node
//!   lacks `CAP_SYS_RESOURCE`).
//!
//! Both are pure text generation; nothing here touches the file system.

mod conflist;
mod daemon;

pub use self::conflist::{CONFLIST_CNI_VERSION, ConflistSpec, plugin_net_conf};
pub use self::daemon::{
    CRI_PLUGIN, ContainerdConfig, DEFAULT_DISABLED_PLUGINS, RUNC_RUNTIME_TYPE, Snapshotter,
};

#[cfg(test)]
mod tests;
