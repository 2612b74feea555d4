//! Decoding one object from a JSON value: `apiVersion`/`kind` dispatch,
//! typed decoding with field paths, and errors worded as Kubernetes words
//! them.

use serde_json::Value;

use crate::configmap::ConfigMap;
use crate::deployment::Deployment;
use crate::endpointslice::EndpointSlice;
use crate::event::Event;
use crate::kind::Kind;
use crate::lease::Lease;
use crate::namespace::Namespace;
use crate::node::Node;
use crate::object::Object;
use crate::pod::Pod;
use crate::replicaset::ReplicaSet;
use crate::resource::Resource;
use crate::secret::Secret;
use crate::service::Service;
use crate::unsupported;
use crate::validate::{FieldError, FieldErrors};

/// Why a value is not an object Berth serves.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ObjectError {
    /// The bytes are not JSON.
    #[error("invalid JSON: {message}")]
    Syntax {
        /// The parser's message.
        message: String,
    },
    /// The document is not a mapping.
    #[error("expected an object with apiVersion and kind, found {found}")]
    NotAnObject {
        /// What it is instead (`a list`, `a string`, ...).
        found: &'static str,
    },
    /// The pair `apiVersion`/`kind` names nothing Berth serves (kubectl's
    /// message, plus what Berth serves).
    #[error(
        "no matches for kind {kind:?} in version {api_version:?} ({})",
        no_match_hint(kind)
    )]
    NoMatch {
        /// The `apiVersion` given.
        api_version: String,
        /// The `kind` given.
        kind: String,
    },
    /// The object's namespace differs from the one the user asked for
    /// (kubectl's message).
    #[error(
        "the namespace from the provided object {found:?} does not match the namespace {expected:?}. You must pass '--namespace={found}' to perform this operation."
    )]
    NamespaceMismatch {
        /// The object's namespace.
        found: String,
        /// The namespace asked for.
        expected: String,
    },
    /// Fields are unknown, unsupported, of the wrong type or invalid.
    #[error(transparent)]
    Invalid {
        /// The errors, with their field paths.
        #[from]
        errors: FieldErrors,
    },
}

fn no_match_hint(kind: &str) -> String {
    match Kind::from_kind_name(kind) {
        Some(k) => format!("Berth serves {k} as {}", k.api_version()),
        None => {
            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            format!("Berth serves {}", names.join(", "))
        }
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A string field at the top of an object; errors name it.
fn top_string<'a>(value: &'a Value, field: &str) -> Result<&'a str, FieldErrors> {
    match value.get(field) {
        None | Some(Value::Null) => {
            Err(FieldError::required(&crate::validate::FieldPath::new(field), "").into())
        }
        Some(Value::String(s)) if s.is_empty() => {
            Err(FieldError::required(&crate::validate::FieldPath::new(field), "").into())
        }
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(FieldError::decode(
            field,
            format!("invalid type: {}, expected a string", describe(other)),
        )
        .into()),
    }
}

/// The `apiVersion` and `kind` of a value.
pub fn type_meta(value: &Value) -> Result<(&str, &str), ObjectError> {
    if !value.is_object() {
        return Err(ObjectError::NotAnObject {
            found: describe(value),
        });
    }
    let mut errs = FieldErrors::new();
    let api_version = top_string(value, "apiVersion")
        .map_err(|e| errs.extend(e))
        .ok();
    let kind = top_string(value, "kind").map_err(|e| errs.extend(e)).ok();
    match (api_version, kind) {
        (Some(a), Some(k)) => Ok((a, k)),
        _ => Err(errs.into()),
    }
}

/// The kind a value is, when Berth serves it.
pub fn kind_of(value: &Value) -> Result<Kind, ObjectError> {
    let (api_version, kind) = type_meta(value)?;
    Kind::from_api(api_version, kind).ok_or_else(|| ObjectError::NoMatch {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
    })
}

/// Removes `null` members everywhere: Kubernetes treats `field: null` (and
/// YAML's `field:`) as an absent field.
pub(crate) fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Decodes a typed resource from a value, naming the path of the first
/// offending field.
pub fn decode_typed<R: Resource>(value: Value) -> Result<R, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        field_error(path, &e.into_inner())
    })
}

