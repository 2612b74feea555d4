//! Node checks: pod CIDRs, taints.

use crate::node::Node;
use crate::validate::taint::validate_taints;
use crate::validate::{FieldError, FieldErrors, FieldPath, names};

/// Checks a Node.
pub(crate) fn validate_node(node: &Node, errs: &mut FieldErrors) {
    let spec = FieldPath::new("spec");
    if !node.spec.pod_cidr.is_empty() {
        errs.invalid_each(
            &spec.child("podCIDR"),
            &node.spec.pod_cidr,
            names::cidr(&node.spec.pod_cidr),
        );
    }
    let cidrs = spec.child("podCIDRs");
    if node.spec.pod_cidrs.len() > 2 {
        errs.push(FieldError::too_many(&cidrs, node.spec.pod_cidrs.len(), 2));
    }
    for (i, c) in node.spec.pod_cidrs.iter().enumerate() {
        errs.invalid_each(&cidrs.index(i), c, names::cidr(c));
    }
    if let Some(first) = node.spec.pod_cidrs.first()
        && !node.spec.pod_cidr.is_empty()
        && *first != node.spec.pod_cidr
    {
        errs.push(FieldError::invalid(
            &cidrs.index(0),
            first.as_str(),
            "must match podCIDR",
        ));
    }
    validate_taints(&node.spec.taints, &spec.child("taints"), errs);
}
