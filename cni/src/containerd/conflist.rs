//! The CNI network configuration list containerd's CRI plugin loads.

use std::path::PathBuf;

use ipnet::IpNet;
use serde_json::{Map, Value, json};

use crate::config::{ConfigError, NetConf, PLUGIN_TYPE};

/// The `cniVersion` of the generated list: containerd 1.6 (libcni 1.1)
/// speaks CNI up to 1.0.0.
pub const CONFLIST_CNI_VERSION: &str = "1.0.0";

/// What the conflist for one node says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflistSpec {
    /// Network name (also the IPAM directory `<data_dir>/<name>/`).
    pub name: String,
    /// Bridge device on the node.
    pub bridge: String,
    /// The node's pod subnets, at most one per family is typical
    /// (dual-stack); each becomes one IPAM range set.
    pub subnets: Vec<IpNet>,
    /// `ipam.dataDir`: parent of the reservation directory.
    pub data_dir: PathBuf,
    /// MTU of the bridge and the veth ends (kernel default when `None`).
    pub mtu: Option<u32>,
    /// `Some(cluster CIDRs)`: `ipMasq` on, with these as
    /// `nonMasqueradeCIDRs`: pods' traffic leaving the cluster is
    /// masqueraded to the node's address, traffic to other pods is not.
    pub masquerade_except: Option<Vec<IpNet>>,
}

impl ConflistSpec {
    /// The file name under the CNI `conf_dir`: `10-<name>.conflist`.
    pub fn file_name(&self) -> String {
        format!("10-{}.conflist", self.name)
    }

    /// The `berth-cni` plugin entry, as it appears inside `plugins` (without
    /// `name` and `cniVersion`, which the runtime adds).
    pub fn plugin_entry(&self) -> Value {
        let ranges: Vec<Value> = self
            .subnets
            .iter()
            .map(|s| json!([{ "subnet": s.to_string() }]))
            .collect();
        let mut routes = Vec::new();
        if self.subnets.iter().any(|s| matches!(s, IpNet::V4(_))) {
            routes.push(json!({ "dst": "0.0.0.0/0" }));
        }
        if self.subnets.iter().any(|s| matches!(s, IpNet::V6(_))) {
            routes.push(json!({ "dst": "::/0" }));
        }
        let mut entry = Map::new();
        entry.insert("type".into(), PLUGIN_TYPE.into());
        entry.insert("bridge".into(), self.bridge.clone().into());
        if let Some(mtu) = self.mtu {
            entry.insert("mtu".into(), mtu.into());
        }
        entry.insert("isGateway".into(), true.into());
        entry.insert("isDefaultGateway".into(), false.into());
        entry.insert("hairpinMode".into(), true.into());
        entry.insert("promiscMode".into(), false.into());
        if let Some(except) = &self.masquerade_except {
            entry.insert("ipMasq".into(), true.into());
            let cidrs: Vec<String> = except.iter().map(ToString::to_string).collect();
            entry.insert("nonMasqueradeCIDRs".into(), cidrs.into());
        }
        entry.insert(
            "ipam".into(),
            json!({
                "type": "host-local",
                "ranges": ranges,
                "routes": routes,
                "dataDir": self.data_dir.to_string_lossy(),
            }),
        );
        Value::Object(entry)
    }

    /// The whole list.
    pub fn to_value(&self) -> Value {
        json!({
            "cniVersion": CONFLIST_CNI_VERSION,
            "name": self.name,
            "plugins": [self.plugin_entry()],
        })
    }

    /// The conflist file's content (pretty JSON, trailing newline).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.to_value()).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The configuration `berth-cni` receives for this list, validated: what
    /// the node agent passes to [`gc`](crate::gc) and
    /// [`status`](crate::status).
    pub fn net_conf(&self) -> Result<NetConf, ConfigError> {
        plugin_net_conf(self.to_json().as_bytes())
    }
}

/// The `berth-cni` entry of a conflist, with `name` and `cniVersion` copied
/// in from the list exactly as libcni does before invoking a plugin, parsed
/// by [`NetConf::from_json`].
pub fn plugin_net_conf(conflist: &[u8]) -> Result<NetConf, ConfigError> {
    let list: Value =
        serde_json::from_slice(conflist).map_err(|source| ConfigError::Syntax { source })?;
    let entry = list
        .get("plugins")
        .and_then(Value::as_array)
        .and_then(|plugins| {
            plugins
                .iter()
                .find(|p| p.get("type").and_then(Value::as_str) == Some(PLUGIN_TYPE))
        })
        .and_then(Value::as_object)
        .ok_or_else(|| ConfigError::Missing {
            field: format!("plugins[type={PLUGIN_TYPE:?}]"),
        })?;
    let mut conf = entry.clone();
    for key in ["name", "cniVersion"] {
        if let Some(v) = list.get(key) {
            conf.insert(key.into(), v.clone());
        }
    }
    let bytes = serde_json::to_vec(&Value::Object(conf))
        .map_err(|source| ConfigError::Syntax { source })?;
    NetConf::from_json(&bytes)
}
