//! Kubernetes manifests → the DNS model: Services, EndpointSlices and Pods
//! from multi-document YAML (or JSON), each document one object or a
//! `kind: List` (also `ServiceList`, `PodList`, ...) of them.
//!
//! Only the fields DNS uses are read, and each is checked; other fields are
//! tolerated, since real manifests carry many (selectors, targetPorts,
//! status, managedFields). Objects of other kinds (a Deployment in the same
//! file) are skipped. A document without `apiVersion` or `kind` is an error.

mod field;
mod pod;
mod service;
mod slice;

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::static_source::StaticSource;
use field::Obj;

/// Errors reading manifests.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The text is not YAML.
    #[error("{origin}: document {document}: not YAML")]
    Yaml {
        /// The file, or `<string>`.
        origin: String,
        /// 1-based document number.
        document: usize,
        /// The parser's error (with line and column).
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// A field is missing or has a value we cannot use.
    #[error("{origin}: document {document} ({object}): {field}: {problem}")]
    Invalid {
        /// The file, or `<string>`.
        origin: String,
        /// 1-based document number.
        document: usize,
        /// `Kind namespace/name` as far as known.
        object: String,
        /// Path of the field, e.g. `spec.ports[1].port`.
        field: String,
        /// `Invalid value: "x": why` or `Required value: why`.
        problem: String,
    },
}

/// A field problem before the document's context is attached.
#[derive(Debug)]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) problem: String,
}

impl FieldError {
    pub(crate) fn invalid(field: impl Into<String>, value: &Value, why: &str) -> Self {
        Self {
            field: field.into(),
            problem: format!("Invalid value: {}: {why}", show(value)),
        }
    }

    pub(crate) fn required(field: impl Into<String>, why: &str) -> Self {
        Self {
            field: field.into(),
            problem: format!("Required value: {why}"),
        }
    }
}

/// A value as the error shows it: strings quoted, others as YAML.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => serde_yaml_ng::to_string(other)
            .map(|s| s.trim_end().to_owned())
            .unwrap_or_else(|_| "?".into()),
    }
}

/// Parses manifest text; `origin` names it in errors.
pub(crate) fn parse(text: &str, origin: &str) -> Result<StaticSource, ManifestError> {
    let mut out = StaticSource::default();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let document = i + 1;
        let value = Value::deserialize(doc).map_err(|source| ManifestError::Yaml {
            origin: origin.to_owned(),
            document,
            source,
        })?;
        if value.is_null() {
            continue;
        }
        let context = |object: String, e: FieldError| ManifestError::Invalid {
            origin: origin.to_owned(),
            document,
            object,
            field: e.field,
            problem: e.problem,
        };
        let root = Obj::root(&value).map_err(|e| context("document".into(), e))?;
        let kind = root
            .str("kind")
            .map_err(|e| context("document".into(), e))?;
        if kind.ends_with("List") {
            let items = root
                .list("items")
                .map_err(|e| context(kind.to_owned(), e))?;
            for item in items {
                let item = item.map_err(|e| context(kind.to_owned(), e))?;
                add_object(&item, &mut out)
                    .map_err(|(object, e)| context(format!("{kind} item {object}"), e))?;
            }
        } else {
            add_object(&root, &mut out).map_err(|(object, e)| context(object, e))?;
        }
    }
    Ok(out)
}

/// Adds one object; the error carries `Kind namespace/name`.
fn add_object(obj: &Obj<'_>, out: &mut StaticSource) -> Result<(), (String, FieldError)> {
    let kind = obj.str("kind").map_err(|e| ("object".to_owned(), e))?;
    let api_version = obj.str("apiVersion").map_err(|e| (kind.to_owned(), e))?;
    let meta = field::Meta::read(obj).map_err(|e| (kind.to_owned(), e))?;
    let label = format!("{kind} {}/{}", meta.namespace, meta.name);
    let wrap = |e| (label.clone(), e);
    let expect = |version: &str| {
        if api_version == version {
            Ok(())
        } else {
            Err(wrap(FieldError::invalid(
                obj.path("apiVersion"),
                &Value::String(api_version.to_owned()),
                &format!("{kind} is read as {version}"),
            )))
        }
    };
    match kind {
        "Service" => {
            expect("v1")?;
            out.services.push(service::read(obj, &meta).map_err(wrap)?);
        }
        "EndpointSlice" => {
            expect("discovery.k8s.io/v1")?;
            if let Some(eps) = slice::read(obj, &meta).map_err(wrap)? {
                out.endpoints.push(eps);
            }
        }
        "Pod" => {
            expect("v1")?;
            out.pods.extend(pod::read(obj, &meta).map_err(wrap)?);
        }
        other => tracing::debug!(kind = other, object = %label, "not a DNS object, skipped"),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
