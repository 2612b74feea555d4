//! Taint and toleration checks: keys, values, operators and effects.

use std::collections::BTreeSet;

use crate::taint::{Taint, TaintEffect, Toleration, TolerationOperator};
use crate::validate::{FieldError, FieldErrors, FieldPath, names};

/// Checks a node's taints (`spec.taints`): a key that is a label key, a
/// value that is a label value, one taint per key and effect.
pub(crate) fn validate_taints(taints: &[Taint], path: &FieldPath, errs: &mut FieldErrors) {
    let mut seen = BTreeSet::new();
    for (i, t) in taints.iter().enumerate() {
        let p = path.index(i);
        if t.key.is_empty() {
            errs.push(FieldError::required(&p.child("key"), ""));
        } else {
            errs.invalid_each(&p.child("key"), &t.key, names::qualified_name(&t.key));
        }
        errs.invalid_each(&p.child("value"), &t.value, names::label_value(&t.value));
        if !seen.insert((t.key.as_str(), t.effect)) {
            let mut dup = FieldError::duplicate(&p, serde_json::to_value(t).unwrap_or_default());
            dup.detail = "taints must be unique by key and effect pair".to_owned();
            errs.push(dup);
        }
    }
}

/// Checks a pod's tolerations (`spec.tolerations`), as Kubernetes does.
pub(crate) fn validate_tolerations(
    tolerations: &[Toleration],
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    for (i, t) in tolerations.iter().enumerate() {
        let p = path.index(i);
        if t.key.is_empty() {
            if t.operator != TolerationOperator::Exists {
                errs.push(FieldError::invalid(
                    &p.child("operator"),
                    t.operator.as_str(),
                    "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
                ));
            }
        } else {
            errs.invalid_each(&p.child("key"), &t.key, names::qualified_name(&t.key));
        }
        if t.toleration_seconds.is_some() && t.effect != Some(TaintEffect::NoExecute) {
            errs.push(FieldError::invalid(
                &p.child("effect"),
                t.effect.map(TaintEffect::as_str).unwrap_or_default(),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match t.operator {
            TolerationOperator::Equal => {
                errs.invalid_each(&p.child("value"), &t.value, names::label_value(&t.value));
            }
            TolerationOperator::Exists if !t.value.is_empty() => {
                errs.push(FieldError::invalid(
                    &p.child("value"),
                    t.value.as_str(),
                    "value must be empty when `operator` is 'Exists'",
                ));
            }
            TolerationOperator::Exists => {}
        }
    }
}
