//! The API service: Kubernetes-shaped objects (berth-api) kept in a
//! revisioned store (berth-store), behind bearer-token authorisation.
//!
//! Objects are stored as JSON under `/registry/<plural>/<ns>/<name>`
//! (`/registry/<plural>/<name>` for cluster-scoped kinds) without their
//! resourceVersion, which is the store's mod revision, filled in on read.

mod access;
mod credentials;
mod errors;
mod facts;
mod pods;
mod service;
mod services;
mod status;
mod watch;

pub use access::Lifetimes;
pub use pods::{POD_SCHEDULED, set_condition};
pub use service::ApiService;

use berth_api::{Kind, ObjectKey};

/// Where every object lives in the store.
pub const REGISTRY: &str = "/registry/";

/// The store key of an object.
pub fn store_key(key: &ObjectKey) -> String {
    format!("{REGISTRY}{}", key.path())
}

/// The store prefix of every object of `kind` in `namespace` (all
/// namespaces when empty or cluster-scoped).
pub fn store_prefix(kind: Kind, namespace: &str) -> String {
    if kind.is_namespaced() && !namespace.is_empty() {
        format!("{REGISTRY}{}/{namespace}/", kind.plural())
    } else {
        format!("{REGISTRY}{}/", kind.plural())
    }
}