/// Turns a serde error at `path` into a field error.
fn field_error(path: String, err: &serde_json::Error) -> FieldError {
    let message = err.to_string();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        // serde_path_to_error's path ends with the unknown field already.
        let path = if path.is_empty() {
            field.to_owned()
        } else {
            path
        };
        return FieldError::unknown_field(&path, suggest(field, expected).as_deref());
    }
    let message = message
        .replace("expected i32", "expected an integer")
        .replace("expected i64", "expected an integer")
        .replace("expected u32", "expected an integer")
        .replace("expected u16", "expected an integer");
    let message = match message.find("expected struct ") {
        Some(at) => format!("{}expected an object", &message[..at]),
        None => message,
    };
    if let Some(missing) = message.strip_prefix("missing field `") {
        let field = missing.trim_end_matches('`');
        let path = if path.is_empty() {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        };
        return FieldError::required(&crate::validate::FieldPath::new(&path), "");
    }
    FieldError::decode(&path, message)
}

/// The closest of the field names serde lists after "expected", if close
/// enough to be a typo.
fn suggest(field: &str, expected: &str) -> Option<String> {
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let lower = field.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| {
            let d = if c.to_ascii_lowercase() == lower {
                0
            } else {
                edit_distance(field, c)
            };
            (d, *c)
        })
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_owned())
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn decode_kind(kind: Kind, value: Value) -> Result<Object, FieldError> {
    Ok(match kind {
        Kind::Namespace => Object::Namespace(decode_typed::<Namespace>(value)?),
        Kind::Node => Object::Node(decode_typed::<Node>(value)?),
        Kind::Pod => Object::Pod(decode_typed::<Pod>(value)?),
        Kind::Deployment => Object::Deployment(decode_typed::<Deployment>(value)?),
        Kind::ReplicaSet => Object::ReplicaSet(decode_typed::<ReplicaSet>(value)?),
        Kind::Service => Object::Service(decode_typed::<Service>(value)?),
        Kind::EndpointSlice => Object::EndpointSlice(decode_typed::<EndpointSlice>(value)?),
        Kind::ConfigMap => Object::ConfigMap(decode_typed::<ConfigMap>(value)?),
        Kind::Secret => Object::Secret(decode_typed::<Secret>(value)?),
        Kind::Event => Object::Event(decode_typed::<Event>(value)?),
        Kind::Lease => Object::Lease(decode_typed::<Lease>(value)?),
    })
}

/// [`Object::from_value`].
pub(crate) fn decode_strict(mut value: Value) -> Result<Object, ObjectError> {
    let kind = kind_of(&value)?;
    strip_nulls(&mut value);
    decode_kind(kind, value).map_err(|e| FieldErrors::from(e).into())
}

/// An object decoded from a manifest, with the warnings about fields that
/// were dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The object (constant defaults applied; not defaulted nor validated
    /// further).
    pub object: Object,
    /// Fields that were dropped, each with why.
    pub warnings: Vec<String>,
}

/// Decodes an object written by a user: as [`Object::from_value`], but
/// first drops the Kubernetes fields Berth tolerates (with a warning when
/// the user may expect an effect) and rejects the ones it does not support,
/// all reported at once.
pub fn decode_manifest(mut value: Value) -> Result<Decoded, ObjectError> {
    let kind = kind_of(&value)?;
    strip_nulls(&mut value);
    let pruned = unsupported::prune(kind, &mut value);
    let mut errs = pruned.errors;
    match decode_kind(kind, value) {
        Ok(object) if errs.is_empty() => Ok(Decoded {
            object,
            warnings: pruned.warnings,
        }),
        Ok(_) => Err(errs.into()),
        Err(e) => {
            errs.push(e);
            Err(errs.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let expected = "expected one of `name`, `image`, `imagePullPolicy`, `ports`";
        assert_eq!(
            suggest("imagePullPolcy", expected).as_deref(),
            Some("imagePullPolicy")
        );
        assert_eq!(suggest("Image", expected).as_deref(), Some("image"));
        assert_eq!(suggest("volumes", expected), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
