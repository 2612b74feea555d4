//! The ADD result, serialised exactly as the specification (and the
//! reference `bridge` plugin) shapes it for each version.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::config::Dns;
use crate::version::Version;

/// One entry of `interfaces`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// Hardware address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// The container's namespace path (container interfaces only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

/// One entry of `ips`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// `"4"` or `"6"`; only in 0.4.0 results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Address with prefix length.
    pub address: IpNet,
    /// Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// One entry of `routes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteOut {
    /// Destination.
    pub dst: IpNet,
    /// Next hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
}

/// An ADD result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CniResult {
    /// The configuration's version.
    pub cni_version: String,
    /// Bridge, host veth, container interface.
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    /// Addresses.
    #[serde(default)]
    pub ips: Vec<IpConfig>,
    /// Routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteOut>,
    /// DNS settings (always present, possibly `{}`).
    #[serde(default)]
    pub dns: Dns,
}

impl CniResult {
    /// Sets the per-version details (`ips[].version` exists in 0.4.0 only).
    pub fn for_version(mut self, v: Version) -> CniResult {
        self.cni_version = v.as_str().to_string();
        for ip in &mut self.ips {
            ip.version = (v == Version::V0_4_0).then(|| {
                if ip.address.addr().is_ipv4() {
                    "4"
                } else {
                    "6"
                }
                .to_string()
            });
        }
        self
    }

    /// The JSON written on stdout.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
