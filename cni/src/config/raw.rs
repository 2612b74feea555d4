//! The network configuration exactly as it arrives on stdin (before
//! validation). Field names follow the reference `bridge` and `host-local`
//! plugins.

use serde::Deserialize;
use serde_json::Value;

/// The top-level network configuration object.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawConf {
    pub cni_version: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub bridge: Option<String>,
    pub mtu: Option<u32>,
    pub is_gateway: Option<bool>,
    pub is_default_gateway: Option<bool>,
    pub ip_masq: Option<bool>,
    /// Berth's extension (named after ip-masq-agent's option): destinations
    /// that `ipMasq` never masquerades, such as the cluster's pod CIDR.
    #[serde(rename = "nonMasqueradeCIDRs")]
    pub non_masquerade_cidrs: Option<Vec<String>>,
    pub hairpin_mode: Option<bool>,
    pub promisc_mode: Option<bool>,
    pub ipam: Option<RawIpam>,
    pub dns: Option<RawDns>,
    pub prev_result: Option<Value>,
    pub args: Option<RawArgs>,
    pub runtime_config: Option<RawRuntimeConfig>,
    #[serde(rename = "cni.dev/valid-attachments")]
    pub valid_attachments: Option<Vec<RawAttachment>>,
    // Reference-bridge fields this plugin does not implement; a non-default
    // value is refused with code 2 rather than silently ignored.
    pub vlan: Option<u32>,
    pub vlan_trunk: Option<Value>,
    pub preserve_default_vlan: Option<bool>,
    pub macspoofchk: Option<bool>,
    pub enabledad: Option<bool>,
    pub force_address: Option<bool>,
    pub port_isolation: Option<bool>,
    pub disable_container_interface: Option<bool>,
}

/// `args` (conventions: `args.cni.*`).
#[derive(Debug, Deserialize)]
pub(crate) struct RawArgs {
    pub cni: Option<RawCniArgs>,
}

/// `args.cni`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawCniArgs {
    pub mac: Option<String>,
}

/// `runtimeConfig` (capability arguments set by the runtime).
#[derive(Debug, Deserialize)]
pub(crate) struct RawRuntimeConfig {
    pub mac: Option<String>,
}

/// `ipam`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawIpam {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub ranges: Option<Vec<Vec<RawRange>>>,
    pub routes: Option<Vec<RawRoute>>,
    pub data_dir: Option<String>,
    // host-local's single-range shorthand and resolvConf: not supported.
    pub subnet: Option<Value>,
    pub resolv_conf: Option<Value>,
}

/// One element of a range set.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawRange {
    pub subnet: Option<String>,
    pub range_start: Option<String>,
    pub range_end: Option<String>,
    pub gateway: Option<String>,
}

/// One element of `ipam.routes`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawRoute {
    pub dst: Option<String>,
    pub gw: Option<String>,
}

/// One element of `cni.dev/valid-attachments`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawAttachment {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

/// `dns`, passed through to the result.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct RawDns {
    /// Name servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// Local domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// Resolver options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}
