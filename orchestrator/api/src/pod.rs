//! Pods: the spec (containers, volumes, restart policy, networking), the
//! template Deployments stamp pods from, and the status the node agent
//! reports.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::container::Container;
use crate::macros::{is_default, is_false, string_enum};
use crate::meta::{ApiVersion, ConditionStatus, KindTag, ObjectMeta};
use crate::resource::{ResourceFields, resource_boilerplate};
use crate::taint::Toleration;
use crate::time::Time;
use crate::validate::FieldErrors;
use crate::volume::Volume;

/// The grace period of a pod's deletion when none is given, in seconds.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;

string_enum! {
    /// When containers are restarted after they exit.
    pub enum RestartPolicy {
        /// Always (the only policy a Deployment's pods may have).
        #[default]
        Always = "Always",
        /// When they exit with a non-zero status.
        OnFailure = "OnFailure",
        /// Never.
        Never = "Never",
    }
}

string_enum! {
    /// How the pod's `/etc/resolv.conf` is written.
    pub enum DnsPolicy {
        /// The cluster DNS, with the namespace search path.
        #[default]
        ClusterFirst = "ClusterFirst",
        /// The cluster DNS even with `hostNetwork`.
        ClusterFirstWithHostNet = "ClusterFirstWithHostNet",
        /// The node's resolver configuration.
        Default = "Default",
    }
}

string_enum! {
    /// Where a pod is in its lifecycle.
    pub enum PodPhase {
        /// Accepted, not all containers running yet.
        #[default]
        Pending = "Pending",
        /// Bound to a node, containers running.
        Running = "Running",
        /// All containers exited with success and will not restart.
        Succeeded = "Succeeded",
        /// All containers exited, at least one with failure.
        Failed = "Failed",
        /// The state could not be obtained.
        Unknown = "Unknown",
    }
}

/// A pod (`apiVersion: v1`, `kind: Pod`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Pod {
    /// `v1`.
    pub api_version: ApiVersion<Pod>,
    /// `Pod`.
    pub kind: KindTag<Pod>,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The desired state.
    pub spec: PodSpec,
    /// The observed state (written by the node agent).
    #[serde(skip_serializing_if = "is_default")]
    pub status: PodStatus,
}

impl ResourceFields for Pod {
    fn default_fields(&mut self) {
        self.spec.apply_defaults();
    }

    fn validate_fields(&self, errs: &mut FieldErrors) {
        crate::validate::pod::validate_pod(self, errs);
    }

    fn validate_update_fields(&self, old: &Self, errs: &mut FieldErrors) {
        crate::validate::update::pod(self, old, errs);
    }
}

resource_boilerplate!(Pod, status);

impl Pod {
    /// Whether the pod's `Ready` condition is `True`.
    pub fn is_ready(&self) -> bool {
        self.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True)
    }

    /// The names of the ConfigMaps and of the Secrets its containers'
    /// environment and its volumes read (what the node authorizer lets the
    /// pod's node get, and what the agent reads).
    pub fn config_maps_and_secrets(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut cms = BTreeSet::new();
        let mut secrets = BTreeSet::new();
        for c in &self.spec.containers {
            for e in &c.env_from {
                if let Some(r) = &e.config_map_ref {
                    cms.insert(r.name.clone());
                }
                if let Some(r) = &e.secret_ref {
                    secrets.insert(r.name.clone());
                }
            }
            for e in c.env.iter().filter_map(|e| e.value_from.as_ref()) {
                if let Some(r) = &e.config_map_key_ref {
                    cms.insert(r.name.clone());
                }
                if let Some(r) = &e.secret_key_ref {
                    secrets.insert(r.name.clone());
                }
            }
        }
        for v in &self.spec.volumes {
            if let Some(cm) = &v.config_map {
                cms.insert(cm.name.clone());
            }
            if let Some(s) = &v.secret {
                secrets.insert(s.secret_name.clone());
            }
        }
        (cms, secrets)
    }
}

/// The desired state of a pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct PodSpec {
    /// The containers (at least one).
    pub containers: Vec<Container>,
    /// The volumes containers can mount.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// When containers are restarted (`Always` by default).
    pub restart_policy: RestartPolicy,
    /// Seconds between SIGTERM and SIGKILL on deletion (30 by default).
    pub termination_grace_period_seconds: i64,
    /// How DNS is configured (`ClusterFirst` by default).
    pub dns_policy: DnsPolicy,
    /// The node the pod runs on (set by the scheduler).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    /// Labels a node must have to run the pod.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// The node taints the pod tolerates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Use the node's network namespace.
    #[serde(skip_serializing_if = "is_false")]
    pub host_network: bool,
    /// The pod's hostname (the pod name by default).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// With `hostname`, gives the pod the DNS name
    /// `HOSTNAME.SUBDOMAIN.NAMESPACE.svc.CLUSTER-DOMAIN` behind a headless
    /// Service named `SUBDOMAIN`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subdomain: String,
}

