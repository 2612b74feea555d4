//! Nodes: the machines pods run on, registered and kept up to date by
//! their node agents.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::macros::{is_default, is_false, string_enum};
use crate::meta::{ApiVersion, ConditionStatus, KindTag, ObjectMeta};
use crate::quantity::Quantity;
use crate::resource::{ResourceFields, resource_boilerplate};
use crate::taint::Taint;
use crate::time::Time;
use crate::validate::FieldErrors;

string_enum! {
    /// The kind of a node address.
    pub enum NodeAddressType {
        /// An address inside the cluster network.
        #[default]
        InternalIP = "InternalIP",
        /// An address reachable from outside.
        ExternalIP = "ExternalIP",
        /// The node's hostname.
        Hostname = "Hostname",
        /// An internal DNS name.
        InternalDNS = "InternalDNS",
        /// An external DNS name.
        ExternalDNS = "ExternalDNS",
    }
}

/// A Node (`apiVersion: v1`, `kind: Node`; cluster-scoped).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Node {
    /// `v1`.
    pub api_version: ApiVersion<Node>,
    /// `Node`.
    pub kind: KindTag<Node>,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(skip_serializing_if = "is_default")]
    pub spec: NodeSpec,
    /// The observed state (written by the node agent).
    #[serde(skip_serializing_if = "is_default")]
    pub status: NodeStatus,
}

impl ResourceFields for Node {
    fn validate_fields(&self, errs: &mut FieldErrors) {
        crate::validate::node::validate_node(self, errs);
    }

    fn validate_update_fields(&self, old: &Self, errs: &mut FieldErrors) {
        crate::validate::update::node(self, old, errs);
    }
}

resource_boilerplate!(Node, status);

impl Node {
    /// Whether the `Ready` condition is `True`.
    pub fn is_ready(&self) -> bool {
        self.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True)
    }

    /// The first address of type `InternalIP`.
    pub fn internal_ip(&self) -> Option<&str> {
        self.status
            .addresses
            .iter()
            .find(|a| a.type_ == NodeAddressType::InternalIP)
            .map(|a| a.address.as_str())
    }

    /// Every `InternalIP` (a dual-stack node has one per family), in order.
    pub fn internal_ips(&self) -> impl Iterator<Item = &str> {
        self.status
            .addresses
            .iter()
            .filter(|a| a.type_ == NodeAddressType::InternalIP)
            .map(|a| a.address.as_str())
    }
}

/// The desired state of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct NodeSpec {
    /// The node's pod CIDR (the first of `podCIDRs`).
    #[serde(rename = "podCIDR", skip_serializing_if = "String::is_empty")]
    pub pod_cidr: String,
    /// The node's pod CIDRs, one per family.
    #[serde(rename = "podCIDRs", skip_serializing_if = "Vec::is_empty")]
    pub pod_cidrs: Vec<String>,
    /// New pods are not scheduled here.
    #[serde(skip_serializing_if = "is_false")]
    pub unschedulable: bool,
    /// Taints: pods that do not tolerate them are kept off the node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
}

/// The observed state of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeStatus {
    /// Total resources.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: BTreeMap<String, Quantity>,
    /// Resources available to pods.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub allocatable: BTreeMap<String, Quantity>,
    /// `Ready` and pressure conditions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<NodeCondition>,
    /// The node's addresses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
    /// Versions and ids.
    #[serde(skip_serializing_if = "is_default")]
    pub node_info: NodeSystemInfo,
}

/// A condition of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeCondition {
    /// `Ready`, `MemoryPressure`, `DiskPressure`, `PIDPressure`, ...
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// When the agent last reported it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<Time>,
    /// When `status` last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A CamelCase reason.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable message.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// An address of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeAddress {
    /// The kind of address.
    #[serde(rename = "type")]
    pub type_: NodeAddressType,
    /// The address.
    pub address: String,
}

/// Versions and ids of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeSystemInfo {
    /// `/etc/machine-id`.
    #[serde(rename = "machineID", skip_serializing_if = "String::is_empty")]
    pub machine_id: String,
    /// The boot id.
    #[serde(rename = "bootID", skip_serializing_if = "String::is_empty")]
    pub boot_id: String,
    /// `uname -r`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kernel_version: String,
    /// The OS image (`Debian GNU/Linux 12`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub os_image: String,
    /// `containerd://1.6.20`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub container_runtime_version: String,
    /// The node agent's version (`berth-0.1.0`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kubelet_version: String,
    /// `linux`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub operating_system: String,
    /// `amd64`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub architecture: String,
}
