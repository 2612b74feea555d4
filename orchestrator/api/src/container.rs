//! Containers of a pod: image, command, arguments, ports, environment,
//! resources, volume mounts and probes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::macros::{is_default, is_false, string_enum};
use crate::probe::Probe;
use crate::quantity::Quantity;

string_enum! {
    /// A transport protocol.
    pub enum Protocol {
        /// TCP (the default).
        #[default]
        Tcp = "TCP",
        /// UDP.
        Udp = "UDP",
        /// SCTP.
        Sctp = "SCTP",
    }
}

string_enum! {
    /// When the image is pulled.
    pub enum PullPolicy {
        /// Before every start.
        Always = "Always",
        /// Only when it is not present (Berth images are imported locally).
        #[default]
        IfNotPresent = "IfNotPresent",
        /// Never: the image must be present.
        Never = "Never",
    }
}

/// A container.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Container {
    /// The name, a DNS-1123 label unique in the pod.
    pub name: String,
    /// The image reference.
    pub image: String,
    /// When the image is pulled; defaulted from the image's tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// The entrypoint (replaces the image's ENTRYPOINT).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// The arguments (replace the image's CMD).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The working directory.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// The ports the container listens on (informational, and the names
    /// that a Service's or a probe's named port refers to).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    /// Whole ConfigMaps and Secrets as environment variables.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Environment variables.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// CPU and memory requests and limits.
    #[serde(skip_serializing_if = "is_default")]
    pub resources: ResourceRequirements,
    /// Volumes mounted into the container.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Restarts the container when it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    /// Takes the pod out of service endpoints while it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
}

impl Container {
    /// Applies Kubernetes' defaults: the pull policy from the image tag
    /// (`Always` for `:latest` or no tag, else `IfNotPresent`), requests
    /// from limits where only limits are given, probe timings and
    /// `fieldRef.apiVersion`.
    pub fn apply_defaults(&mut self) {
        if self.image_pull_policy.is_none() {
            self.image_pull_policy = Some(default_pull_policy(&self.image));
        }
        for (name, limit) in &self.resources.limits {
            if !self.resources.requests.contains_key(name) {
                self.resources.requests.insert(name.clone(), limit.clone());
            }
        }
        for probe in [&mut self.liveness_probe, &mut self.readiness_probe]
            .into_iter()
            .flatten()
        {
            probe.apply_defaults();
        }
        for env in &mut self.env {
            if let Some(field) = env.value_from.as_mut().and_then(|v| v.field_ref.as_mut())
                && field.api_version.is_empty()
            {
                field.api_version = "v1".to_owned();
            }
        }
    }

    /// The container port named `name`.
    pub fn port_named(&self, name: &str) -> Option<&ContainerPort> {
        self.ports.iter().find(|p| p.name == name)
    }
}

/// Kubernetes' default pull policy for an image reference.
pub fn default_pull_policy(image: &str) -> PullPolicy {
    if image.contains('@') {
        return PullPolicy::IfNotPresent;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, "latest")) | None => PullPolicy::Always,
        Some(_) => PullPolicy::IfNotPresent,
    }
}

/// A port a container listens on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ContainerPort {
    /// An IANA service name (`http`), unique in the container.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The port number, 1–65535.
    pub container_port: i32,
    /// The protocol (`TCP` by default).
    pub protocol: Protocol,
}

/// An environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct EnvVar {
    /// The name.
    pub name: String,
    /// A literal value (`$(VAR)` references are expanded by the node agent).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// Where the value comes from instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// The source of an environment variable's value: exactly one field is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct EnvVarSource {
    /// A key of a ConfigMap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeySelector>,
    /// A key of a Secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeySelector>,
    /// A field of the pod (`metadata.name`, `status.podIP`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<ObjectFieldSelector>,
}

/// A key of a ConfigMap or Secret in the pod's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct KeySelector {
    /// The ConfigMap or Secret.
    pub name: String,
    /// The key.
    pub key: String,
    /// Whether the pod starts when the object or key is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// The pod fields an environment variable can take its value from.
pub const SUPPORTED_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.labels",
    "metadata.annotations",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// A field of the pod (the downward API).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ObjectFieldSelector {
    /// The API version the path is in (`v1`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The path: one of [`SUPPORTED_FIELD_PATHS`], or
    /// `metadata.labels['KEY']` / `metadata.annotations['KEY']`.
    pub field_path: String,
}

/// A whole ConfigMap or Secret as environment variables.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct EnvFromSource {
    /// Prepended to every key.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// The ConfigMap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<NameRef>,
    /// The Secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<NameRef>,
}

/// A ConfigMap or Secret in the pod's namespace, by name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct NameRef {
    /// The name.
    pub name: String,
    /// Whether the pod starts when it is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// The resource names Berth accepts in requests and limits.
pub const SUPPORTED_RESOURCES: &[&str] = &["cpu", "memory", "ephemeral-storage"];

/// Requests (what the scheduler reserves) and limits (what the runtime
/// enforces), by resource name (`cpu`, `memory`, `ephemeral-storage`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ResourceRequirements {
    /// Limits.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Quantity>,
    /// Requests (default to the limits).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Quantity>,
}

impl ResourceRequirements {
    /// The CPU request in millicores (0 when none).
    pub fn cpu_request_milli(&self) -> i128 {
        self.requests.get("cpu").map_or(0, Quantity::milli_value)
    }

    /// The memory request in bytes (0 when none).
    pub fn memory_request_bytes(&self) -> i128 {
        self.requests.get("memory").map_or(0, Quantity::value)
    }
}

/// A volume mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct VolumeMount {
    /// The volume (one of the pod's `volumes`).
    pub name: String,
    /// Where, in the container.
    pub mount_path: String,
    /// Mounted read-only.
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// A path inside the volume to mount instead of its root.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sub_path: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_from_tag() {
        assert_eq!(default_pull_policy("nginx"), PullPolicy::Always);
        assert_eq!(default_pull_policy("nginx:latest"), PullPolicy::Always);
        assert_eq!(default_pull_policy("nginx:1.25"), PullPolicy::IfNotPresent);
        assert_eq!(
            default_pull_policy("localhost:5000/nginx"),
            PullPolicy::Always
        );
        assert_eq!(
            default_pull_policy("localhost:5000/nginx:1"),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            default_pull_policy("nginx@sha256:abc"),
            PullPolicy::IfNotPresent
        );
    }
}
