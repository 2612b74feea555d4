//! Pod volumes: `emptyDir`, `configMap` and `secret`.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::macros::{is_default, string_enum};
use crate::quantity::Quantity;

/// The file mode of ConfigMap and Secret volume files when none is given
/// (0644, written `420` as Kubernetes writes it).
pub const DEFAULT_FILE_MODE: i32 = 0o644;

string_enum! {
    /// Where an `emptyDir` lives.
    pub enum StorageMedium {
        /// On the node's disk.
        #[default]
        Default = "",
        /// In memory (tmpfs).
        Memory = "Memory",
    }
}

/// A volume of a pod: a name and exactly one source.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Volume {
    /// The name, a DNS-1123 label unique in the pod.
    pub name: String,
    /// An empty directory for the pod's lifetime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirVolumeSource>,
    /// The keys of a ConfigMap as files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapVolumeSource>,
    /// The keys of a Secret as files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolumeSource>,
}

/// The source of a volume, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeSource<'a> {
    /// `emptyDir`.
    EmptyDir(&'a EmptyDirVolumeSource),
    /// `configMap`.
    ConfigMap(&'a ConfigMapVolumeSource),
    /// `secret`.
    Secret(&'a SecretVolumeSource),
}

impl Volume {
    /// The source, when exactly one is set.
    pub fn source(&self) -> Option<VolumeSource<'_>> {
        match (&self.empty_dir, &self.config_map, &self.secret) {
            (Some(e), None, None) => Some(VolumeSource::EmptyDir(e)),
            (None, Some(c), None) => Some(VolumeSource::ConfigMap(c)),
            (None, None, Some(s)) => Some(VolumeSource::Secret(s)),
            _ => None,
        }
    }

    /// Applies Kubernetes' defaults: `defaultMode` 0644.
    pub fn apply_defaults(&mut self) {
        if let Some(c) = &mut self.config_map {
            c.default_mode.get_or_insert(DEFAULT_FILE_MODE);
        }
        if let Some(s) = &mut self.secret {
            s.default_mode.get_or_insert(DEFAULT_FILE_MODE);
        }
    }
}

/// An empty directory.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct EmptyDirVolumeSource {
    /// Disk (default) or `Memory`.
    #[serde(skip_serializing_if = "is_default")]
    pub medium: StorageMedium,
    /// The most it may hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<Quantity>,
}

/// A ConfigMap's keys as files.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ConfigMapVolumeSource {
    /// The ConfigMap, in the pod's namespace.
    pub name: String,
    /// The keys to project and their paths (all keys when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// The mode of the files (0644 by default). YAML `0644` is read as octal.
    #[serde(
        deserialize_with = "file_mode",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_mode: Option<i32>,
    /// Whether the pod starts when the ConfigMap is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A Secret's keys as files.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct SecretVolumeSource {
    /// The Secret, in the pod's namespace.
    pub secret_name: String,
    /// The keys to project and their paths (all keys when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// The mode of the files (0644 by default). YAML `0644` is read as octal.
    #[serde(
        deserialize_with = "file_mode",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_mode: Option<i32>,
    /// Whether the pod starts when the Secret is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// One key projected to a file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct KeyToPath {
    /// The key.
    pub key: String,
    /// The relative file path.
    pub path: String,
    /// The file's mode (the volume's `defaultMode` when absent).
    #[serde(
        deserialize_with = "file_mode",
        skip_serializing_if = "Option::is_none"
    )]
    pub mode: Option<i32>,
}

/// Reads a file mode: an integer, or a string of octal digits with a leading
/// `0` or `0o` (YAML 1.1's `0644`, which YAML 1.2 parsers read as a string).
fn file_mode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i32>, D::Error> {
    struct ModeVisitor;

    impl Visitor<'_> for ModeVisitor {
        type Value = Option<i32>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a file mode such as 420 or 0644")
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            i32::try_from(v).map(Some).map_err(|_| {
                E::custom(format_args!(
                    "Invalid value: {v}: out of range of a 32-bit integer"
                ))
            })
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i32::try_from(v).map(Some).map_err(|_| {
                E::custom(format_args!(
                    "Invalid value: {v}: out of range of a 32-bit integer"
                ))
            })
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let digits = v.strip_prefix("0o").or_else(|| v.strip_prefix('0'));
            digits
                .filter(|d| !d.is_empty())
                .and_then(|d| i32::from_str_radix(d, 8).ok())
                .map(Some)
                .ok_or_else(|| {
                    E::custom(format_args!(
                        "Invalid value: {v:?}: a file mode must be an integer or an octal number such as \"0644\""
                    ))
                })
        }
    }

    deserializer.deserialize_any(ModeVisitor)
}
