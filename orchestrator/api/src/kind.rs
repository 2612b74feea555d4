//! The kinds of object Berth serves, with their API versions, resource
//! names, short names and scope.

use std::fmt;
use std::str::FromStr;

/// A kind of object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `v1` Namespace (cluster-scoped).
    Namespace,
    /// `v1` Node (cluster-scoped).
    Node,
    /// `v1` Pod.
    Pod,
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` ReplicaSet.
    ReplicaSet,
    /// `v1` Service.
    Service,
    /// `discovery.k8s.io/v1` EndpointSlice.
    EndpointSlice,
    /// `v1` ConfigMap.
    ConfigMap,
    /// `v1` Secret.
    Secret,
    /// `v1` Event.
    Event,
    /// `coordination.k8s.io/v1` Lease.
    Lease,
}

/// A resource name that names no kind Berth serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the server doesn't have a resource type {name:?}")]
pub struct UnknownResource {
    /// The name given.
    pub name: String,
}

impl Kind {
    /// Every kind, in the order `get all`-style listings use.
    pub const ALL: [Kind; 11] = [
        Kind::Namespace,
        Kind::Node,
        Kind::Pod,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::Service,
        Kind::EndpointSlice,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::Event,
        Kind::Lease,
    ];

    /// The kind as written in `kind:` (`Deployment`).
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Node => "Node",
            Kind::Pod => "Pod",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Service => "Service",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::Event => "Event",
            Kind::Lease => "Lease",
        }
    }

    /// The API group (`""` for the core group).
    pub const fn group(self) -> &'static str {
        match self {
            Kind::Deployment | Kind::ReplicaSet => "apps",
            Kind::EndpointSlice => "discovery.k8s.io",
            Kind::Lease => "coordination.k8s.io",
            _ => "",
        }
    }

    /// The `apiVersion` (`v1`, `apps/v1`, `discovery.k8s.io/v1`,
    /// `coordination.k8s.io/v1`).
    pub const fn api_version(self) -> &'static str {
        match self {
            Kind::Deployment | Kind::ReplicaSet => "apps/v1",
            Kind::EndpointSlice => "discovery.k8s.io/v1",
            Kind::Lease => "coordination.k8s.io/v1",
            _ => "v1",
        }
    }

    /// The plural resource name (`deployments`), used in URLs and store keys.
    pub const fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Node => "nodes",
            Kind::Pod => "pods",
            Kind::Deployment => "deployments",
            Kind::ReplicaSet => "replicasets",
            Kind::Service => "services",
            Kind::EndpointSlice => "endpointslices",
            Kind::ConfigMap => "configmaps",
            Kind::Secret => "secrets",
            Kind::Event => "events",
            Kind::Lease => "leases",
        }
    }

    /// The singular resource name (`deployment`).
    pub const fn singular(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::Node => "node",
            Kind::Pod => "pod",
            Kind::Deployment => "deployment",
            Kind::ReplicaSet => "replicaset",
            Kind::Service => "service",
            Kind::EndpointSlice => "endpointslice",
            Kind::ConfigMap => "configmap",
            Kind::Secret => "secret",
            Kind::Event => "event",
            Kind::Lease => "lease",
        }
    }

    /// Short names accepted on the command line (`deploy`, `svc`).
    ///
    /// `endpoints` and `ep` name EndpointSlices: Berth has no Endpoints kind,
    /// and `berth get endpoints` lists the slices.
    pub const fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Namespace => &["ns"],
            Kind::Node => &["no"],
            Kind::Pod => &["po"],
            Kind::Deployment => &["deploy"],
            Kind::ReplicaSet => &["rs"],
            Kind::Service => &["svc"],
            Kind::EndpointSlice => &["endpoints", "ep"],
            Kind::ConfigMap => &["cm"],
            Kind::Secret => &[],
            Kind::Event => &["ev"],
            Kind::Lease => &[],
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub const fn is_namespaced(self) -> bool {
        !matches!(self, Kind::Namespace | Kind::Node)
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

    /// The kind a command-line resource name means: the plural, the
    /// singular, a short name or the kind, in any case, optionally followed
    /// by `.GROUP` (`pods`, `po`, `Pod`, `deployments.apps`, `svc`, `ep`).
    pub fn from_resource_name(name: &str) -> Result<Kind, UnknownResource> {
        let lower = name.to_ascii_lowercase();
        Kind::ALL
            .into_iter()
            .find(|k| {
                let (base, group) = match lower.split_once('.') {
                    Some((b, g)) => (b, Some(g)),
                    None => (lower.as_str(), None),
                };
                let named =
                    base == k.plural() || base == k.singular() || k.short_names().contains(&base);
                named
                    && group
                        .is_none_or(|g| g == k.group() || (g.is_empty() && k.group().is_empty()))
            })
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
}
