//! The kinds a server knows: the built-in ones ([`Kind`]) and those
//! registered at run time (custom resources), looked up by command-line
//! resource name or by `apiVersion` and `kind`.

use crate::kind::{Kind, UnknownResource};
use crate::resource_info::ResourceInfo;
use crate::validate::names;

/// A kind in a [`Registry`]: built in, or registered at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceRef<'a> {
    /// One of Berth's own kinds.
    BuiltIn(Kind),
    /// A kind registered at run time, known by its facts.
    Custom(&'a ResourceInfo),
}

impl<'a> ResourceRef<'a> {
    /// The facts of the kind.
    pub fn info(self) -> &'a ResourceInfo {
        match self {
            ResourceRef::BuiltIn(kind) => kind.info(),
            ResourceRef::Custom(info) => info,
        }
    }

    /// The built-in kind, if it is one.
    pub fn built_in(self) -> Option<Kind> {
        match self {
            ResourceRef::BuiltIn(kind) => Some(kind),
            ResourceRef::Custom(_) => None,
        }
    }
}

/// A kind that cannot be registered. `field` names the fact as
/// `ResourceInfo` has it (`plural`, `shortNames[1]`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// A fact is not of the required form.
    #[error("{field}: Invalid value: {value:?}: {reason}")]
    Invalid {
        /// The fact.
        field: String,
        /// Its value.
        value: String,
        /// What the value must be.
        reason: String,
    },
    /// A name, or the kind in its group, already belongs to another kind.
    #[error("{field}: Duplicate value: {value:?}: already names {taken_by}")]
    Taken {
        /// The fact.
        field: String,
        /// Its value.
        value: String,
        /// The kind it names (`pods`, `widgets.example.com`).
        taken_by: String,
    },
}

/// The kinds a server knows. Built-in kinds come first: a bare name two
/// kinds share in different groups means the built-in (or the one
/// registered first); `NAME.GROUP` picks either.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    custom: Vec<ResourceInfo>,
}

impl Registry {
    /// The built-in kinds only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every kind: the built-in ones, then the registered ones in the order
    /// of registration.
    pub fn iter(&self) -> impl Iterator<Item = ResourceRef<'_>> {
        let built_in = Kind::ALL.into_iter().map(ResourceRef::BuiltIn);
        built_in.chain(self.custom.iter().map(ResourceRef::Custom))
    }

    /// Adds a kind. Refused when a fact is malformed (names must be
    /// lower-case DNS labels, the group a DNS subdomain: custom kinds are
    /// not in the core group), when its kind is already in its group, when
    /// its plural or singular already names a kind of its group, or when a
    /// short name (which has no group) already names any kind.
    pub fn register(&mut self, info: ResourceInfo) -> Result<(), RegisterError> {
        check_form(&info)?;
        let group = info.group();
        for known in self.iter().map(ResourceRef::info) {
            let taken = |field: &str, value: &str| RegisterError::Taken {
                field: field.to_owned(),
                value: value.to_owned(),
                taken_by: known.to_string(),
            };
            let names = |name: &str| known.resource_names().any(|n| n == name);
            let same_group = known.group() == group;
            if same_group && known.kind == info.kind {
                return Err(taken("kind", &info.kind));
            }
            if same_group && names(&info.plural) {
                return Err(taken("plural", &info.plural));
            }
            if same_group && names(&info.singular) {
                return Err(taken("singular", &info.singular));
            }
            if let Some((i, short)) = info.short_names.iter().enumerate().find(|(_, s)| names(s)) {
                return Err(taken(&format!("shortNames[{i}]"), short));
            }
        }
        self.custom.push(info);
        Ok(())
    }

    /// The kind a command-line resource name means (see
    /// [`ResourceInfo::is_named`]).
    pub fn by_resource_name(&self, name: &str) -> Result<ResourceRef<'_>, UnknownResource> {
        self.iter()
            .find(|r| r.info().is_named(name))
            .ok_or_else(|| UnknownResource {
                name: name.to_owned(),
            })
    }

    /// The kind written `kind` in `apiVersion`.
    pub fn by_api(&self, api_version: &str, kind: &str) -> Option<ResourceRef<'_>> {
        self.iter().find(|r| {
            let info = r.info();
            info.kind == kind && info.api_version == api_version
        })
    }
}

