//! Deployment checks: replicas, selector against template labels, the
//! template (shared with ReplicaSets), the update strategy.

use crate::deployment::{Deployment, DeploymentStrategyType};
use crate::intstr::IntOrString;
use crate::pod::{PodTemplateSpec, RestartPolicy};
use crate::selector::LabelSelector;
use crate::validate::meta::{validate_label_selector, validate_labels};
use crate::validate::pod::validate_pod_spec;
use crate::validate::{FieldError, FieldErrors, FieldPath, non_negative};

const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

/// Checks a Deployment.
pub(crate) fn validate_deployment(d: &Deployment, errs: &mut FieldErrors) {
    let spec = &d.spec;
    let path = FieldPath::new("spec");
    non_negative(i64::from(spec.replicas), &path.child("replicas"), errs);
    validate_selector_and_template(&spec.selector, &spec.template, &path, errs);

    let strategy = path.child("strategy");
    match (spec.strategy.type_, &spec.strategy.rolling_update) {
        (DeploymentStrategyType::Recreate, Some(_)) => errs.push(FieldError::forbidden(
            &strategy.child("rollingUpdate"),
            "may not be specified when strategy `type` is 'Recreate'",
        )),
        (DeploymentStrategyType::RollingUpdate, Some(ru)) => {
            let p = strategy.child("rollingUpdate");
            let unavailable =
                validate_int_or_percent(&ru.max_unavailable, &p.child("maxUnavailable"), errs);
            let surge = validate_int_or_percent(&ru.max_surge, &p.child("maxSurge"), errs);
            if let Some(percent) = ru.max_unavailable.percent()
                && percent > 100
            {
                errs.push(FieldError::invalid(
                    &p.child("maxUnavailable"),
                    ru.max_unavailable.to_string(),
                    "must not be greater than 100%",
                ));
            }
            if unavailable == Some(0) && surge == Some(0) {
                errs.push(FieldError::invalid(
                    &p.child("maxUnavailable"),
                    intstr_value(&ru.max_unavailable),
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
        }
        _ => {}
    }

    non_negative(
        i64::from(spec.min_ready_seconds),
        &path.child("minReadySeconds"),
        errs,
    );
    non_negative(
        i64::from(spec.revision_history_limit),
        &path.child("revisionHistoryLimit"),
        errs,
    );
    let deadline = path.child("progressDeadlineSeconds");
    non_negative(i64::from(spec.progress_deadline_seconds), &deadline, errs);
    if spec.progress_deadline_seconds <= spec.min_ready_seconds {
        errs.push(FieldError::invalid(
            &deadline,
            spec.progress_deadline_seconds,
            "must be greater than minReadySeconds",
        ));
    }
}

/// Checks the `selector` and `template` of a Deployment's or ReplicaSet's
/// spec at `path`: a non-empty selector matching the template's labels, and
/// a pod template whose pods always restart.
pub(crate) fn validate_selector_and_template(
    selector: &LabelSelector,
    template: &PodTemplateSpec,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    let selector_path = path.child("selector");
    if selector.is_empty() {
        errs.push(FieldError::invalid(
            &selector_path,
            serde_json::to_value(selector).unwrap_or_default(),
            "empty selector is invalid for deployment",
        ));
    } else {
        validate_label_selector(selector, &selector_path, errs);
    }

    let template_path = path.child("template");
    let labels_path = template_path.child("metadata").child("labels");
    validate_labels(&template.metadata.labels, &labels_path, errs);
    if !selector.is_empty() && !selector.matches(&template.metadata.labels) {
        errs.push(FieldError::invalid(
            &labels_path,
            serde_json::to_value(&template.metadata.labels).unwrap_or_default(),
            "`selector` does not match template `labels`",
        ));
    }
    let pod_path = template_path.child("spec");
    validate_pod_spec(&template.spec, &pod_path, errs);
    if template.spec.restart_policy != RestartPolicy::Always {
        errs.push(FieldError::not_supported(
            &pod_path.child("restartPolicy"),
            template.spec.restart_policy.as_str(),
            &[RestartPolicy::Always.as_str()],
        ));
    }
}

fn intstr_value(v: &IntOrString) -> serde_json::Value {
    match v {
        IntOrString::Int(i) => (*i).into(),
        IntOrString::String(s) => s.as_str().into(),
    }
}

/// A non-negative count or a percentage; returns the number (count or
/// percent) when valid.
fn validate_int_or_percent(
    v: &IntOrString,
    path: &FieldPath,
    errs: &mut FieldErrors,
) -> Option<i32> {
    match v {
        IntOrString::Int(i) => {
            non_negative(i64::from(*i), path, errs);
            Some(*i)
        }
        IntOrString::String(s) => match v.percent() {
            Some(p) => Some(p),
            None => {
                errs.push(FieldError::invalid(path, s.as_str(), PERCENT_MSG));
                None
            }
        },
    }
}
