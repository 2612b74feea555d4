//! The controllers' settings (`berth server` flags), validated before
//! anything starts.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

/// A setting that does not parse or does not make sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: invalid value {value:?}: {reason}")]
pub struct SettingsError {
    /// The flag (`--cluster-cidr`).
    pub flag: &'static str,
    /// The value given.
    pub value: String,
    /// What is wrong.
    pub reason: String,
}

/// The controllers' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// A node whose lease is not renewed for this long is NotReady (40 s,
    /// as kube-controller-manager's `--node-monitor-grace-period`).
    pub node_monitor_grace_period: Duration,
    /// How often node health is looked at (5 s).
    pub node_monitor_period: Duration,
    /// Pods of a NotReady node are deleted after this long, so that their
    /// controllers recreate them elsewhere (5 min, as Kubernetes' default
    /// `tolerationSeconds` for `node.kubernetes.io/unreachable`).
    pub pod_eviction_timeout: Duration,
    /// The cluster's pod CIDRs (one per family): each node gets a block.
    pub cluster_cidrs: Vec<IpNet>,
    /// The prefix length of a node's block, per family (24 and 64).
    pub node_cidr_mask_v4: u8,
    /// The IPv6 node block prefix length.
    pub node_cidr_mask_v6: u8,
    /// Workers per controller (the scheduler and node lifecycle have one).
    pub workers: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            node_monitor_grace_period: Duration::from_secs(40),
            node_monitor_period: Duration::from_secs(5),
            pod_eviction_timeout: Duration::from_secs(300),
            cluster_cidrs: vec![
                "10.244.0.0/16".parse().unwrap_or_else(|_| unreachable!()),
                "fd00:10:244::/56"
                    .parse()
                    .unwrap_or_else(|_| unreachable!()),
            ],
            node_cidr_mask_v4: 24,
            node_cidr_mask_v6: 64,
            workers: 4,
        }
    }
}

impl Settings {
    /// Parses `--cluster-cidr` (comma-separated, at most one per family).
    pub fn parse_cluster_cidrs(text: &str) -> Result<Vec<IpNet>, SettingsError> {
        let err = |reason: String| SettingsError {
            flag: "--cluster-cidr",
            value: text.to_owned(),
            reason,
        };
        let mut out: Vec<IpNet> = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let net: IpNet = part
                .parse()
                .map_err(|_| err(format!("{part:?} is not a CIDR")))?;
            if net.network() != net.addr() {
                return Err(err(format!(
                    "{part:?} has host bits set (did you mean {}?)",
                    net.trunc()
                )));
            }
            if out
                .iter()
                .any(|o| o.addr().is_ipv4() == net.addr().is_ipv4())
            {
                return Err(err("at most one CIDR per IP family".into()));
            }
            out.push(net);
        }
        if out.is_empty() {
            return Err(err("at least one CIDR is required".into()));
        }
        Ok(out)
    }

    /// Checks that the node blocks fit the cluster CIDRs.
    pub fn validate(&self) -> Result<(), SettingsError> {
        for net in &self.cluster_cidrs {
            let (mask, flag) = match net.addr() {
                IpAddr::V4(_) => (self.node_cidr_mask_v4, "--node-cidr-mask-size-ipv4"),
                IpAddr::V6(_) => (self.node_cidr_mask_v6, "--node-cidr-mask-size-ipv6"),
            };
            if mask < net.prefix_len() || mask > net.max_prefix_len() {
                return Err(SettingsError {
                    flag,
                    value: mask.to_string(),
                    reason: format!(
                        "must be between {} (the prefix of {net}) and {}",
                        net.prefix_len(),
                        net.max_prefix_len()
                    ),
                });
            }
        }
        if self.workers == 0 {
            return Err(SettingsError {
                flag: "--controller-workers",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_cidrs() {
        let v = Settings::parse_cluster_cidrs("10.244.0.0/16,fd00:10:244::/56").unwrap();
        assert_eq!(v.len(), 2);
        let e = Settings::parse_cluster_cidrs("10.244.1.0/16").unwrap_err();
        assert!(e.reason.contains("did you mean 10.244.0.0/16"), "{e}");
        assert!(Settings::parse_cluster_cidrs("10.0.0.0/8,10.244.0.0/16").is_err());
        let s = Settings {
            node_cidr_mask_v4: 8,
            ..Settings::default()
        };
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "--node-cidr-mask-size-ipv4: invalid value \"8\": must be between 16 (the prefix of \
             10.244.0.0/16) and 32"
        );
        Settings::default().validate().unwrap();
    }
}
