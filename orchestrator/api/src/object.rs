//! `Object`: an object of any kind Berth serves, and `ObjectKey`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::configmap::ConfigMap;
use crate::decode::{self, ObjectError};
use crate::deployment::Deployment;
use crate::endpointslice::EndpointSlice;
use crate::event::Event;
use crate::kind::Kind;
use crate::lease::Lease;
use crate::meta::ObjectMeta;
use crate::namespace::Namespace;
use crate::node::Node;
use crate::output::{self, EncodeError};
use crate::pod::Pod;
use crate::replicaset::ReplicaSet;
use crate::resource::Resource;
use crate::secret::Secret;
use crate::service::Service;
use crate::validate::FieldErrors;

/// An object of any kind Berth serves.
///
/// Serializes as the object itself (`apiVersion` and `kind` first);
/// deserializes by dispatching on `apiVersion` and `kind` (strictly: see
/// [`Object::from_value`]).
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Object {
    /// A Namespace.
    Namespace(Namespace),
    /// A Node.
    Node(Node),
    /// A Pod.
    Pod(Pod),
    /// A Deployment.
    Deployment(Deployment),
    /// A ReplicaSet.
    ReplicaSet(ReplicaSet),
    /// A Service.
    Service(Service),
    /// An EndpointSlice.
    EndpointSlice(EndpointSlice),
    /// A ConfigMap.
    ConfigMap(ConfigMap),
    /// A Secret.
    Secret(Secret),
    /// An Event.
    Event(Event),
    /// A Lease.
    Lease(Lease),
}

/// Runs `$body` with `$o` bound to the object inside each variant.
macro_rules! dispatch {
    ($obj:expr, $o:ident => $body:expr) => {
        match $obj {
            Object::Namespace($o) => $body,
            Object::Node($o) => $body,
            Object::Pod($o) => $body,
            Object::Deployment($o) => $body,
            Object::ReplicaSet($o) => $body,
            Object::Service($o) => $body,
            Object::EndpointSlice($o) => $body,
            Object::ConfigMap($o) => $body,
            Object::Secret($o) => $body,
            Object::Event($o) => $body,
            Object::Lease($o) => $body,
        }
    };
}

/// An [`Object`] converted to a type of another kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected a {expected}, found a {found}")]
pub struct WrongKind {
    /// The kind asked for.
    pub expected: Kind,
    /// The kind of the object.
    pub found: Kind,
}

impl Object {
    /// The kind.
    pub fn kind(&self) -> Kind {
        fn kind_of<R: Resource>(_: &R) -> Kind {
            R::KIND
        }
        dispatch!(self, o => kind_of(o))
    }

    /// The metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        dispatch!(self, o => o.metadata())
    }

    /// The metadata, to change.
    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        dispatch!(self, o => o.metadata_mut())
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.metadata().name
    }

    /// The namespace (`None` for cluster-scoped kinds or when not set).
    pub fn namespace(&self) -> Option<&str> {
        let ns = &self.metadata().namespace;
        (self.kind().is_namespaced() && !ns.is_empty()).then_some(ns.as_str())
    }

    /// The key: kind, namespace and name.
    pub fn key(&self) -> ObjectKey {
        dispatch!(self, o => o.key())
    }

    /// Applies Kubernetes' defaults ([`Resource::apply_defaults`]).
    pub fn apply_defaults(&mut self) {
        dispatch!(self, o => o.apply_defaults())
    }

    /// Validates the object ([`Resource::validate`]).
    pub fn validate(&self) -> Result<(), FieldErrors> {
        dispatch!(self, o => o.validate())
    }

    /// Validates the object as a replacement of `old`
    /// ([`Resource::validate_update`]); objects of different kinds are
    /// never replacements of each other.
    pub fn validate_update(&self, old: &Object) -> Result<(), FieldErrors> {
        macro_rules! same {
            ($($v:ident),*) => {
                match (self, old) {
                    $((Object::$v(new), Object::$v(old)) => new.validate_update(old),)*
                    _ => Err(crate::validate::FieldError::invalid(
                        &crate::validate::FieldPath::new("kind"),
                        self.kind().name(),
                        format!("field is immutable (was {})", old.kind()),
                    )
                    .into()),
                }
            };
        }
        same!(
            Namespace,
            Node,
            Pod,
            Deployment,
            ReplicaSet,
            Service,
            EndpointSlice,
            ConfigMap,
            Secret,
            Event,
            Lease
        )
    }

    /// Empties the status ([`Resource::clear_status`]).
    pub fn clear_status(&mut self) {
        dispatch!(self, o => o.clear_status())
    }

    /// Warnings for a user applying the object: things accepted but not
    /// served in full (a NodePort or LoadBalancer Service).
    pub fn warnings(&self) -> Vec<String> {
        match self {
            Object::Service(s) => s.unserved_warning().into_iter().collect(),
            _ => Vec::new(),
        }
    }

    /// Decodes an object, as stored or as sent by a client: dispatches on
    /// `apiVersion` and `kind`, rejects unknown fields with their paths,
    /// applies the constant defaults, and nothing else (no
    /// [`Object::apply_defaults`], no [`Object::validate`], no
    /// tolerated-and-dropped fields: see [`crate::manifest`] for manifests).
    pub fn from_value(value: Value) -> Result<Object, ObjectError> {
        decode::decode_strict(value)
    }

    /// [`Object::from_value`] from JSON bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Object, ObjectError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| ObjectError::Syntax {
            message: e.to_string(),
        })?;
        Self::from_value(value)
    }

    /// Compact JSON, for storage and the wire.
    pub fn to_json(&self) -> Result<Vec<u8>, EncodeError> {
        output::to_json(self)
    }

    /// JSON indented as `kubectl get -o json` indents it.
    pub fn to_json_pretty(&self) -> Result<String, EncodeError> {
        output::to_json_pretty(self)
    }

    /// YAML as `kubectl get -o yaml` shows it.
    pub fn to_yaml(&self) -> Result<String, EncodeError> {
        output::to_yaml(self)
    }
}

impl Serialize for Object {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        dispatch!(self, o => o.serialize(serializer))
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Object::from_value(value).map_err(|e| serde::de::Error::custom(crate::error_chain(&e)))
    }
}

/// Identifies an object: kind, namespace (empty for cluster-scoped kinds)
/// and name. Displays as `Deployment default/web` or `Node node-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The kind.
    pub kind: Kind,
    /// The namespace; empty for cluster-scoped kinds.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ObjectKey {
    /// A key; the namespace is dropped for cluster-scoped kinds.
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: if kind.is_namespaced() {
                namespace.to_owned()
            } else {
                String::new()
            },
            name: name.to_owned(),
        }
    }

    /// A path for stores and URLs: `deployments/default/web`, `nodes/node-1`.
    pub fn path(&self) -> String {
        if self.kind.is_namespaced() {
            format!("{}/{}/{}", self.kind.plural(), self.namespace, self.name)
        } else {
            format!("{}/{}", self.kind.plural(), self.name)
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind.is_namespaced() {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        } else {
            write!(f, "{} {}", self.kind, self.name)
        }
    }
}
