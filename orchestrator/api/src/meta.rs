//! Object metadata: `apiVersion` and `kind` (fixed by the Rust type),
//! `metadata` (`ObjectMeta`), references between objects and conditions.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::macros::{is_default, string_enum};
use crate::resource::Resource;
use crate::time::Time;

/// The `apiVersion` field of a resource type `R`: always `R`'s API version
/// (`v1`, `apps/v1`, ...).
///
/// It is written first when an object is serialized. On input it may be
/// absent; when present it must be `R`'s.
pub struct ApiVersion<R>(PhantomData<fn() -> R>);

/// The `kind` field of a resource type `R`: always `R`'s kind
/// (`Pod`, `Deployment`, ...); absent or equal on input.
pub struct KindTag<R>(PhantomData<fn() -> R>);

macro_rules! tag_impls {
    ($tag:ident, $value:expr) => {
        impl<R> Default for $tag<R> {
            fn default() -> Self {
                Self(PhantomData)
            }
        }

        impl<R> Clone for $tag<R> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<R> Copy for $tag<R> {}

        impl<R> PartialEq for $tag<R> {
            fn eq(&self, _: &Self) -> bool {
                true
            }
        }

        impl<R> Eq for $tag<R> {}

        impl<R: Resource> $tag<R> {
            /// The value: the same for every object of type `R`.
            pub fn as_str(&self) -> &'static str {
                $value
            }
        }

        impl<R: Resource> fmt::Debug for $tag<R> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.as_str())
            }
        }

        impl<R: Resource> Serialize for $tag<R> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de, R: Resource> Deserialize<'de> for $tag<R> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                let tag = Self::default();
                if text == tag.as_str() {
                    Ok(tag)
                } else {
                    Err(serde::de::Error::custom(format_args!(
                        "Invalid value: {text:?}: must be {:?} for a {}",
                        tag.as_str(),
                        R::KIND
                    )))
                }
            }
        }
    };
}

tag_impls!(ApiVersion, R::KIND.api_version());
tag_impls!(KindTag, R::KIND.name());

/// Metadata every object has (`metadata:`).
///
/// Users write `name`, `namespace`, `labels` and `annotations` (and
/// `generateName`); the server sets `uid`, `resourceVersion`, `generation`,
/// `creationTimestamp`, `deletionTimestamp` and
/// `deletionGracePeriodSeconds`; controllers set
/// `ownerReferences`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ObjectMeta {
    /// The name, unique per kind and namespace.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A prefix the server completes into a unique name when `name` is empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub generate_name: String,
    /// The namespace (namespaced kinds; `default` when not given).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The server-assigned unique id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The store revision of the last change (opaque to clients).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Incremented by the server on every change of the desired state.
    #[serde(skip_serializing_if = "is_default")]
    pub generation: i64,
    /// When the object was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Time>,
    /// When deletion was requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<Time>,
    /// The grace period of the requested deletion, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// Labels, matched by selectors.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations: free-form metadata.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The objects this one belongs to (a Pod to its Deployment's ReplicaSet
    /// or Deployment, an EndpointSlice to its Service).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
    /// Finalizers: kept and written back; no Berth controller acts on them yet.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

impl ObjectMeta {
    /// Metadata with a name and a namespace.
    pub fn named(namespace: &str, name: &str) -> Self {
        Self {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            ..Self::default()
        }
    }

    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// The value of annotation `key`.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }

    /// The owner reference marked `controller: true`, if any.
    pub fn controller(&self) -> Option<&OwnerReference> {
        self.owner_references
            .iter()
            .find(|o| o.controller == Some(true))
    }

    /// Whether deletion has been requested.
    pub fn is_deleting(&self) -> bool {
        self.deletion_timestamp.is_some()
    }
}

/// A reference from an object to its owner (`metadata.ownerReferences[]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct OwnerReference {
    /// The owner's API version.
    pub api_version: String,
    /// The owner's kind.
    pub kind: String,
    /// The owner's name (in the same namespace).
    pub name: String,
    /// The owner's uid.
    pub uid: String,
    /// Whether the owner is the managing controller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    /// Whether the owner's deletion waits for this object's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

impl OwnerReference {
    /// A controller reference to `owner`.
    pub fn controller_of<R: Resource>(owner: &R) -> Self {
        let meta = owner.metadata();
        Self {
            api_version: R::KIND.api_version().to_owned(),
            kind: R::KIND.name().to_owned(),
            name: meta.name.clone(),
            uid: meta.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

/// A reference to any object (`involvedObject` of an Event, `targetRef` of
/// an endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ObjectReference {
    /// The kind.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The namespace.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The uid.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The API version.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The resource version seen.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// A field inside the object (`spec.containers{web}`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub field_path: String,
}

impl ObjectReference {
    /// A reference to `object`.
    pub fn to<R: Resource>(object: &R) -> Self {
        let meta = object.metadata();
        Self {
            kind: R::KIND.name().to_owned(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone(),
            uid: meta.uid.clone(),
            api_version: R::KIND.api_version().to_owned(),
            resource_version: meta.resource_version.clone(),
            field_path: String::new(),
        }
    }
}

string_enum! {
    /// The status of a condition.
    pub enum ConditionStatus {
        /// The condition holds.
        True = "True",
        /// The condition does not hold.
        False = "False",
        /// Not known.
        #[default]
        Unknown = "Unknown",
    }
}

/// A condition in the shape of `metav1.Condition` (Service status).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Condition {
    /// The condition type, in CamelCase.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// The `metadata.generation` the condition was computed from.
    #[serde(skip_serializing_if = "is_default")]
    pub observed_generation: i64,
    /// When `status` last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A CamelCase reason.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable message.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}
