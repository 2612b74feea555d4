//! Bearer tokens and what each role may do.
//!
//! Two tokens are generated on first start and kept in the data dir
//! (0600): the admin token (inside `admin.conf`) and the node token
//! (`node-token`, what agents join with, like K3S_TOKEN). A node may read
//! everything and write only what a kubelet writes: its Node, its Lease,
//! Pods (status, deletion after termination) and Events; it may not bind.

use std::path::{Path, PathBuf};

use crate::pki::write_private;

/// Errors of authentication and authorisation.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `authorization: Bearer` header.
    #[error("no credentials: send `authorization: Bearer <token>`")]
    Missing,
    /// The token is not one of ours.
    #[error("invalid token")]
    Invalid,
    /// The role may not do this.
    #[error("{role:?} may not {verb:?} {kind}")]
    Forbidden {
        /// Who asked.
        role: Role,
        /// What they asked.
        verb: Verb,
        /// On which kind.
        kind: String,
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
}

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Admin,
    /// A node agent.
    Node,
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
    /// Change one.
    Update,
    /// Remove one.
    Delete,
    /// Assign a Pod to a Node (the scheduler's).
    Bind,
}

/// The cluster's tokens.
#[derive(Clone)]
pub struct Tokens {
    admin: String,
    node: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens { .. }")
    }
}

fn random_token() -> Result<String, std::io::Error> {
    use std::io::Read as _;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn load_or_make(path: &Path) -> Result<String, AuthError> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(AuthError::Io {
                action: "reading",
                path: path.to_owned(),
                source,
            });
        }
    }
    let token = random_token().map_err(|source| AuthError::Io {
        action: "reading /dev/urandom for",
        path: path.to_owned(),
        source,
    })?;
    write_private(path, &format!("{token}\n"), 0o600).map_err(|e| AuthError::Io {
        action: "writing",
        path: path.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(token)
}

/// Compares without an early exit, so timing does not leak the token.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Tokens {
    /// Reads the tokens from `dir`, generating those that are missing.
    pub fn load_or_create(dir: &Path) -> Result<Self, AuthError> {
        Ok(Self {
            admin: load_or_make(&dir.join("admin-token"))?,
            node: load_or_make(&dir.join("node-token"))?,
        })
    }

    /// The admin token (for admin.conf).
    pub fn admin(&self) -> &str {
        &self.admin
    }

    /// The node token (for agents).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The role of the `authorization` header's value.
    pub fn role_of(&self, header: Option<&str>) -> Result<Role, AuthError> {
        let token = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(AuthError::Missing)?;
        if same(token, &self.admin) {
            Ok(Role::Admin)
        } else if same(token, &self.node) {
            Ok(Role::Node)
        } else {
            Err(AuthError::Invalid)
        }
    }
}

/// Whether `role` may `verb` objects of `kind`.
pub fn authorize(role: Role, verb: Verb, kind: &str) -> Result<(), AuthError> {
    let allowed = match (role, verb) {
        (Role::Admin, _) => true,
        (Role::Node, Verb::Get | Verb::List | Verb::Watch) => true,
        (Role::Node, Verb::Create | Verb::Update) => {
            matches!(kind, "Node" | "Pod" | "Event" | "Lease")
        }
        (Role::Node, Verb::Delete) => kind == "Pod",
        (Role::Node, Verb::Bind) => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(AuthError::Forbidden {
            role,
            verb,
            kind: kind.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_persist_and_map_to_roles() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tokens::load_or_create(dir.path()).unwrap();
        let again = Tokens::load_or_create(dir.path()).unwrap();
        assert_eq!((t.admin(), t.node()), (again.admin(), again.node()));
        assert_ne!(t.admin(), t.node());
        let bearer = |s: &str| format!("Bearer {s}");
        assert_eq!(t.role_of(Some(&bearer(t.admin()))).unwrap(), Role::Admin);
        assert_eq!(t.role_of(Some(&bearer(t.node()))).unwrap(), Role::Node);
        assert!(matches!(t.role_of(None), Err(AuthError::Missing)));
        assert!(matches!(
            t.role_of(Some("Bearer nope")),
            Err(AuthError::Invalid)
        ));
        assert!(matches!(
            t.role_of(Some(t.admin())),
            Err(AuthError::Missing)
        ));
    }

    #[test]
    fn nodes_cannot_do_admin_work() {
        assert!(authorize(Role::Node, Verb::List, "Service").is_ok());
        assert!(authorize(Role::Node, Verb::Update, "Pod").is_ok());
        let e = authorize(Role::Node, Verb::Create, "Deployment").unwrap_err();
        assert_eq!(e.to_string(), "Node may not Create Deployment");
        assert!(authorize(Role::Node, Verb::Delete, "Service").is_err());
        assert!(authorize(Role::Admin, Verb::Delete, "Service").is_ok());
        assert!(authorize(Role::Node, Verb::Update, "Lease").is_ok());
        assert!(authorize(Role::Node, Verb::Bind, "Pod").is_err());
    }
}
