//! Secrets: like ConfigMaps, for sensitive values; `data` is base64,
//! `stringData` is plain text merged into `data` on write.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::meta::{ApiVersion, KindTag, ObjectMeta};
use crate::resource::{ResourceFields, resource_boilerplate};
use crate::validate::FieldErrors;

/// The default Secret type: arbitrary keys.
pub const SECRET_TYPE_OPAQUE: &str = "Opaque";
/// A TLS key pair (`tls.crt`, `tls.key`).
pub const SECRET_TYPE_TLS: &str = "kubernetes.io/tls";
/// Basic authentication (`username`, `password`).
pub const SECRET_TYPE_BASIC_AUTH: &str = "kubernetes.io/basic-auth";
/// An SSH key (`ssh-privatekey`).
pub const SECRET_TYPE_SSH_AUTH: &str = "kubernetes.io/ssh-auth";
/// Registry credentials (`.dockerconfigjson`).
pub const SECRET_TYPE_DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";

/// A Secret (`apiVersion: v1`, `kind: Secret`).
///
/// `Debug` prints the sizes of values, never the values.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Secret {
    /// `v1`.
    pub api_version: ApiVersion<Secret>,
    /// `Secret`.
    pub kind: KindTag<Secret>,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The type (`Opaque` by default); `kubernetes.io/tls`,
    /// `kubernetes.io/basic-auth`, `kubernetes.io/ssh-auth` and
    /// `kubernetes.io/dockerconfigjson` require their keys.
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// Values by key, written in base64.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, Bytes>,
    /// Plain-text values, merged into `data` (winning over it) by
    /// [`Resource::apply_defaults`]; never stored.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, SecretString>,
    /// When true, the data cannot change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

/// A plain-text secret value (`stringData`), kept out of `Debug` output.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(pub String);

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretString({} bytes)", self.0.len())
    }
}

impl ResourceFields for Secret {
    fn default_fields(&mut self) {
        if self.type_.is_empty() {
            self.type_ = SECRET_TYPE_OPAQUE.to_owned();
        }
        for (key, value) in std::mem::take(&mut self.string_data) {
            self.data.insert(key, Bytes(value.0.into_bytes()));
        }
    }

    fn validate_fields(&self, errs: &mut FieldErrors) {
        crate::validate::config::validate_secret(self, errs);
    }

    fn validate_update_fields(&self, old: &Self, errs: &mut FieldErrors) {
        crate::validate::update::secret(self, old, errs);
    }
}

resource_boilerplate!(Secret);

impl Secret {
    /// The value of `key` (from `data`, or `stringData` before defaulting).
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.string_data
            .get(key)
            .map(|s| s.0.as_bytes())
            .or_else(|| self.data.get(key).map(|b| b.0.as_slice()))
    }
}
