//! Validation: field paths, field errors worded as Kubernetes words them,
//! and the checks of each kind.
//!
//! An error reads `spec.replicas: Invalid value: -1: must be greater than or
//! equal to 0`: the path of the field, what is wrong, the value, and why.

use std::fmt;

use serde_json::Value;

pub(crate) mod config;
pub(crate) mod deployment;
pub(crate) mod endpointslice;
pub(crate) mod event;
pub(crate) mod exposure;
pub(crate) mod lease;
pub(crate) mod meta;
pub mod names;
pub(crate) mod node;
pub(crate) mod pod;
pub(crate) mod replicaset;
pub(crate) mod service;
pub(crate) mod taint;
pub(crate) mod update;

/// The path of a field in an object: `spec.template.spec.containers[0].image`,
/// `metadata.labels[app]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(String);

impl FieldPath {
    /// A path starting at the top-level field `name`.
    pub fn new(name: &str) -> Self {
        Self(name.to_owned())
    }

    /// The field `name` of this one.
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self::new(name)
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// Element `index` of this list.
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// The entry `key` of this map.
    pub fn key(&self, key: &str) -> Self {
        Self(format!("{}[{key}]", self.0))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What is wrong with a field (Kubernetes' `field.ErrorType`, plus the two
/// ways decoding fails).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// A reference names something that does not exist.
    NotFound,
    /// A required field is missing or empty.
    Required,
    /// A value that must be unique is repeated.
    Duplicate,
    /// The value is malformed or out of range.
    Invalid,
    /// The value is none of a fixed set.
    NotSupported,
    /// The field may not be set here (or Berth does not support it).
    Forbidden,
    /// The value is too long.
    TooLong,
    /// A list has too many items.
    TooMany,
    /// The field is not part of the schema (a typo or an unsupported field).
    UnknownField,
    /// The value has the wrong type for its field (`replicas: "three"`).
    Decode,
}

/// One error about one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The path of the field.
    pub field: String,
    /// What is wrong.
    pub error_type: ErrorType,
    /// The offending value, for the kinds of error that show it.
    pub value: Option<Value>,
    /// Why, in words; may be empty.
    pub detail: String,
}

impl FieldError {
    fn new(
        path: &FieldPath,
        error_type: ErrorType,
        value: Option<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            field: path.0.clone(),
            error_type,
            value,
            detail: detail.into(),
        }
    }

    /// `path: Required value[: detail]`.
    pub fn required(path: &FieldPath, detail: impl Into<String>) -> Self {
        Self::new(path, ErrorType::Required, None, detail)
    }

    /// `path: Invalid value: VALUE: detail`.
    pub fn invalid(path: &FieldPath, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self::new(path, ErrorType::Invalid, Some(value.into()), detail)
    }

    /// `path: Unsupported value: VALUE: supported values: "a", "b"`.
    pub fn not_supported(path: &FieldPath, value: impl Into<Value>, supported: &[&str]) -> Self {
        Self::new(
            path,
            ErrorType::NotSupported,
            Some(value.into()),
            supported_values(supported),
        )
    }

    /// `path: Duplicate value: VALUE`.
    pub fn duplicate(path: &FieldPath, value: impl Into<Value>) -> Self {
        Self::new(path, ErrorType::Duplicate, Some(value.into()), "")
    }

    /// `path: Not found: VALUE`.
    pub fn not_found(path: &FieldPath, value: impl Into<Value>) -> Self {
        Self::new(path, ErrorType::NotFound, Some(value.into()), "")
    }

    /// `path: Forbidden: detail`.
    pub fn forbidden(path: &FieldPath, detail: impl Into<String>) -> Self {
        Self::new(path, ErrorType::Forbidden, None, detail)
    }

    /// `path: Too long: may not be more than MAX bytes`.
    pub fn too_long(path: &FieldPath, max: usize) -> Self {
        Self::new(
            path,
            ErrorType::TooLong,
            None,
            format!("may not be more than {max} bytes"),
        )
    }

