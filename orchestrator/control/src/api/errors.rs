//! Store, decoding and validation errors as gRPC statuses, worded as the
//! Kubernetes API server words them.

use berth_api::ObjectKey;
use berth_store::StoreError;
use tonic::Status;

use crate::auth::AuthError;

/// `services "web"`, as Kubernetes names an object in messages.
fn named(key: &ObjectKey) -> String {
    format!("{} {:?}", key.kind.plural(), key.name)
}

pub(crate) fn store(key: &ObjectKey, e: StoreError) -> Status {
    match e {
        StoreError::NotFound { .. } => Status::not_found(format!("{} not found", named(key))),
        StoreError::AlreadyExists { .. } => {
            Status::already_exists(format!("{} already exists", named(key)))
        }
        StoreError::Conflict { .. } => Status::aborted(format!(
            "Operation cannot be fulfilled on {}: the object has been modified; please apply \
             your changes to the latest version and try again",
            named(key)
        )),
        e if e.is_compacted() => Status::out_of_range(e.to_string()),
        e => {
            tracing::error!(object = %key, error = %e, "store failed");
            Status::unavailable(format!("storage: {e}"))
        }
    }
}

pub(crate) fn invalid(key: Option<&ObjectKey>, message: impl std::fmt::Display) -> Status {
    match key {
        Some(key) => Status::invalid_argument(format!(
            "{} {:?} is invalid: {message}",
            key.kind.name(),
            key.name
        )),
        None => Status::invalid_argument(message.to_string()),
    }
}

pub(crate) fn auth(e: AuthError) -> Status {
    match e {
        AuthError::Missing
        | AuthError::Malformed { .. }
        | AuthError::Invalid
        | AuthError::BootstrapExpired { .. }
        | AuthError::Expired { .. }
        | AuthError::Revoked { .. } => Status::unauthenticated(e.to_string()),
        AuthError::Forbidden { .. } => Status::permission_denied(e.to_string()),
        AuthError::Io { .. } => Status::internal(e.to_string()),
        AuthError::Store { ref source } => {
            tracing::error!(error = %source, "node credentials: store failed");
            Status::unavailable(format!("storage: {source}"))
        }
    }
}
