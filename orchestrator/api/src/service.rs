//! Services: a stable virtual IP (or a DNS name) in front of pods.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::container::Protocol;
use crate::intstr::IntOrString;
use crate::macros::{is_default, is_false, string_enum};
use crate::meta::{ApiVersion, Condition, ConditionStatus, KindTag, ObjectMeta};
use crate::resource::{ResourceFields, resource_boilerplate};
use crate::time::Time;
use crate::validate::FieldErrors;

/// `clusterIP: None`: a headless Service (DNS returns the pods' addresses).
pub const CLUSTER_IP_NONE: &str = "None";
/// The `ClientIP` affinity timeout when none is given (3 hours).
pub const DEFAULT_CLIENT_IP_TIMEOUT_SECONDS: i32 = 10_800;
/// The longest `ClientIP` affinity timeout (1 day).
pub const MAX_CLIENT_IP_TIMEOUT_SECONDS: i32 = 86_400;
/// The type of the condition a LoadBalancer Service carries while no load
/// balancer is provisioned for it.
pub const CONDITION_DATA_PLANE_SERVED: &str = "DataPlaneServed";

string_enum! {
    /// How a Service is exposed.
    pub enum ServiceType {
        /// A virtual IP inside the cluster (or none, when headless).
        #[default]
        ClusterIP = "ClusterIP",
        /// A cluster IP plus a port on every node (served by nodes whose
        /// agent names `--nodeport-devices`).
        NodePort = "NodePort",
        /// A node port plus an external load balancer (the node ports are
        /// served; no load balancer yet).
        LoadBalancer = "LoadBalancer",
        /// A DNS CNAME to `externalName`; no IP, no proxying.
        ExternalName = "ExternalName",
    }
}

string_enum! {
    /// Which endpoints serve a class of traffic.
    pub enum TrafficPolicy {
        /// Endpoints on every node (for traffic from outside, the client's
        /// address is replaced by the node's).
        #[default]
        Cluster = "Cluster",
        /// Only endpoints on the node the traffic arrives at (the client's
        /// address is kept); none there, the traffic is dropped.
        Local = "Local",
    }
}

string_enum! {
    /// Whether a client sticks to one backend.
    pub enum SessionAffinity {
        /// No affinity.
        #[default]
        None = "None",
        /// Connections from one client IP go to the same backend.
        ClientIP = "ClientIP",
    }
}

string_enum! {
    /// An IP family.
    pub enum IpFamily {
        /// IPv4.
        #[default]
        Ipv4 = "IPv4",
        /// IPv6.
        Ipv6 = "IPv6",
    }
}

string_enum! {
    /// How many IP families a Service gets.
    pub enum IpFamilyPolicy {
        /// One family (the cluster's primary unless `ipFamilies` says).
        #[default]
        SingleStack = "SingleStack",
        /// Both families when the cluster has both, else one.
        PreferDualStack = "PreferDualStack",
        /// Both families, or the Service is rejected.
        RequireDualStack = "RequireDualStack",
    }
}

/// A Service (`apiVersion: v1`, `kind: Service`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Service {
    /// `v1`.
    pub api_version: ApiVersion<Service>,
    /// `Service`.
    pub kind: KindTag<Service>,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The desired state.
    pub spec: ServiceSpec,
    /// The observed state.
    #[serde(skip_serializing_if = "is_default")]
    pub status: ServiceStatus,
}

impl ResourceFields for Service {
    fn default_fields(&mut self) {
        self.spec.apply_defaults();
    }

    fn validate_fields(&self, errs: &mut FieldErrors) {
        crate::validate::service::validate_service(self, errs);
    }

    fn validate_update_fields(&self, old: &Self, errs: &mut FieldErrors) {
        crate::validate::update::service(self, old, errs);
    }
}

resource_boilerplate!(Service, status);