/// Checks the form of each fact of a kind to register.
fn check_form(info: &ResourceInfo) -> Result<(), RegisterError> {
    let invalid = |field: &str, value: &str, reason: &str| {
        Err(RegisterError::Invalid {
            field: field.to_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        })
    };
    let group = info.group();
    if group.is_empty() {
        return invalid("group", group, "custom kinds need a group (example.com)");
    }
    let mut checks = vec![
        ("group".to_owned(), group, names::dns1123_subdomain(group)),
        (
            "version".to_owned(),
            info.version(),
            names::dns1123_label(info.version()),
        ),
        (
            "plural".to_owned(),
            info.plural.as_ref(),
            names::dns1123_label(&info.plural),
        ),
        (
            "singular".to_owned(),
            info.singular.as_ref(),
            names::dns1123_label(&info.singular),
        ),
    ];
    for (i, short) in info.short_names.iter().enumerate() {
        checks.push((
            format!("shortNames[{i}]"),
            short.as_ref(),
            names::dns1123_label(short),
        ));
    }
    if let Some((field, value, errs)) = checks.into_iter().find(|(_, _, e)| !e.is_empty()) {
        return invalid(&field, value, &errs[0]);
    }
    let kind = info.kind.as_ref();
    if !kind.starts_with(|c: char| c.is_ascii_uppercase())
        || !kind.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return invalid(
            "kind",
            kind,
            "must start with an upper-case letter and consist of letters and digits",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource_info::Scope;

    fn widget() -> ResourceInfo {
        ResourceInfo::new("example.com", "v1", "Widget", "widgets", Scope::Namespaced)
            .with_short_names(["wd"])
    }

    #[test]
    fn built_in_lookups() {
        let r = Registry::new();
        assert_eq!(
            r.by_resource_name("deployments.apps"),
            Ok(ResourceRef::BuiltIn(Kind::Deployment))
        );
        assert_eq!(
            r.by_resource_name("EP").unwrap().built_in(),
            Some(Kind::EndpointSlice)
        );
        assert_eq!(
            r.by_api("coordination.k8s.io/v1", "Lease"),
            Some(ResourceRef::BuiltIn(Kind::Lease))
        );
        assert_eq!(r.by_api("apps/v1beta1", "Deployment"), None);
        assert_eq!(
            r.by_resource_name("widgets").unwrap_err().to_string(),
            "the server doesn't have a resource type \"widgets\""
        );
        assert_eq!(r.iter().count(), Kind::ALL.len());
    }

    #[test]
    fn registered_kinds_are_found() {
        let mut r = Registry::new();
        r.register(widget()).unwrap();
        for name in [
            "widgets",
            "widget",
            "wd",
            "Widget",
            "widgets.example.com",
            "WD.example.com",
        ] {
            let found = r.by_resource_name(name).unwrap();
            assert_eq!(found.built_in(), None, "{name}");
            assert_eq!(found.info().kind, "Widget", "{name}");
        }
        assert!(r.by_resource_name("widgets.apps").is_err());
        assert_eq!(
            r.by_api("example.com/v1", "Widget").unwrap().info(),
            &widget()
        );
        assert_eq!(r.by_api("example.com/v2", "Widget"), None);
        // The same plural in another group: `pods` stays the built-in one.
        r.register(ResourceInfo::new(
            "example.com",
            "v1",
            "Pod",
            "pods",
            Scope::Namespaced,
        ))
        .unwrap();
        assert_eq!(
            r.by_resource_name("pods").unwrap().built_in(),
            Some(Kind::Pod)
        );
        let custom = r.by_resource_name("pods.example.com").unwrap();
        assert_eq!(custom.info().api_version, "example.com/v1");
        assert_eq!(r.iter().count(), Kind::ALL.len() + 2);
    }

    #[test]
    fn clashes_and_bad_forms_are_refused() {
        let mut r = Registry::new();
        r.register(widget()).unwrap();
        let err = |info: ResourceInfo| r.clone().register(info).unwrap_err().to_string();
        let again = ResourceInfo::new("example.com", "v2", "Widget", "gizmos", Scope::Namespaced);
        assert_eq!(
            err(again),
            r#"kind: Duplicate value: "Widget": already names widgets.example.com"#
        );
        let plural = ResourceInfo::new("example.com", "v1", "Gizmo", "widgets", Scope::Namespaced);
        assert_eq!(
            err(plural),
            r#"plural: Duplicate value: "widgets": already names widgets.example.com"#
        );
        let short = ResourceInfo::new("other.io", "v1", "Gizmo", "gizmos", Scope::Cluster)
            .with_short_names(["gz", "po"]);
        assert_eq!(
            err(short),
            r#"shortNames[1]: Duplicate value: "po": already names pods"#
        );
        let core = ResourceInfo::new("", "v1", "Gizmo", "gizmos", Scope::Cluster);
        assert_eq!(
            err(core),
            r#"group: Invalid value: "": custom kinds need a group (example.com)"#
        );
        let upper = ResourceInfo::new("other.io", "v1", "Gizmo", "Gizmos", Scope::Cluster);
        assert!(err(upper).starts_with(r#"plural: Invalid value: "Gizmos": "#));
        let kind = ResourceInfo::new("other.io", "v1", "gizmo", "gizmos", Scope::Cluster);
        assert!(err(kind).starts_with(r#"kind: Invalid value: "gizmo": must start"#));
    }
}
