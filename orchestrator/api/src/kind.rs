//! The kinds of object Berth serves itself: one table of their facts (API
//! version, resource names, short names, scope), from which the [`Kind`]
//! enum and each kind's [`ResourceInfo`] are made. Kinds added at run time
//! live in a [`Registry`](crate::registry::Registry).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::resource_info::{ResourceInfo, Scope};

/// Defines [`Kind`], [`Kind::ALL`] and the static [`ResourceInfo`] of each
/// kind from one line a kind: `Kind: "apiVersion", "plural", "singular",
/// [short names], Scope;`.
macro_rules! built_in_kinds {
    ($(
        $(#[$doc:meta])*
        $kind:ident: $api:literal, $plural:literal, $singular:literal, [$($short:literal),*], $scope:ident;
    )+) => {
        /// A kind of object Berth serves itself.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $(
                #[doc = concat!("`", $api, "` ", stringify!($kind), ".")]
                $(#[$doc])*
                $kind,
            )+
        }

        impl Kind {
            /// Every kind, in the order `get all`-style listings use.
            pub const ALL: [Kind; [$(Kind::$kind),+].len()] = [$(Kind::$kind),+];
        }

        /// The facts of each kind, in the order of [`Kind::ALL`].
        static BUILT_IN: [ResourceInfo; Kind::ALL.len()] = [$(
            ResourceInfo {
                api_version: Cow::Borrowed($api),
                kind: Cow::Borrowed(stringify!($kind)),
                plural: Cow::Borrowed($plural),
                singular: Cow::Borrowed($singular),
                short_names: Cow::Borrowed(&[$(Cow::Borrowed($short)),*]),
                scope: Scope::$scope,
            },
        )+];
    };
}

built_in_kinds! {
    Namespace: "v1", "namespaces", "namespace", ["ns"], Cluster;
    Node: "v1", "nodes", "node", ["no"], Cluster;
    Pod: "v1", "pods", "pod", ["po"], Namespaced;
    Deployment: "apps/v1", "deployments", "deployment", ["deploy"], Namespaced;
    ReplicaSet: "apps/v1", "replicasets", "replicaset", ["rs"], Namespaced;
    Service: "v1", "services", "service", ["svc"], Namespaced;
    /// `endpoints` and `ep` name EndpointSlices: Berth has no Endpoints
    /// kind, and `berth get endpoints` lists the slices.
    EndpointSlice: "discovery.k8s.io/v1", "endpointslices", "endpointslice", ["endpoints", "ep"], Namespaced;
    ConfigMap: "v1", "configmaps", "configmap", ["cm"], Namespaced;
    Secret: "v1", "secrets", "secret", [], Namespaced;
    Event: "v1", "events", "event", ["ev"], Namespaced;
    Lease: "coordination.k8s.io/v1", "leases", "lease", [], Namespaced;
}

/// A resource name that names no kind Berth serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the server doesn't have a resource type {name:?}")]
pub struct UnknownResource {
    /// The name given.
    pub name: String,
}

