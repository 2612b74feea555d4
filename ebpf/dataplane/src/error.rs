//! Errors of the data plane API.

use std::io;

use crate::model::FrontendKey;

/// What went wrong writing one map.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("map {map} is full ({op})")]
    Full { map: &'static str, op: &'static str },
    #[error("map {map}: {op} failed")]
    Os {
        map: &'static str,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("map {map}: {reason}")]
    Corrupt { map: &'static str, reason: String },
}

/// Errors of [`crate::Dataplane`] operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: invalid value {value:?}: {reason}")]
    Invalid {
        field: String,
        value: String,
        reason: String,
    },
    #[error("{field}: frontend {frontend} already belongs to service {owner:?}")]
    Conflict {
        field: String,
        frontend: FrontendKey,
        owner: String,
    },
    #[error(
        "{what} capacity exceeded: {needed} needed, {free} free of {capacity}; nothing was changed"
    )]
    Full {
        what: &'static str,
        needed: u64,
        free: u64,
        capacity: u64,
    },
    #[error("service {name:?} not found")]
    NotFound { name: String },
    #[error("service {service:?} could not be written")]
    Map {
        service: String,
        #[source]
        source: MapError,
    },
    #[error(
        "service {service:?} could not be written ({source}), and rolling back failed too: {rollback}"
    )]
    Rollback {
        service: String,
        #[source]
        source: MapError,
        rollback: MapError,
    },
}

impl Error {
    pub(crate) fn invalid(
        field: impl Into<String>,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Prefixes the field path of an `Invalid` or `Conflict` error, e.g.
    /// `ports[0].port` within `services[3]`.
    pub fn within(self, prefix: &str) -> Self {
        match self {
            Error::Invalid {
                field,
                value,
                reason,
            } => Error::Invalid {
                field: format!("{prefix}.{field}"),
                value,
                reason,
            },
            Error::Conflict {
                field,
                frontend,
                owner,
            } => Error::Conflict {
                field: format!("{prefix}.{field}"),
                frontend,
                owner,
            },
            other => other,
        }
    }
}
