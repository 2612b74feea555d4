//! The `Resource` trait: what every kind of object has in common.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::kind::Kind;
use crate::meta::ObjectMeta;
use crate::object::{Object, ObjectKey};
use crate::validate::FieldErrors;

/// The namespace objects of namespaced kinds get when none is given.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A kind of object: `apiVersion`/`kind`, metadata, defaulting and
/// validation.
///
/// What every kind has alike (its [`Kind`], the metadata accessors,
/// emptying the status, the conversions to and from [`Object`]) is written
/// by `resource_boilerplate!`; each kind writes only its own defaults and
/// checks, in [`ResourceFields`].
///
/// Serializing a resource with serde writes `apiVersion` and `kind` first
/// and leaves out empty fields; deserializing accepts `apiVersion` and `kind`
/// when they are the type's, rejects unknown fields, and applies the
/// constant defaults (`replicas: 1`, `protocol: TCP`, ...). Defaults that
/// depend on other fields come from [`Resource::apply_defaults`].
pub trait Resource:
    ResourceFields
    + Clone
    + fmt::Debug
    + PartialEq
    + Default
    + Serialize
    + DeserializeOwned
    + Into<Object>
    + Send
    + Sync
    + 'static
{
    /// The kind.
    const KIND: Kind;

    /// The metadata.
    fn metadata(&self) -> &ObjectMeta;

    /// The metadata, to change.
    fn metadata_mut(&mut self) -> &mut ObjectMeta;

    /// Empties the status (which the server, not the user, writes).
    fn clear_status(&mut self) {}

    /// Applies Kubernetes' defaults: the namespace (`default` for namespaced
    /// kinds when empty; cleared for cluster-scoped ones, as the API server
    /// does) and the defaults of each kind. Idempotent.
    fn apply_defaults(&mut self) {
        let meta = self.metadata_mut();
        if !Self::KIND.is_namespaced() {
            meta.namespace.clear();
        } else if meta.namespace.is_empty() {
            meta.namespace = DEFAULT_NAMESPACE.to_owned();
        }
        self.default_fields();
    }

    /// Validates the object (after [`Resource::apply_defaults`]), returning
    /// every error found.
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut errs = FieldErrors::new();
        crate::validate::meta::validate_object_meta(self.metadata(), Self::KIND, &mut errs);
        self.validate_fields(&mut errs);
        errs.into_result()
    }

    /// Validates `self` as a replacement of `old`: everything
    /// [`Resource::validate`] checks, and that what may not change did not
    /// (name, namespace and uid; a Deployment's or ReplicaSet's selector; a
    /// Service's cluster IP; an immutable ConfigMap's or Secret's data; a
    /// Pod's spec but images, added tolerations and a first `nodeName`; ...).
    fn validate_update(&self, old: &Self) -> Result<(), FieldErrors> {
        let mut errs = match self.validate() {
            Ok(()) => FieldErrors::new(),
            Err(e) => e,
        };
        crate::validate::update::validate_meta_update(self.metadata(), old.metadata(), &mut errs);
        self.validate_update_fields(old, &mut errs);
        errs.into_result()
    }

    /// The key of the object: kind, namespace and name.
    fn key(&self) -> ObjectKey {
        let meta = self.metadata();
        ObjectKey::new(Self::KIND, &meta.namespace, &meta.name)
    }
}

/// What one kind does with its own fields (beyond the metadata, which
/// [`Resource`] handles alike for every kind).
pub trait ResourceFields {
    /// Defaults of this kind's own fields (see [`Resource::apply_defaults`]).
    fn default_fields(&mut self) {}

    /// Checks of this kind's own fields (see [`Resource::validate`]).
    fn validate_fields(&self, _errs: &mut FieldErrors) {}

    /// Checks of what may not change in this kind's own fields (see
    /// [`Resource::validate_update`]).
    fn validate_update_fields(&self, _old: &Self, _errs: &mut FieldErrors) {}
}

/// Implements [`Resource`] for a kind (its [`Kind`], the metadata
/// accessors, and with `status` a [`Resource::clear_status`] that resets
/// the `status` field) and the conversions to and from [`Object`]. The kind
/// implements [`ResourceFields`] itself.
macro_rules! resource_boilerplate {
    ($ty:ident, status) => {
        resource_boilerplate!($ty, {
            fn clear_status(&mut self) {
                self.status = Default::default();
            }
        });
    };
    ($ty:ident) => {
        resource_boilerplate!($ty, {});
    };
    ($ty:ident, { $($extra:item)* }) => {
        impl $crate::resource::Resource for $ty {
            const KIND: $crate::kind::Kind = $crate::kind::Kind::$ty;

            fn metadata(&self) -> &$crate::meta::ObjectMeta {
                &self.metadata
            }

            fn metadata_mut(&mut self) -> &mut $crate::meta::ObjectMeta {
                &mut self.metadata
            }

            $($extra)*
        }

        impl From<$ty> for $crate::object::Object {
            fn from(v: $ty) -> Self {
                $crate::object::Object::$ty(v)
            }
        }

        impl TryFrom<$crate::object::Object> for $ty {
            type Error = $crate::object::WrongKind;

            fn try_from(o: $crate::object::Object) -> Result<Self, Self::Error> {
                match o {
                    $crate::object::Object::$ty(v) => Ok(v),
                    other => Err($crate::object::WrongKind {
                        expected: $crate::kind::Kind::$ty,
                        found: other.kind(),
                    }),
                }
            }
        }
    };
}

pub(crate) use resource_boilerplate;
