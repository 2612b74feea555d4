//! Phase 2, the pods' CNI configuration: berth-cni (the berth binary) and
//! loopback linked into the CNI bin dir, `10-berth.conflist` written for
//! the node's pod CIDRs; and, once containerd answers, berth-cni's GC of
//! the addresses whose sandboxes are gone.

use std::path::{Path, PathBuf};

use berth_cni::containerd::ConflistSpec;
use ipnet::IpNet;

use super::ClusterNets;
use super::config::NodeConfig;
use super::error::StartError;
use crate::runtime::Runtime;

/// The CNI loopback plugin containerd's CRI always calls.
pub const LOOPBACK_PLUGIN: &str = "/usr/lib/cni/loopback";

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StartError {
    let path = path.to_path_buf();
    move |source| StartError::Io {
        action,
        path,
        source,
    }
}

/// Links berth-cni (the berth binary) and loopback into the CNI bin dir.
fn install(config: &NodeConfig) -> Result<(), StartError> {
    let bin_dir = &config.cni.bin_dir;
    std::fs::create_dir_all(bin_dir).map_err(io("--cni-bin-dir: creating", bin_dir))?;
    for (name, target) in [
        ("berth-cni", config.berth_binary.as_path()),
        ("loopback", Path::new(LOOPBACK_PLUGIN)),
    ] {
        let link = bin_dir.join(name);
        if link.exists() {
            continue;
        }
        if !target.exists() {
            return Err(StartError::PluginMissing {
                path: target.to_path_buf(),
            });
        }
        std::os::unix::fs::symlink(target, &link).map_err(io("linking", &link))?;
    }
    Ok(())
}

/// The networks pods reach without masquerading: `--cluster-cidr`'s, and a
/// node CIDR outside them (warned about: the flag likely differs from the
/// server's). `None`: no masquerading.
pub(super) fn masquerade_except(
    cluster: &ClusterNets,
    flag: &str,
    node_cidrs: &[String],
) -> Option<Vec<IpNet>> {
    let mut nets = cluster.clone()?;
    for c in node_cidrs {
        let Ok(node) = c.parse::<IpNet>() else {
            continue;
        };
        if !nets.iter().any(|n| n.contains(&node)) {
            tracing::warn!(node_cidr = %node, cluster_cidr = flag, "the node's pod CIDR is outside --cluster-cidr; not masquerading to it either");
            nets.push(node.trunc());
        }
    }
    Some(nets)
}

/// Installs the plugins and writes the conflist for `cidrs`; returns its
/// path.
pub(super) fn write_config(
    config: &NodeConfig,
    cidrs: &[String],
    cluster: &ClusterNets,
    mtu: Option<u32>,
) -> Result<PathBuf, StartError> {
    install(config)?;
    let conf_dir = &config.cni.conf_dir;
    std::fs::create_dir_all(conf_dir).map_err(io("--cni-conf-dir: creating", conf_dir))?;
    let spec = ConflistSpec {
        name: "berth".into(),
        bridge: config.cni.bridge.clone(),
        subnets: cidrs
            .iter()
            .map(|c| c.parse())
            .collect::<Result<_, _>>()
            .map_err(|source| StartError::PodCidrs {
                cidrs: cidrs.to_vec(),
                source,
            })?,
        data_dir: config.data_dir.join("cni"),
        mtu,
        masquerade_except: masquerade_except(cluster, &config.cni.cluster_cidr, cidrs),
    };
    let path = conf_dir.join(spec.file_name());
    std::fs::write(&path, spec.to_json()).map_err(io("writing", &path))?;
    Ok(path)
}

/// berth-cni GC: frees every address (and host veth) whose sandbox is gone
/// (a crash between CNI ADD and the sandbox's record, or sandboxes removed
/// while the agent was away).
pub(super) async fn gc<R: Runtime>(conflist: &Path, runtime: &R) -> Result<(), StartError> {
    let valid: Vec<(String, String)> = runtime
        .list_sandboxes()
        .await
        .map_err(|source| StartError::Runtime {
            action: "listing the sandboxes for berth-cni GC",
            source: Box::new(source),
        })?
        .into_iter()
        .map(|s| (s.id, "eth0".to_owned()))
        .collect();
    let bytes = std::fs::read(conflist).map_err(io("reading", conflist))?;
    let conf =
        berth_cni::containerd::plugin_net_conf(&bytes).map_err(|source| StartError::Conflist {
            path: conflist.to_path_buf(),
            source: Box::new(source),
        })?;
    let freed = tokio::task::spawn_blocking(move || berth_cni::gc(&conf, &valid))
        .await
        .map_err(|source| StartError::Task {
            what: "berth-cni GC",
            source,
        })?
        .map_err(|source| StartError::CniGc { source })?;
    if !freed.is_empty() {
        println!(
            "berth agent: CNI GC freed {} stale address(es)",
            freed.len()
        );
    }
    Ok(())
}
