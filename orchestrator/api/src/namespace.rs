//! Namespaces: the scopes of names.

use serde::{Deserialize, Serialize};

use crate::macros::{is_default, string_enum};
use crate::meta::{ApiVersion, KindTag, ObjectMeta};
use crate::resource::{ResourceFields, resource_boilerplate};

string_enum! {
    /// Where a namespace is in its lifecycle.
    pub enum NamespacePhase {
        /// In use.
        #[default]
        Active = "Active",
        /// Being deleted with its contents.
        Terminating = "Terminating",
    }
}

/// A Namespace (`apiVersion: v1`, `kind: Namespace`; cluster-scoped).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Namespace {
    /// `v1`.
    pub api_version: ApiVersion<Namespace>,
    /// `Namespace`.
    pub kind: KindTag<Namespace>,
    /// Metadata; the name is a DNS-1123 label.
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(skip_serializing_if = "is_default")]
    pub spec: NamespaceSpec,
    /// The observed state.
    #[serde(skip_serializing_if = "is_default")]
    pub status: NamespaceStatus,
}

impl ResourceFields for Namespace {}

resource_boilerplate!(Namespace, status);

impl Namespace {
    /// A namespace named `name`.
    pub fn named(name: &str) -> Self {
        Self {
            metadata: ObjectMeta {
                name: name.to_owned(),
                ..ObjectMeta::default()
            },
            ..Self::default()
        }
    }
}

/// The desired state of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct NamespaceSpec {
    /// Finalizers (kept; `kubernetes` is what Kubernetes writes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

/// The observed state of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NamespaceStatus {
    /// `Active` or `Terminating`.
    #[serde(skip_serializing_if = "is_default")]
    pub phase: NamespacePhase,
}