impl Kind {
    /// The facts of this kind.
    pub fn info(self) -> &'static ResourceInfo {
        &BUILT_IN[self as usize]
    }

    /// The kind as written in `kind:` (`Deployment`).
    pub fn name(self) -> &'static str {
        &self.info().kind
    }

    /// The API group (`""` for the core group).
    pub fn group(self) -> &'static str {
        self.info().group()
    }

    /// The `apiVersion` (`v1`, `apps/v1`, ...).
    pub fn api_version(self) -> &'static str {
        &self.info().api_version
    }

    /// The plural resource name (`deployments`), used in URLs and store keys.
    pub fn plural(self) -> &'static str {
        &self.info().plural
    }

    /// The singular resource name (`deployment`).
    pub fn singular(self) -> &'static str {
        &self.info().singular
    }

    /// Whether objects of this kind live in a namespace.
    pub fn is_namespaced(self) -> bool {
        self.info().is_namespaced()
    }

    /// The kind written `kind` in `apiVersion`, if Berth serves it.
    pub fn from_api(api_version: &str, kind: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == kind && k.api_version() == api_version)
    }

    /// The kind whose `kind:` is `kind`, in any API version.
    pub fn from_kind_name(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == kind)
    }

    /// The kind a command-line resource name means (see
    /// [`ResourceInfo::is_named`]: `pods`, `po`, `Pod`, `deployments.apps`,
    /// `svc`, `ep`).
    pub fn from_resource_name(name: &str) -> Result<Kind, UnknownResource> {
        Kind::ALL
            .into_iter()
            .find(|k| k.info().is_named(name))
            .ok_or_else(|| UnknownResource {
                name: name.to_owned(),
            })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = UnknownResource;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::from_resource_name(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names() {
        for (name, kind) in [
            ("pods", Kind::Pod),
            ("po", Kind::Pod),
            ("Pod", Kind::Pod),
            ("svc", Kind::Service),
            ("services", Kind::Service),
            ("deploy", Kind::Deployment),
            ("deployments.apps", Kind::Deployment),
            ("endpoints", Kind::EndpointSlice),
            ("ep", Kind::EndpointSlice),
            ("endpointslices.discovery.k8s.io", Kind::EndpointSlice),
            ("no", Kind::Node),
            ("ns", Kind::Namespace),
            ("cm", Kind::ConfigMap),
            ("secrets", Kind::Secret),
            ("ev", Kind::Event),
            ("events", Kind::Event),
            ("rs", Kind::ReplicaSet),
            ("replicasets", Kind::ReplicaSet),
            ("replicaset", Kind::ReplicaSet),
            ("ReplicaSet", Kind::ReplicaSet),
            ("replicasets.apps", Kind::ReplicaSet),
            ("leases", Kind::Lease),
            ("lease", Kind::Lease),
            ("leases.coordination.k8s.io", Kind::Lease),
        ] {
            assert_eq!(Kind::from_resource_name(name), Ok(kind), "{name}");
        }
        assert!(Kind::from_resource_name("statefulsets").is_err());
        assert!(Kind::from_resource_name("deployments.extensions").is_err());
        assert!(Kind::from_resource_name("replicasets.extensions").is_err());
        assert!(Kind::from_resource_name("leases.apps").is_err());
    }

    #[test]
    fn api() {
        assert_eq!(
            Kind::from_api("apps/v1", "Deployment"),
            Some(Kind::Deployment)
        );
        assert_eq!(Kind::from_api("apps/v1beta1", "Deployment"), None);
        assert_eq!(Kind::from_api("v1", "Service"), Some(Kind::Service));
        assert_eq!(
            Kind::from_api("apps/v1", "ReplicaSet"),
            Some(Kind::ReplicaSet)
        );
        assert_eq!(Kind::from_api("extensions/v1beta1", "ReplicaSet"), None);
        assert_eq!(
            Kind::from_api("coordination.k8s.io/v1", "Lease"),
            Some(Kind::Lease)
        );
        assert_eq!(Kind::from_api("coordination.k8s.io/v1beta1", "Lease"), None);
        assert_eq!(Kind::Lease.group(), "coordination.k8s.io");
        assert_eq!(Kind::ReplicaSet.group(), "apps");
        assert!(!Kind::Node.is_namespaced());
        assert!(Kind::Event.is_namespaced());
        assert!(Kind::ReplicaSet.is_namespaced());
        assert!(Kind::Lease.is_namespaced());
    }

    #[test]
    fn the_table_follows_the_enum() {
        for k in Kind::ALL {
            assert_eq!(k.name(), format!("{k:?}"));
            assert_eq!(k.info().kind, k.name());
        }
        let names: Vec<&str> = Kind::EndpointSlice.info().resource_names().collect();
        assert_eq!(
            names,
            ["endpointslices", "endpointslice", "endpoints", "ep"]
        );
        assert_eq!(Kind::Deployment.info().version(), "v1");
        assert_eq!(Kind::Node.info().scope, Scope::Cluster);
    }
}
