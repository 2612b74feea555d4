//! EndpointSlices: the ready addresses behind a Service, written by the
//! endpoint slice controller and read by the data plane and cluster DNS.

use serde::{Deserialize, Serialize};

use crate::container::Protocol;
use crate::macros::string_enum;
use crate::meta::{ApiVersion, KindTag, ObjectMeta, ObjectReference};
use crate::resource::{ResourceFields, resource_boilerplate};
use crate::validate::FieldErrors;

/// The label naming the Service a slice belongs to.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The label naming the controller that manages a slice.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// The value of [`LABEL_MANAGED_BY`] on slices Berth's controller manages.
pub const MANAGED_BY_BERTH: &str = "endpointslice-controller.berth.io";
/// The most endpoints a slice may hold.
pub const MAX_ENDPOINTS: usize = 1000;
/// The most ports a slice may hold.
pub const MAX_PORTS: usize = 20_000;
/// The most addresses an endpoint may have.
pub const MAX_ADDRESSES: usize = 100;

string_enum! {
    /// The kind of address a slice holds.
    pub enum AddressType {
        /// IPv4 addresses.
        #[default]
        Ipv4 = "IPv4",
        /// IPv6 addresses.
        Ipv6 = "IPv6",
        /// Fully qualified domain names.
        Fqdn = "FQDN",
    }
}

/// An EndpointSlice (`apiVersion: discovery.k8s.io/v1`, `kind: EndpointSlice`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndpointSlice {
    /// `discovery.k8s.io/v1`.
    #[serde(default)]
    pub api_version: ApiVersion<EndpointSlice>,
    /// `EndpointSlice`.
    #[serde(default)]
    pub kind: KindTag<EndpointSlice>,
    /// Metadata; the label [`LABEL_SERVICE_NAME`] names the Service.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `IPv4`, `IPv6` or `FQDN` (required).
    pub address_type: AddressType,
    /// The endpoints.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// The ports, the same for every endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<EndpointPort>,
}

impl ResourceFields for EndpointSlice {
    fn validate_fields(&self, errs: &mut FieldErrors) {
        crate::validate::endpointslice::validate_endpoint_slice(self, errs);
    }

    fn validate_update_fields(&self, old: &Self, errs: &mut FieldErrors) {
        crate::validate::update::endpoint_slice(self, old, errs);
    }
}

resource_boilerplate!(EndpointSlice);

impl EndpointSlice {
    /// The Service the slice belongs to (its [`LABEL_SERVICE_NAME`] label).
    pub fn service_name(&self) -> Option<&str> {
        self.metadata.label(LABEL_SERVICE_NAME)
    }
}

/// One endpoint: a pod's addresses and state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Endpoint {
    /// The addresses (one, in practice), of the slice's address type.
    pub addresses: Vec<String>,
    /// Readiness.
    pub conditions: EndpointConditions,
    /// The pod's hostname (for headless Services' DNS records).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// The pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<ObjectReference>,
    /// The node the pod runs on.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    /// The zone of the node.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub zone: String,
}

/// The state of an endpoint; an absent value means unknown.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct EndpointConditions {
    /// Ready to receive new connections (counts as true when unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// Serving, even if terminating.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving: Option<bool>,
    /// Terminating.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminating: Option<bool>,
}

impl EndpointConditions {
    /// Ready, counting an unknown state as ready (as consumers must).
    pub fn is_ready(&self) -> bool {
        self.ready != Some(false)
    }
}

/// A port of the endpoints.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct EndpointPort {
    /// The name: the Service port's name (may be empty).
    pub name: String,
    /// `TCP` (default), `UDP` or `SCTP`.
    pub protocol: Protocol,
    /// The port number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// The application protocol.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub app_protocol: String,
}
