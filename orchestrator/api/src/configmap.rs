//! ConfigMaps: configuration as key/value pairs, consumed by pods as
//! environment variables or files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::meta::{ApiVersion, KindTag, ObjectMeta};
use crate::resource::{ResourceFields, resource_boilerplate};
use crate::validate::FieldErrors;

/// The most a ConfigMap or Secret may hold, in bytes (1 MiB).
pub const MAX_DATA_BYTES: usize = 1 << 20;

/// A ConfigMap (`apiVersion: v1`, `kind: ConfigMap`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ConfigMap {
    /// `v1`.
    pub api_version: ApiVersion<ConfigMap>,
    /// `ConfigMap`.
    pub kind: KindTag<ConfigMap>,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// UTF-8 values by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Binary values by key, written in base64.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub binary_data: BTreeMap<String, Bytes>,
    /// When true, the data cannot change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

impl ResourceFields for ConfigMap {
    fn validate_fields(&self, errs: &mut FieldErrors) {
        crate::validate::config::validate_config_map(self, errs);
    }

    fn validate_update_fields(&self, old: &Self, errs: &mut FieldErrors) {
        crate::validate::update::config_map(self, old, errs);
    }
}

resource_boilerplate!(ConfigMap);

impl ConfigMap {
    /// The value of `key`, from `data` or (as bytes) `binaryData`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.data
            .get(key)
            .map(String::as_bytes)
            .or_else(|| self.binary_data.get(key).map(|b| b.0.as_slice()))
    }
}
