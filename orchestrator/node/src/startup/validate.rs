//! [`NodeConfig::validate`]: the whole configuration loaded and checked
//! before anything is bound or started. Reads the credentials, resolves
//! the node's name, parses `--cluster-cidr`, checks the interface names and
//! the containerd socket's length, and finds the pods' MTU through the
//! [`NodeLinks`] boundary (a fake in unit tests).

use ipnet::IpNet;

use super::config::NodeConfig;
use super::error::ConfigError;
use super::values::{NodeIps, PodNetwork};
use super::{ClusterNets, Startup};
use crate::containerd::MAX_SOCKET_PATH;
use crate::podnet::plan::VXLAN_OVERHEAD;
use crate::podnet::{Mode, NodeLinks};

impl NodeConfig {
    /// Loads what the configuration names (token, CA) and checks every
    /// value; nothing is started. `links` answers where the node's address
    /// is (the pods' MTU under VXLAN).
    pub fn validate(self, links: &dyn NodeLinks) -> Result<Startup, ConfigError> {
        let client = self.credentials.load()?;
        let node_name = self.node_name.clone().unwrap_or_else(hostname);
        if node_name.trim().is_empty() {
            return Err(invalid("--node-name", &node_name, "must not be empty"));
        }
        let cluster_nets = parse_cluster_cidr(&self.cni.cluster_cidr)?;
        check_ifname("--bridge", &self.cni.bridge)?;
        if let Some(dns) = &self.dns {
            check_ifname("--dns-interface", &dns.interface)?;
        }
        let (field, socket, value) = match &self.containerd.endpoint {
            Some(sock) => ("--container-runtime-endpoint", sock.clone(), sock),
            None => ("--run-dir", self.containerd_socket(), &self.run_dir),
        };
        let len = socket.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(invalid(
                field,
                &value.display().to_string(),
                &format!(
                    "the containerd socket {} is {len} bytes long; a unix socket path has at \
                     most {MAX_SOCKET_PATH}",
                    socket.display()
                ),
            ));
        }
        let pod_mtu = pod_mtu(&self.node_ips, self.pod_network, links);
        Ok(Startup {
            config: self,
            client,
            node_name,
            cluster_nets,
            pod_mtu,
        })
    }
}

fn invalid(field: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        field,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The host name, as the Node's name when none is given.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// `--cluster-cidr`: the networks pods reach without masquerading, or
/// `None` for `none`.
pub(super) fn parse_cluster_cidr(flag: &str) -> Result<ClusterNets, ConfigError> {
    if flag.trim() == "none" {
        return Ok(None);
    }
    flag.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|c| {
            c.parse::<IpNet>()
                .map(|n| n.trunc())
                .map_err(|_| invalid("--cluster-cidr", c, "not a CIDR (or `none`)"))
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// A Linux interface name: 1-15 bytes, no '/', ':' or whitespace, not `.`
/// or `..` (what berth-cni and the kernel accept).
fn check_ifname(field: &'static str, name: &str) -> Result<(), ConfigError> {
    let bad_char = name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if name.is_empty() || name.len() > 15 || bad_char || name == "." || name == ".." {
        return Err(invalid(
            field,
            name,
            "not a valid interface name (1-15 bytes, no '/', ':' or whitespace)",
        ));
    }
    Ok(())
}

/// The pods' MTU: the underlay's less VXLAN's overhead when peers may be
/// reached over VXLAN (`--pod-network auto` or `vxlan`), so that a pod's
/// packet fits the overlay; the kernel's default otherwise, and on a
/// loopback node IP (a single-node cluster).
fn pod_mtu(ips: &NodeIps, network: PodNetwork, links: &dyn NodeLinks) -> Option<u32> {
    let ip = ips.primary();
    match network.0 {
        Some(Mode::Auto | Mode::Vxlan) if !ip.is_loopback() => links
            .underlay(ip)
            .ok()
            .map(|u| u.mtu.saturating_sub(VXLAN_OVERHEAD)),
        _ => None,
    }
}
