//! Metadata checks: names, namespaces, labels, annotations, owner
//! references; label selectors.

use std::collections::BTreeMap;

use crate::kind::Kind;
use crate::meta::ObjectMeta;
use crate::selector::{LabelSelector, LabelSelectorRequirement, SelectorOperator};
use crate::validate::names;
use crate::validate::{FieldError, FieldErrors, FieldPath};

/// The most bytes all annotations of an object may take.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// The name rule of a kind: DNS-1035 labels for Services (their names are
/// DNS labels), DNS-1123 labels for Namespaces, subdomains otherwise.
pub fn name_rule(kind: Kind) -> fn(&str) -> Vec<String> {
    match kind {
        Kind::Service => names::dns1035_label,
        Kind::Namespace => names::dns1123_label,
        _ => names::dns1123_subdomain,
    }
}

/// Checks `metadata` of an object of `kind`.
pub(crate) fn validate_object_meta(meta: &ObjectMeta, kind: Kind, errs: &mut FieldErrors) {
    let path = FieldPath::new("metadata");
    let rule = name_rule(kind);
    if !meta.name.is_empty() {
        errs.invalid_each(&path.child("name"), &meta.name, rule(&meta.name));
    } else if !meta.generate_name.is_empty() {
        // A prefix may end with '-': check it as if a character followed.
        let masked = match meta.generate_name.strip_suffix('-') {
            Some(stem) => format!("{stem}a"),
            None => meta.generate_name.clone(),
        };
        errs.invalid_each(
            &path.child("generateName"),
            &meta.generate_name,
            rule(&masked),
        );
    } else {
        errs.push(FieldError::required(
            &path.child("name"),
            "name or generateName is required",
        ));
    }
    if kind.is_namespaced() {
        if meta.namespace.is_empty() {
            errs.push(FieldError::required(&path.child("namespace"), ""));
        } else {
            errs.invalid_each(
                &path.child("namespace"),
                &meta.namespace,
                names::dns1123_label(&meta.namespace),
            );
        }
    } else if !meta.namespace.is_empty() {
        errs.push(FieldError::forbidden(
            &path.child("namespace"),
            "not allowed on this type",
        ));
    }
    if meta.generation < 0 {
        errs.push(FieldError::invalid(
            &path.child("generation"),
            meta.generation,
            "must be greater than or equal to 0",
        ));
    }
    validate_labels(&meta.labels, &path.child("labels"), errs);
    validate_annotations(&meta.annotations, &path.child("annotations"), errs);
    let owners = path.child("ownerReferences");
    for (i, o) in meta.owner_references.iter().enumerate() {
        let p = owners.index(i);
        for (field, value) in [
            ("apiVersion", &o.api_version),
            ("kind", &o.kind),
            ("name", &o.name),
            ("uid", &o.uid),
        ] {
            if value.is_empty() {
                errs.push(FieldError::invalid(
                    &p.child(field),
                    "",
                    format!("{field} must not be empty"),
                ));
            }
        }
    }
    let controllers: Vec<&str> = meta
        .owner_references
        .iter()
        .filter(|o| o.controller == Some(true))
        .map(|o| o.name.as_str())
        .collect();
    if controllers.len() > 1 {
        errs.push(FieldError::invalid(
            &owners,
            controllers.join(", "),
            "Only one reference can have Controller set to true",
        ));
    }
}

/// Checks label keys (qualified names) and values.
pub(crate) fn validate_labels(
    labels: &BTreeMap<String, String>,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    for (k, v) in labels {
        errs.invalid_each(path, k, names::qualified_name(k));
        errs.invalid_each(path, v, names::label_value(v));
    }
}

/// Checks annotation keys and the total size.
fn validate_annotations(
    annotations: &BTreeMap<String, String>,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    let mut total = 0;
    for (k, v) in annotations {
        errs.invalid_each(path, k, names::qualified_name(&k.to_ascii_lowercase()));
        total += k.len() + v.len();
    }
    if total > MAX_ANNOTATIONS_BYTES {
        errs.push(FieldError::too_long(path, MAX_ANNOTATIONS_BYTES));
    }
}

/// Checks a label selector's keys, values and operators.
pub(crate) fn validate_label_selector(
    selector: &LabelSelector,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    validate_labels(&selector.match_labels, &path.child("matchLabels"), errs);
    let exprs = path.child("matchExpressions");
    for (i, r) in selector.match_expressions.iter().enumerate() {
        validate_requirement(r, &exprs.index(i), errs);
    }
}

/// Checks one selector requirement at `path`: its key, its values, and that
/// `In`/`NotIn` have values and `Exists`/`DoesNotExist` none.
pub(crate) fn validate_requirement(
    r: &LabelSelectorRequirement,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    errs.invalid_each(&path.child("key"), &r.key, names::qualified_name(&r.key));
    match r.operator {
        SelectorOperator::In | SelectorOperator::NotIn if r.values.is_empty() => {
            errs.push(FieldError::required(
                &path.child("values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            ))
        }
        SelectorOperator::Exists | SelectorOperator::DoesNotExist if !r.values.is_empty() => errs
            .push(FieldError::forbidden(
                &path.child("values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
        _ => {}
    }
    for (j, v) in r.values.iter().enumerate() {
        errs.invalid_each(&path.child("values").index(j), v, names::label_value(v));
    }
}
