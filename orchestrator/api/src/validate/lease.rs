//! Lease checks: the duration and the transition count.

use crate::lease::Lease;
use crate::validate::{FieldError, FieldErrors, FieldPath, non_negative};

/// Checks a Lease: a positive duration, a non-negative transition count.
pub(crate) fn validate_lease(lease: &Lease, errs: &mut FieldErrors) {
    let path = FieldPath::new("spec");
    if let Some(d) = lease.spec.lease_duration_seconds
        && d <= 0
    {
        errs.push(FieldError::invalid(
            &path.child("leaseDurationSeconds"),
            d,
            "must be greater than 0",
        ));
    }
    if let Some(t) = lease.spec.lease_transitions {
        non_negative(i64::from(t), &path.child("leaseTransitions"), errs);
    }
}