impl Default for PodSpec {
    fn default() -> Self {
        Self {
            containers: Vec::new(),
            volumes: Vec::new(),
            restart_policy: RestartPolicy::default(),
            termination_grace_period_seconds: DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS,
            dns_policy: DnsPolicy::default(),
            node_name: String::new(),
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            host_network: false,
            hostname: String::new(),
            subdomain: String::new(),
        }
    }
}

impl PodSpec {
    /// Applies Kubernetes' defaults to the containers and volumes.
    pub fn apply_defaults(&mut self) {
        for c in &mut self.containers {
            c.apply_defaults();
        }
        for v in &mut self.volumes {
            v.apply_defaults();
        }
    }

    /// The container named `name`.
    pub fn container(&self, name: &str) -> Option<&Container> {
        self.containers.iter().find(|c| c.name == name)
    }
}

/// The template pods are made from (`spec.template` of a Deployment).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct PodTemplateSpec {
    /// Labels and annotations of the pods (must match the selector).
    pub metadata: ObjectMeta,
    /// The pods' spec.
    pub spec: PodSpec,
}

/// The observed state of a pod.
///
/// Status types accept (and drop) fields Berth does not model, so that
/// objects written by `kubectl get -o yaml` on a Kubernetes cluster read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodStatus {
    /// The phase.
    #[serde(skip_serializing_if = "is_default")]
    pub phase: PodPhase,
    /// Conditions: `PodScheduled`, `Initialized`, `ContainersReady`, `Ready`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PodCondition>,
    /// A human-readable message.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// A CamelCase reason.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The node's primary IP.
    #[serde(rename = "hostIP", skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
    /// The node's IPs.
    #[serde(rename = "hostIPs", skip_serializing_if = "Vec::is_empty")]
    pub host_ips: Vec<PodIp>,
    /// The pod's primary IP.
    #[serde(rename = "podIP", skip_serializing_if = "String::is_empty")]
    pub pod_ip: String,
    /// The pod's IPs (one per family).
    #[serde(rename = "podIPs", skip_serializing_if = "Vec::is_empty")]
    pub pod_ips: Vec<PodIp>,
    /// When the node agent accepted the pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// One per container.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub container_statuses: Vec<ContainerStatus>,
}

/// An IP address of a pod or of its node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PodIp {
    /// The address.
    pub ip: String,
}

/// A condition of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodCondition {
    /// `PodScheduled`, `Initialized`, `ContainersReady` or `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// When it was last probed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
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

/// The state of one container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStatus {
    /// The container's name.
    pub name: String,
    /// Whether its readiness probe passes.
    pub ready: bool,
    /// How many times it was restarted.
    pub restart_count: i32,
    /// The image.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// The image id.
    #[serde(rename = "imageID", skip_serializing_if = "String::is_empty")]
    pub image_id: String,
    /// `containerd://ID`.
    #[serde(rename = "containerID", skip_serializing_if = "String::is_empty")]
    pub container_id: String,
    /// Whether it has started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
    /// The current state.
    #[serde(skip_serializing_if = "is_default")]
    pub state: ContainerState,
    /// The state of the last run.
    #[serde(skip_serializing_if = "is_default")]
    pub last_state: ContainerState,
}

/// Waiting, running or terminated: at most one is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerState {
    /// Not running yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<ContainerStateWaiting>,
    /// Running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<ContainerStateRunning>,
    /// Exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminated: Option<ContainerStateTerminated>,
}

/// A container not running yet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStateWaiting {
    /// Why (`ContainerCreating`, `CrashLoopBackOff`, `ErrImagePull`, ...).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Details.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// A running container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStateRunning {
    /// When it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
}

/// An exited container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStateTerminated {
    /// The exit status.
    pub exit_code: i32,
    /// The signal that killed it, if one did.
    #[serde(skip_serializing_if = "is_default")]
    pub signal: i32,
    /// Why (`Completed`, `Error`, `OOMKilled`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Details.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When it exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
}