    /// `path: Too many: COUNT: must have at most MAX items`.
    pub fn too_many(path: &FieldPath, count: usize, max: usize) -> Self {
        Self::new(
            path,
            ErrorType::TooMany,
            Some(count.into()),
            format!("must have at most {max} items"),
        )
    }

    /// `path: unknown field[ (did you mean "x"?)]`.
    pub fn unknown_field(path: &str, suggestion: Option<&str>) -> Self {
        Self {
            field: path.to_owned(),
            error_type: ErrorType::UnknownField,
            value: None,
            detail: suggestion
                .map(|s| format!("did you mean {s:?}?"))
                .unwrap_or_default(),
        }
    }

    /// `path: message` for a value of the wrong type.
    pub fn decode(path: &str, message: impl Into<String>) -> Self {
        Self {
            field: path.to_owned(),
            error_type: ErrorType::Decode,
            value: None,
            detail: message.into(),
        }
    }
}

/// `supported values: "a", "b"`, sorted as Kubernetes sorts them.
fn supported_values(supported: &[&str]) -> String {
    let mut quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    quoted.sort();
    format!("supported values: {}", quoted.join(", "))
}

/// A value shown in an error: strings quoted, everything else as JSON.
struct ShowValue<'a>(&'a Value);

impl fmt::Display for ShowValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::String(s) => write!(f, "{s:?}"),
            v => write!(f, "{v}"),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        let label = match self.error_type {
            ErrorType::NotFound => "Not found",
            ErrorType::Required => "Required value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::UnknownField => "unknown field",
            ErrorType::Decode => return f.write_str(&self.detail),
        };
        f.write_str(label)?;
        if let Some(v) = &self.value {
            write!(f, ": {}", ShowValue(v))?;
        }
        if !self.detail.is_empty() {
            if self.error_type == ErrorType::UnknownField {
                write!(f, " ({})", self.detail)?;
            } else {
                write!(f, ": {}", self.detail)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for FieldError {}

/// The errors found in one object.
///
/// One error prints on one line; several print as `N errors:` and a list,
/// one per line, each led by `* ` (as kubectl lists them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// No errors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one error.
    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The errors.
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    /// `Ok(())` when there are none.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// Adds one [`FieldError::invalid`] per message (the way Kubernetes
    /// reports a name that breaks several rules).
    pub(crate) fn invalid_each(&mut self, path: &FieldPath, value: &str, messages: Vec<String>) {
        for m in messages {
            self.push(FieldError::invalid(path, value, m));
        }
    }
}

impl From<FieldError> for FieldErrors {
    fn from(e: FieldError) -> Self {
        Self(vec![e])
    }
}

impl Extend<FieldError> for FieldErrors {
    fn extend<T: IntoIterator<Item = FieldError>>(&mut self, iter: T) {
        self.0.extend(iter);
    }
}

impl IntoIterator for FieldErrors {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => f.write_str("no errors"),
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} errors:", many.len())?;
                for e in many {
                    write!(f, "\n* {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for FieldErrors {}

/// A string that is none of the values a field accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unsupported value: {value:?}: {}", supported_values(supported))]
pub struct UnsupportedValue {
    /// The value given.
    pub value: String,
    /// The values accepted.
    pub supported: Vec<&'static str>,
}

/// `must be greater than or equal to 0` unless `value` is.
pub(crate) fn non_negative(value: i64, path: &FieldPath, errs: &mut FieldErrors) {
    if value < 0 {
        errs.push(FieldError::invalid(
            path,
            value,
            "must be greater than or equal to 0",
        ));
    }
}

/// The port-number check: 1–65535.
pub(crate) fn port_number(port: i32, path: &FieldPath, errs: &mut FieldErrors) {
    if !(1..=65535).contains(&port) {
        errs.push(FieldError::invalid(path, port, names::PORT_RANGE_MSG));
    }
}
