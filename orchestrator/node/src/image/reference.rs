//! Image reference normalisation, as Kubernetes (and containerd's CRI
//! plugin, through docker's reference library) does it.

/// The registry of references that name none.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// The repository prefix of single-component names on [`DEFAULT_REGISTRY`].
pub const OFFICIAL_PREFIX: &str = "library/";

/// The tag of references that carry neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";

/// The fully qualified form of an image reference, as the CRI plugin stores
/// and reports it:
///
/// - `busybox` → `docker.io/library/busybox:latest`
/// - `busybox:1.36` → `docker.io/library/busybox:1.36`
/// - `myorg/app` → `docker.io/myorg/app:latest`
/// - `registry.local:5000/app` → `registry.local:5000/app:latest`
/// - `localhost/x` → `localhost/x:latest`
/// - `busybox@sha256:…` → `docker.io/library/busybox@sha256:…` (a digest
///   keeps no tag, and a tag next to a digest is dropped)
///
/// The first path component is a registry when it contains `.` or `:`, is
/// `localhost`, or has upper-case letters (docker's rule);
/// `index.docker.io` is spelled `docker.io`. Nothing is validated: a
/// malformed reference comes back in the same shape, for the runtime to
/// reject.
pub fn normalize(name: &str) -> String {
    let name = name.trim();
    let (name, digest) = match name.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (name, None),
    };
    let (registry, path) = match name.split_once('/') {
        Some((first, rest)) if is_registry(first) => (first, rest.to_string()),
        _ => (DEFAULT_REGISTRY, name.to_string()),
    };
    let registry = if registry == "index.docker.io" {
        DEFAULT_REGISTRY
    } else {
        registry
    };
    let mut path = path;
    if registry == DEFAULT_REGISTRY && !path.contains('/') {
        path.insert_str(0, OFFICIAL_PREFIX);
    }
    // A tag is a `:` after the last `/` of the path (a registry's port is
    // not in `path`).
    let last = path.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match path[last..].rfind(':') {
        Some(i) => (&path[..last + i], Some(&path[last + i + 1..])),
        None => (path.as_str(), None),
    };
    match (digest, tag) {
        (Some(d), _) => format!("{registry}/{repository}@{d}"),
        (None, Some(t)) => format!("{registry}/{repository}:{t}"),
        (None, None) => format!("{registry}/{repository}:{DEFAULT_TAG}"),
    }
}

/// Whether the first component of a reference names a registry.
fn is_registry(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost" || first.chars().any(char::is_uppercase)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn short_names_are_official_images_on_docker_hub() {
        assert_eq!(normalize("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(normalize("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(normalize(" busybox "), "docker.io/library/busybox:latest");
    }

    #[test]
    fn organisations_stay_on_docker_hub_without_library() {
        assert_eq!(normalize("myorg/app"), "docker.io/myorg/app:latest");
        assert_eq!(normalize("myorg/app:v2"), "docker.io/myorg/app:v2");
        assert_eq!(normalize("a/b/c"), "docker.io/a/b/c:latest");
    }

    #[test]
    fn docker_hub_spellings() {
        assert_eq!(
            normalize("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            normalize("index.docker.io/library/busybox:1"),
            "docker.io/library/busybox:1"
        );
        assert_eq!(
            normalize("docker.io/library/busybox:latest"),
            "docker.io/library/busybox:latest"
        );
    }

    #[test]
    fn registries_with_ports_dots_or_localhost() {
        assert_eq!(
            normalize("registry.local:5000/app"),
            "registry.local:5000/app:latest"
        );
        assert_eq!(
            normalize("registry.local:5000/team/app:1.0"),
            "registry.local:5000/team/app:1.0"
        );
        assert_eq!(normalize("localhost/x"), "localhost/x:latest");
        assert_eq!(normalize("localhost:5000/x:y"), "localhost:5000/x:y");
        assert_eq!(normalize("berth.local/pause:1"), "berth.local/pause:1");
        assert_eq!(normalize("Registry/app"), "Registry/app:latest");
    }

    #[test]
    fn digests_keep_no_tag() {
        assert_eq!(
            normalize(&format!("busybox@{DIGEST}")),
            format!("docker.io/library/busybox@{DIGEST}")
        );
        assert_eq!(
            normalize(&format!("busybox:1.36@{DIGEST}")),
            format!("docker.io/library/busybox@{DIGEST}")
        );
        assert_eq!(
            normalize(&format!("registry.local:5000/app@{DIGEST}")),
            format!("registry.local:5000/app@{DIGEST}")
        );
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for r in [
            "busybox",
            "myorg/app:v1",
            "registry.local:5000/app",
            "localhost/x",
        ] {
            let once = normalize(r);
            assert_eq!(normalize(&once), once, "{r}");
        }
    }
}
