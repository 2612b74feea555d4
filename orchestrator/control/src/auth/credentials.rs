//! Node credentials: bearer tokens `NODE~SECRET` (`~` is in no node name,
//! and bearer tokens may carry it). The store keeps, per node, the SHA-256
//! of each live secret and its expiry under `/berth/nodecredentials/NODE`,
//! outside `/registry/`, so no list or watch of objects shows them. Every
//! API server reads them there: an issue or a revocation counts at once.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_api::Time;
use berth_store::{Bytes, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::AuthError;
use super::tokens::{random_token, same};

/// Where the credentials are in the store.
pub const PREFIX: &str = "/berth/nodecredentials/";
/// What separates the node's name from the secret in a credential.
pub const SEPARATOR: char = '~';
/// How long the credential a rotation replaced is still accepted (calls in
/// flight, a DNS process that has not read the new file yet).
pub const ROTATION_GRACE: Duration = Duration::from_secs(60);
/// Lifetime of a node credential unless configured.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

/// The live secrets of one node.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    issued: Vec<Issued>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Issued {
    /// SHA-256 of the secret, hex.
    sha256: String,
    /// Unix seconds.
    expires: i64,
}

/// The node credentials in a store.
#[derive(Debug, Clone)]
pub struct NodeCredentials {
    store: Arc<dyn Store>,
    ttl: Duration,
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn store_err(source: berth_store::StoreError) -> AuthError {
    AuthError::Store { source }
}

/// Splits a credential into its node and secret, if it has that form.
pub fn parse(token: &str) -> Result<(&str, &str), AuthError> {
    let Some((node, secret)) = token.split_once(SEPARATOR) else {
        return Err(AuthError::Invalid);
    };
    if node.is_empty() || secret.is_empty() {
        return Err(AuthError::Malformed {
            reason: "a node credential is NODE~SECRET, both non-empty",
        });
    }
    if !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::Malformed {
            reason: "the secret of a node credential is hexadecimal",
        });
    }
    Ok((node, secret))
}

impl NodeCredentials {
    /// Credentials in `store`, each living `ttl`.
    pub fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        Self { store, ttl }
    }

    /// How long a new credential lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Where `node`'s credentials are in the store.
    pub fn key(node: &str) -> String {
        format!("{PREFIX}{node}")
    }

    /// A new credential for `node` and when it expires; the node's other
    /// live credentials stay valid for [`ROTATION_GRACE`] at most.
    pub async fn issue(&self, node: &str) -> Result<(String, SystemTime), AuthError> {
        let secret = random_token().map_err(|source| AuthError::Io {
            action: "reading /dev/urandom for a node credential",
            path: "/dev/urandom".into(),
            source,
        })?;
        let now = SystemTime::now();
        let expires = now + self.ttl;
        let key = Self::key(node);
        loop {
            let found = self.store.get(&key).await.map_err(store_err)?;
            let mut record: Record = match &found {
                Some(item) => serde_json::from_slice(&item.value).unwrap_or_default(),
                None => Record::default(),
            };
            let grace_end = unix(now + ROTATION_GRACE);
            record.issued.retain(|i| i.expires > unix(now));
            for i in &mut record.issued {
                i.expires = i.expires.min(grace_end);
            }
            record.issued.push(Issued {
                sha256: digest(&secret),
                expires: unix(expires),
            });
            let bytes = Bytes::from(serde_json::to_vec(&record).unwrap_or_default());
            let written = match &found {
                Some(item) => self.store.update(&key, bytes, item.mod_revision).await,
                None => self.store.create(&key, bytes).await,
            };
            match written {
                Ok(_) => return Ok((format!("{node}{SEPARATOR}{secret}"), expires)),
                // Another server wrote meanwhile: read again.
                Err(e) if e.is_conflict() || e.is_already_exists() => continue,
                Err(e) => return Err(store_err(e)),
            }
        }
    }

    /// The node `token` names, if it is one of its live credentials.
    pub async fn verify(&self, token: &str) -> Result<String, AuthError> {
        let (node, secret) = parse(token)?;
        let revoked = || AuthError::Revoked {
            node: node.to_owned(),
        };
        let item = self
            .store
            .get(&Self::key(node))
            .await
            .map_err(store_err)?
            .ok_or_else(revoked)?;
        let record: Record = serde_json::from_slice(&item.value).unwrap_or_default();
        let want = digest(secret);
        let issued = record
            .issued
            .iter()
            .find(|i| same(&i.sha256, &want))
            .ok_or_else(revoked)?;
        if issued.expires <= unix(SystemTime::now()) {
            return Err(AuthError::Expired {
                node: node.to_owned(),
                at: Time::from_unix(issued.expires, 0),
            });
        }
        Ok(node.to_owned())
    }

    /// Revokes every credential of `node`; how many were live.
    pub async fn revoke(&self, node: &str) -> Result<usize, AuthError> {
        let key = Self::key(node);
        loop {
            let Some(item) = self.store.get(&key).await.map_err(store_err)? else {
                return Ok(0);
            };
            let record: Record = serde_json::from_slice(&item.value).unwrap_or_default();
            let now = unix(SystemTime::now());
            match self.store.delete(&key, Some(item.mod_revision)).await {
                Ok(_) => return Ok(record.issued.iter().filter(|i| i.expires > now).count()),
                Err(e) if e.is_conflict() => continue,
                Err(e) if e.is_not_found() => return Ok(0),
                Err(e) => return Err(store_err(e)),
            }
        }
    }
}
