//! Output as kubectl writes it: YAML, indented JSON, and `kind: List`.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::object::Object;

/// An object that could not be written (does not happen with Berth's own
/// types, whose map keys are all strings).
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// JSON encoding failed.
    #[error("encoding JSON")]
    Json {
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// YAML encoding failed.
    #[error("encoding YAML")]
    Yaml {
        /// The encoder's error.
        #[source]
        source: serde_yaml_ng::Error,
    },
}

/// Compact JSON (storage, the wire).
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    serde_json::to_vec(value).map_err(|source| EncodeError::Json { source })
}

/// JSON indented by four spaces, as `kubectl get -o json`, with a final
/// newline.
pub fn to_json_pretty<T: Serialize + ?Sized>(value: &T) -> Result<String, EncodeError> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    value
        .serialize(&mut ser)
        .map_err(|source| EncodeError::Json { source })?;
    out.push(b'\n');
    // serde_json writes valid UTF-8.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// YAML, as `kubectl get -o yaml` (fields in declaration order, `apiVersion`
/// and `kind` first, empty fields left out).
pub fn to_yaml<T: Serialize + ?Sized>(value: &T) -> Result<String, EncodeError> {
    serde_yaml_ng::to_string(value).map_err(|source| EncodeError::Yaml { source })
}

/// Several objects as one `apiVersion: v1`, `kind: List` (what `get -o
/// yaml` prints for more than one object).
#[derive(Debug, Clone, Copy)]
pub struct List<'a> {
    /// The objects.
    pub items: &'a [Object],
}

impl Serialize for List<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("List", 3)?;
        s.serialize_field("apiVersion", "v1")?;
        s.serialize_field("kind", "List")?;
        s.serialize_field("items", self.items)?;
        s.end()
    }
}
