//! Update checks: what may not change once an object exists.

use crate::configmap::ConfigMap;
use crate::deployment::Deployment;
use crate::endpointslice::EndpointSlice;
use crate::meta::ObjectMeta;
use crate::node::Node;
use crate::pod::Pod;
use crate::replicaset::ReplicaSet;
use crate::secret::Secret;
use crate::service::{Service, ServiceType};
use crate::taint::Toleration;
use crate::validate::{FieldError, FieldErrors, FieldPath};

const IMMUTABLE: &str = "field is immutable";

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// Name, namespace and uid stay.
pub(crate) fn validate_meta_update(new: &ObjectMeta, old: &ObjectMeta, errs: &mut FieldErrors) {
    let path = FieldPath::new("metadata");
    for (field, n, o) in [
        ("name", &new.name, &old.name),
        ("namespace", &new.namespace, &old.namespace),
    ] {
        if n != o {
            errs.push(FieldError::invalid(
                &path.child(field),
                n.as_str(),
                IMMUTABLE,
            ));
        }
    }
    if !new.uid.is_empty() && !old.uid.is_empty() && new.uid != old.uid {
        errs.push(FieldError::invalid(
            &path.child("uid"),
            new.uid.as_str(),
            IMMUTABLE,
        ));
    }
}

/// A Deployment's selector stays (apps/v1).
pub(crate) fn deployment(new: &Deployment, old: &Deployment, errs: &mut FieldErrors) {
    if new.spec.selector != old.spec.selector {
        errs.push(FieldError::invalid(
            &FieldPath::new("spec").child("selector"),
            json(&new.spec.selector),
            IMMUTABLE,
        ));
    }
}

/// A Service's cluster IP stays once set (unless the type changes to or
/// from ExternalName, which has none).
pub(crate) fn service(new: &Service, old: &Service, errs: &mut FieldErrors) {
    let external = |s: &Service| s.spec.type_ == ServiceType::ExternalName;
    if !external(new)
        && !external(old)
        && !old.spec.cluster_ip.is_empty()
        && new.spec.cluster_ip != old.spec.cluster_ip
    {
        errs.push(FieldError::invalid(
            &FieldPath::new("spec").child("clusterIP"),
            new.spec.cluster_ip.as_str(),
            IMMUTABLE,
        ));
    }
}

const IMMUTABLE_SET: &str = "field is immutable when `immutable` is set";

/// The data of an immutable ConfigMap stays.
pub(crate) fn config_map(new: &ConfigMap, old: &ConfigMap, errs: &mut FieldErrors) {
    if old.immutable != Some(true) {
        return;
    }
    if new.immutable != Some(true) {
        errs.push(FieldError::forbidden(
            &FieldPath::new("immutable"),
            IMMUTABLE_SET,
        ));
    }
    if new.data != old.data {
        errs.push(FieldError::forbidden(
            &FieldPath::new("data"),
            IMMUTABLE_SET,
        ));
    }
    if new.binary_data != old.binary_data {
        errs.push(FieldError::forbidden(
            &FieldPath::new("binaryData"),
            IMMUTABLE_SET,
        ));
    }
}

/// The type of a Secret stays; so does the data of an immutable one.
pub(crate) fn secret(new: &Secret, old: &Secret, errs: &mut FieldErrors) {
    if new.type_ != old.type_ {
        errs.push(FieldError::invalid(
            &FieldPath::new("type"),
            new.type_.as_str(),
            IMMUTABLE,
        ));
    }
    if old.immutable != Some(true) {
        return;
    }
    if new.immutable != Some(true) {
        errs.push(FieldError::forbidden(
            &FieldPath::new("immutable"),
            IMMUTABLE_SET,
        ));
    }
    if new.data != old.data || !new.string_data.is_empty() {
        errs.push(FieldError::forbidden(
            &FieldPath::new("data"),
            IMMUTABLE_SET,
        ));
    }
}

/// A ReplicaSet's selector stays (apps/v1).
pub(crate) fn replica_set(new: &ReplicaSet, old: &ReplicaSet, errs: &mut FieldErrors) {
    if new.spec.selector != old.spec.selector {
        errs.push(FieldError::invalid(
            &FieldPath::new("spec").child("selector"),
            json(&new.spec.selector),
            IMMUTABLE,
        ));
    }
}

/// A pod's spec stays, except container images, added tolerations (and the
/// `tolerationSeconds` of existing ones) and a first `nodeName`.
pub(crate) fn pod(new: &Pod, old: &Pod, errs: &mut FieldErrors) {
    let mut a = new.spec.clone();
    let mut b = old.spec.clone();
    if a.containers.len() == b.containers.len() {
        for (ca, cb) in a.containers.iter_mut().zip(&mut b.containers) {
            ca.image = cb.image.clone();
            ca.image_pull_policy = cb.image_pull_policy;
        }
    }
    if b.node_name.is_empty() {
        b.node_name = a.node_name.clone();
    }
    let kept = old.spec.tolerations.iter().all(|o| {
        new.spec.tolerations.iter().any(|n| {
            *n == Toleration {
                toleration_seconds: n.toleration_seconds,
                ..o.clone()
            }
        })
    });
    if !kept {
        errs.push(FieldError::forbidden(
            &FieldPath::new("spec").child("tolerations"),
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    a.tolerations = b.tolerations.clone();
    if a != b {
        errs.push(FieldError::forbidden(
            &FieldPath::new("spec"),
            "pod updates may not change fields other than `spec.containers[*].image`, `spec.tolerations` (only additions to existing tolerations) and `spec.nodeName` (when unset)",
        ));
    }
}

/// A slice's address type stays.
pub(crate) fn endpoint_slice(new: &EndpointSlice, old: &EndpointSlice, errs: &mut FieldErrors) {
    if new.address_type != old.address_type {
        errs.push(FieldError::invalid(
            &FieldPath::new("addressType"),
            new.address_type.as_str(),
            IMMUTABLE,
        ));
    }
}

/// A node's pod CIDRs stay once set.
pub(crate) fn node(new: &Node, old: &Node, errs: &mut FieldErrors) {
    let spec = FieldPath::new("spec");
    if !old.spec.pod_cidr.is_empty() && new.spec.pod_cidr != old.spec.pod_cidr {
        errs.push(FieldError::forbidden(
            &spec.child("podCIDR"),
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    if !old.spec.pod_cidrs.is_empty() && new.spec.pod_cidrs != old.spec.pod_cidrs {
        errs.push(FieldError::forbidden(
            &spec.child("podCIDRs"),
            "node updates may not change podCIDRs except from \"\" to valid",
        ));
    }
}