/// The desired state of a Service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ServiceSpec {
    /// `ClusterIP` (default), `NodePort`, `LoadBalancer` or `ExternalName`.
    #[serde(rename = "type")]
    pub type_: ServiceType,
    /// The pods behind the Service; none means endpoints are managed by hand.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// The ports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    /// The virtual IP: empty to have one allocated, `None` for headless.
    #[serde(rename = "clusterIP", skip_serializing_if = "String::is_empty")]
    pub cluster_ip: String,
    /// The virtual IPs, one per family; the first equals `clusterIP`.
    #[serde(rename = "clusterIPs", skip_serializing_if = "Vec::is_empty")]
    pub cluster_ips: Vec<String>,
    /// The families of `clusterIPs` (the allocator fills it when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_families: Vec<IpFamily>,
    /// How many families (`SingleStack` by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_family_policy: Option<IpFamilyPolicy>,
    /// `None` (default) or `ClientIP`.
    pub session_affinity: SessionAffinity,
    /// The `ClientIP` timeout (10800 s by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_affinity_config: Option<SessionAffinityConfig>,
    /// The DNS name an `ExternalName` Service is an alias of.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub external_name: String,
    /// List pods in endpoints (and DNS) before they are ready.
    #[serde(skip_serializing_if = "is_false")]
    pub publish_not_ready_addresses: bool,
    /// Addresses (routed to the nodes by others) also served on the
    /// Service's ports, from outside the cluster too.
    #[serde(rename = "externalIPs", skip_serializing_if = "Vec::is_empty")]
    pub external_ips: Vec<String>,
    /// Which endpoints serve traffic from outside (node ports, external
    /// IPs): `Cluster` when not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_traffic_policy: Option<TrafficPolicy>,
    /// The node port on which each node's agent answers how many local
    /// endpoints it has (LoadBalancer with `externalTrafficPolicy: Local`;
    /// allocated when 0).
    #[serde(skip_serializing_if = "is_default")]
    pub health_check_node_port: i32,
}

impl ServiceSpec {
    /// Applies Kubernetes' defaults: `targetPort` = `port`, the `ClientIP`
    /// timeout, `clusterIP`/`clusterIPs` from each other, and the IP family
    /// policy (`SingleStack`; `RequireDualStack` for a headless Service
    /// without selector).
    pub fn apply_defaults(&mut self) {
        for p in &mut self.ports {
            if p.target_port.is_none() {
                p.target_port = Some(IntOrString::Int(p.port));
            }
        }
        if self.session_affinity == SessionAffinity::ClientIP {
            let config = self
                .session_affinity_config
                .get_or_insert_with(SessionAffinityConfig::default);
            let client = config.client_ip.get_or_insert_with(ClientIpConfig::default);
            client
                .timeout_seconds
                .get_or_insert(DEFAULT_CLIENT_IP_TIMEOUT_SECONDS);
        }
        if self.type_ == ServiceType::ExternalName {
            return;
        }
        if self.cluster_ips.is_empty() && !self.cluster_ip.is_empty() {
            self.cluster_ips = vec![self.cluster_ip.clone()];
        } else if self.cluster_ip.is_empty() && !self.cluster_ips.is_empty() {
            self.cluster_ip = self.cluster_ips[0].clone();
        }
        if self.ip_family_policy.is_none() {
            self.ip_family_policy = Some(if self.is_headless() && self.selector.is_empty() {
                IpFamilyPolicy::RequireDualStack
            } else {
                IpFamilyPolicy::SingleStack
            });
        }
    }

    /// Whether the Service is headless (`clusterIP: None`).
    pub fn is_headless(&self) -> bool {
        self.cluster_ip == CLUSTER_IP_NONE
    }

    /// The `ClientIP` affinity timeout, when affinity is `ClientIP`.
    pub fn client_ip_timeout_seconds(&self) -> Option<i32> {
        if self.session_affinity != SessionAffinity::ClientIP {
            return None;
        }
        Some(
            self.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .unwrap_or(DEFAULT_CLIENT_IP_TIMEOUT_SECONDS),
        )
    }

