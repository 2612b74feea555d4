//! ReplicaSet checks: replicas, `minReadySeconds`, selector against
//! template labels, the template (as a Deployment's).

use crate::replicaset::ReplicaSet;
use crate::validate::deployment::validate_selector_and_template;
use crate::validate::{FieldErrors, FieldPath, non_negative};

/// Checks a ReplicaSet.
pub(crate) fn validate_replica_set(rs: &ReplicaSet, errs: &mut FieldErrors) {
    let spec = &rs.spec;
    let path = FieldPath::new("spec");
    non_negative(i64::from(spec.replicas), &path.child("replicas"), errs);
    non_negative(
        i64::from(spec.min_ready_seconds),
        &path.child("minReadySeconds"),
        errs,
    );
    validate_selector_and_template(&spec.selector, &spec.template, &path, errs);
}
