//! Leases (`coordination.k8s.io/v1`): a holder and a renewal time, for
//! node heartbeats (one Lease per node in [`NODE_LEASE_NAMESPACE`]) and
//! leader election.

use serde::{Deserialize, Serialize};

use crate::macros::is_default;
use crate::meta::{ApiVersion, KindTag, ObjectMeta};
use crate::resource::{ResourceFields, resource_boilerplate};
use crate::time::Time;
use crate::validate::FieldErrors;

/// The namespace of the nodes' Leases (each named after its node).
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// A Lease (`apiVersion: coordination.k8s.io/v1`, `kind: Lease`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Lease {
    /// `coordination.k8s.io/v1`.
    pub api_version: ApiVersion<Lease>,
    /// `Lease`.
    pub kind: KindTag<Lease>,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The holder and its times.
    #[serde(skip_serializing_if = "is_default")]
    pub spec: LeaseSpec,
}

impl ResourceFields for Lease {
    fn validate_fields(&self, errs: &mut FieldErrors) {
        crate::validate::lease::validate_lease(self, errs);
    }
}

resource_boilerplate!(Lease);

/// The state of a Lease.
///
/// Times keep the fraction of a second they are given (Kubernetes writes
/// them as `MicroTime`, with microseconds).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct LeaseSpec {
    /// Who holds the lease (a node name, a controller instance).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub holder_identity: String,
    /// How long the holder keeps the lease after `renewTime` without
    /// renewing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i32>,
    /// When the current holder acquired it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquire_time: Option<Time>,
    /// When the current holder last renewed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renew_time: Option<Time>,
    /// How many times it changed holders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_transitions: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Object;
    use crate::resource::Resource;

    const NODE_LEASE: &str = r#"{
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
        "spec": {
            "holderIdentity": "node-1",
            "leaseDurationSeconds": 40,
            "renewTime": "2024-05-01T12:00:00.123456Z"
        }
    }"#;

    fn lease() -> Lease {
        let mut o = Object::from_json(NODE_LEASE.as_bytes()).unwrap();
        o.apply_defaults();
        o.try_into().unwrap()
    }

    #[test]
    fn reads_and_writes_back_with_microseconds() {
        let l = lease();
        assert_eq!(l.metadata.namespace, NODE_LEASE_NAMESPACE);
        assert_eq!(l.spec.holder_identity, "node-1");
        assert_eq!(l.spec.lease_duration_seconds, Some(40));
        let renew = l.spec.renew_time.unwrap();
        assert_eq!(renew.subsec_nanos(), 123_456_000);
        assert_eq!(l.spec.acquire_time, None);
        l.validate().unwrap();
        let json = serde_json::to_value(&l).unwrap();
        assert_eq!(json["spec"]["renewTime"], "2024-05-01T12:00:00.123456Z");
        assert!(json["spec"].get("leaseTransitions").is_none());
        assert!(json.get("status").is_none());
        assert_eq!(Object::from_value(json).unwrap(), Object::Lease(l.clone()));
        assert_eq!(l.key().path(), "leases/kube-node-lease/node-1");

        let empty = Lease {
            metadata: ObjectMeta::named("default", "leader"),
            ..Lease::default()
        };
        assert!(serde_json::to_value(&empty).unwrap().get("spec").is_none());
        empty.validate().unwrap();
    }

    #[test]
    fn validation() {
        let mut l = lease();
        l.spec.lease_duration_seconds = Some(0);
        l.spec.lease_transitions = Some(-1);
        let errs: Vec<String> = l
            .validate()
            .unwrap_err()
            .errors()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            [
                "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
                "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
            ]
        );
        l.spec.lease_duration_seconds = Some(15);
        l.spec.lease_transitions = Some(0);
        l.validate().unwrap();
        let mut renamed = l.clone();
        renamed.metadata.name = "node-2".to_owned();
        assert_eq!(
            renamed.validate_update(&l).unwrap_err().to_string(),
            "metadata.name: Invalid value: \"node-2\": field is immutable"
        );
    }
}