    /// The port named `name`.
    pub fn port_named(&self, name: &str) -> Option<&ServicePort> {
        self.ports.iter().find(|p| p.name == name)
    }
}

/// A port of a Service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ServicePort {
    /// The name (required when there are several ports; a DNS-1123 label).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `TCP` (default), `UDP` or `SCTP`.
    pub protocol: Protocol,
    /// The application protocol (`http`, `kubernetes.io/h2c`): a hint only.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub app_protocol: String,
    /// The port on the cluster IP.
    pub port: i32,
    /// The pods' port: a number, or the name of a container port
    /// (`port` by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    /// The node port (NodePort and LoadBalancer; allocated when 0).
    #[serde(skip_serializing_if = "is_default")]
    pub node_port: i32,
}

impl ServicePort {
    /// The target port after defaulting (`port` when not given).
    pub fn target_port(&self) -> IntOrString {
        self.target_port
            .clone()
            .unwrap_or(IntOrString::Int(self.port))
    }
}

/// Session affinity settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct SessionAffinityConfig {
    /// `ClientIP` settings.
    #[serde(rename = "clientIP", skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<ClientIpConfig>,
}

/// `ClientIP` affinity settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ClientIpConfig {
    /// How long a client sticks to its backend after its last packet
    /// (1–86400 s, 10800 by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
}

/// The observed state of a Service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceStatus {
    /// The load balancer's addresses (Berth provisions none yet).
    #[serde(skip_serializing_if = "is_default")]
    pub load_balancer: LoadBalancerStatus,
    /// Conditions, such as [`CONDITION_DATA_PLANE_SERVED`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// The addresses of a load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadBalancerStatus {
    /// The ingress points.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<LoadBalancerIngress>,
}

/// One ingress point of a load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadBalancerIngress {
    /// An IP address.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// A host name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
}

impl Service {
    /// The condition a Service of type LoadBalancer carries: its node
    /// ports are allocated and served, but no load balancer is provisioned
    /// yet. `None` for other types.
    pub fn data_plane_condition(&self) -> Option<Condition> {
        let (reason, what) = match self.spec.type_ {
            ServiceType::LoadBalancer => ("LoadBalancerNotServed", "load balancer"),
            _ => return None,
        };
        Some(Condition {
            type_: CONDITION_DATA_PLANE_SERVED.to_owned(),
            status: ConditionStatus::False,
            observed_generation: self.metadata.generation,
            last_transition_time: None,
            reason: reason.to_owned(),
            message: format!(
                "Berth allocates the node ports of a {} Service and serves them, but provisions no {what} yet; the cluster IP and node ports are served",
                self.spec.type_
            ),
        })
    }

    /// Puts [`Service::data_plane_condition`] into the status (or removes a
    /// stale one), keeping the transition time when the status is unchanged.
    pub fn set_data_plane_condition(&mut self, now: Time) {
        let wanted = self.data_plane_condition();
        let conditions = &mut self.status.conditions;
        let old = conditions
            .iter()
            .position(|c| c.type_ == CONDITION_DATA_PLANE_SERVED);
        match (wanted, old) {
            (None, None) => {}
            (None, Some(i)) => {
                conditions.remove(i);
            }
            (Some(mut c), Some(i)) => {
                c.last_transition_time = if conditions[i].status == c.status {
                    conditions[i].last_transition_time.or(Some(now))
                } else {
                    Some(now)
                };
                conditions[i] = c;
            }
            (Some(mut c), None) => {
                c.last_transition_time = Some(now);
                conditions.push(c);
            }
        }
    }

    /// A warning for users applying a Service whose type Berth accepts but
    /// does not serve in full.
    pub fn unserved_warning(&self) -> Option<String> {
        self.data_plane_condition().map(|c| c.message)
    }
}
