//! The facts of one kind of object: API version, kind, resource names and
//! scope. Built-in kinds have a static [`ResourceInfo`] each
//! ([`Kind::info`](crate::Kind::info)); kinds added at run time (custom
//! resources) bring their own to a [`Registry`](crate::registry::Registry).

use std::borrow::Cow;
use std::fmt;

/// A name in a [`ResourceInfo`]: static for built-in kinds, owned for kinds
/// registered at run time.
pub type Name = Cow<'static, str>;

/// Where objects of a kind live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// In a namespace (`default` when none is given).
    Namespaced,
    /// In the cluster, outside any namespace (Namespace, Node).
    Cluster,
}

/// The facts of one kind of object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceInfo {
    /// The `apiVersion`: `VERSION` in the core group (`v1`), `GROUP/VERSION`
    /// otherwise (`apps/v1`); [`ResourceInfo::group`] and
    /// [`ResourceInfo::version`] are its parts.
    pub api_version: Name,
    /// The kind as written in `kind:` (`Deployment`).
    pub kind: Name,
    /// The plural resource name (`deployments`), used in URLs and store keys.
    pub plural: Name,
    /// The singular resource name (`deployment`).
    pub singular: Name,
    /// Short names accepted on the command line (`deploy`).
    pub short_names: Cow<'static, [Name]>,
    /// Namespaced or cluster-wide.
    pub scope: Scope,
}

impl ResourceInfo {
    /// The facts of a kind added at run time: `kind` in `group`/`version`,
    /// named `plural` (singular: the kind in lower case; no short names, see
    /// [`ResourceInfo::with_short_names`]).
    pub fn new(group: &str, version: &str, kind: &str, plural: &str, scope: Scope) -> Self {
        let api_version = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        Self {
            api_version: api_version.into(),
            kind: kind.to_owned().into(),
            plural: plural.to_owned().into(),
            singular: kind.to_ascii_lowercase().into(),
            short_names: Cow::Owned(Vec::new()),
            scope,
        }
    }

    /// The same, with these short names.
    pub fn with_short_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.short_names = names.into_iter().map(|n| Name::Owned(n.into())).collect();
        self
    }

    /// The API group (`""` for the core group, `apps`).
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map_or("", |(g, _)| g)
    }

    /// The version within the group (`v1`).
    pub fn version(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or(&self.api_version, |(_, v)| v)
    }

    /// Whether objects of this kind live in a namespace.
    pub fn is_namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    /// The names a command line may use without the kind: plural, singular
    /// and short names.
    pub fn resource_names(&self) -> impl Iterator<Item = &str> {
        [self.plural.as_ref(), self.singular.as_ref()]
            .into_iter()
            .chain(self.short_names.iter().map(AsRef::as_ref))
    }

    /// Whether a command-line resource name means this kind: the plural, the
    /// singular, a short name or the kind, in any case, optionally followed
    /// by `.GROUP` (`pods`, `po`, `Pod`, `deployments.apps`, `pods.`).
    pub fn is_named(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        let (base, group) = match lower.split_once('.') {
            Some((b, g)) => (b, Some(g)),
            None => (lower.as_str(), None),
        };
        let named =
            self.resource_names().any(|n| n == base) || self.kind.to_ascii_lowercase() == base;
        named && group.is_none_or(|g| g == self.group())
    }
}

/// The full resource name: `deployments.apps`, `pods`.
impl fmt::Display for ResourceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.group() {
            "" => f.write_str(&self.plural),
            group => write!(f, "{}.{group}", self.plural),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_names() {
        let w = ResourceInfo::new(
            "example.com",
            "v1alpha1",
            "Widget",
            "widgets",
            Scope::Cluster,
        )
        .with_short_names(["wd"]);
        assert_eq!(w.api_version, "example.com/v1alpha1");
        assert_eq!((w.group(), w.version()), ("example.com", "v1alpha1"));
        assert_eq!(w.singular, "widget");
        assert!(!w.is_namespaced());
        assert_eq!(w.to_string(), "widgets.example.com");
        for name in ["widgets", "Widget", "WD", "widget.example.com"] {
            assert!(w.is_named(name), "{name}");
        }
        assert!(!w.is_named("widgets.apps"));
        assert!(!w.is_named("widgets."));
        let core = ResourceInfo::new("", "v1", "Thing", "things", Scope::Namespaced);
        assert_eq!((core.group(), core.version()), ("", "v1"));
        assert!(core.is_named("things."));
    }
}
