//! Who is calling, and what they may do.
//!
//! - [`tokens`]: the admin token (inside `admin.conf`) and the bootstrap
//!   token (`node-token`, what agents join with, like K3S_TOKEN, with a
//!   lifetime), both generated on first start and kept in the data dir
//!   (0600).
//! - [`credentials`]: node credentials, bearer tokens naming one node
//!   (`NODE~SECRET`), kept in the store (hashed) so that every API server
//!   sees an issue or a revocation at once; each has an expiry.
//! - [`node`]: Kubernetes' node authorizer and NodeRestriction admission
//!   for requests made with a node credential.
//!
//! The bootstrap token may do one thing: exchange itself for a node
//! credential. The admin may do everything.

pub mod credentials;
pub mod node;
#[cfg(test)]
mod tests;
pub mod tokens;

use std::fmt;
use std::path::PathBuf;

use berth_api::Time;

pub use credentials::NodeCredentials;
pub use node::{Attributes, Facts, Rule, authorize};
pub use tokens::Tokens;

/// Errors of authentication and authorisation.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `authorization: Bearer` header.
    #[error("no credentials: send `authorization: Bearer <token>`")]
    Missing,
    /// The header or token is not of any form a token takes.
    #[error("malformed bearer token: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A token of the right form that is not one of ours.
    #[error("invalid token")]
    Invalid,
    /// The bootstrap token's lifetime is over.
    #[error(
        "the bootstrap token expired at {at}: ask the admin for a new one \
         (`berth bootstrap-token rotate`)"
    )]
    BootstrapExpired {
        /// When.
        at: Time,
    },
    /// A node credential past its expiry.
    #[error("the credential of node {node:?} expired at {at}")]
    Expired {
        /// The node it names.
        node: String,
        /// When.
        at: Time,
    },
    /// A node credential that was revoked (or never issued).
    #[error("the credential of node {node:?} is revoked (or was never issued)")]
    Revoked {
        /// The node it names.
        node: String,
    },
    /// The caller may not do this; `rule` says why.
    #[error("{who} may not {verb} {what}: {rule}")]
    Forbidden {
        /// Who asked.
        who: Identity,
        /// What they asked.
        verb: Verb,
        /// On what (`pods "default/web-1"`, `secrets`).
        what: String,
        /// The rule that refuses it.
        rule: Rule,
    },
    /// A token file could not be read or written.
    #[error("{action} {path:?}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The credentials in the store could not be read or written.
    #[error("node credentials in the store")]
    Store {
        /// The store's error.
        #[source]
        source: berth_store::StoreError,
    },
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Everything.
    Admin,
    /// The bootstrap token: only the exchange for a node credential.
    Bootstrap,
    /// A node agent, by its credential.
    Node(String),
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Admin => f.write_str("the admin"),
            Identity::Bootstrap => f.write_str("the bootstrap token"),
            Identity::Node(n) => write!(f, "node {n:?}"),
        }
    }
}

/// What they want to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Read one object.
    Get,
    /// Read many.
    List,
    /// Follow changes.
    Watch,
    /// Make an object.
    Create,
    /// Change one (its spec and metadata).
    Update,
    /// Change its status only.
    UpdateStatus,
    /// Remove one.
    Delete,
    /// Assign a Pod to a Node (the scheduler's).
    Bind,
    /// Get a node credential (the exchange, or a rotation).
    IssueCredential,
    /// Revoke a node's credentials.
    RevokeCredential,
    /// Replace the bootstrap token.
    RotateBootstrap,
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::UpdateStatus => "update the status of",
            Verb::Delete => "delete",
            Verb::Bind => "bind",
            Verb::IssueCredential => "get a credential for",
            Verb::RevokeCredential => "revoke the credentials of",
            Verb::RotateBootstrap => "rotate",
        })
    }
}
