//! Phase 1a, the node credential: the bootstrap token (`--token-file`) is
//! only exchanged for a credential naming this node, kept in
//! `<data-dir>/node-credential` (0600). Every client of the node (the
//! agent's, and its DNS process, which is given that file) sends what the
//! file holds, so rotating the credential is writing the file.
//!
//! At start the stored credential gets a fresh one (a rotation, which also
//! proves it is still valid); a missing, expired or revoked one is
//! replaced through the bootstrap token. While the node runs, the
//! credential is rotated when two thirds of its life are over.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_client::{Client, ClientConfig};
use tonic::Code;

use super::error::StartError;

/// The credential's file in the agent's data dir.
pub const CREDENTIAL_FILE: &str = "node-credential";
/// The pause after a failed rotation.
const RETRY: Duration = Duration::from_secs(5);

/// The node's credential, where it is kept, and when it expires.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Credentials sending the node credential (read from `file` at
    /// each call).
    pub client: ClientConfig,
    /// The file.
    pub file: PathBuf,
    /// Its expiry (Unix seconds).
    pub expires_unix: i64,
}

/// A client of the API server sending `config`'s token.
async fn connect(config: &ClientConfig, node: &str) -> Result<Client, StartError> {
    berth_client::connect(config)
        .await
        .map(Client::remote)
        .map_err(|source| StartError::Connect {
            node: node.to_owned(),
            source: Box::new(source),
        })
}

/// Writes `token` to `file` (0600), atomically.
pub fn write(file: &Path, token: &str) -> std::io::Result<()> {
    berth_client::write_private(file, &format!("{token}\n"), 0o600)
}

/// A credential for `node`: the stored one renewed, or one the bootstrap
/// token (in `bootstrap`) is exchanged for.
pub(super) async fn obtain(
    bootstrap: &ClientConfig,
    data_dir: &Path,
    node: &str,
) -> Result<Issued, StartError> {
    let file = data_dir.join(CREDENTIAL_FILE);
    let stored = std::fs::read_to_string(&file)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let renewed = match stored {
        None => None,
        Some(token) => {
            let own = ClientConfig {
                token,
                token_file: None,
                ..bootstrap.clone()
            };
            match connect(&own, node).await?.issue_node_credential(node).await {
                Ok(c) => Some(c),
                // Expired, revoked, or of another cluster: bootstrap again.
                Err(e) if e.code() == Some(Code::Unauthenticated) => {
                    tracing::info!(node, error = %e, "the stored node credential was refused: using the bootstrap token");
                    None
                }
                Err(e) => {
                    return Err(StartError::Credential {
                        node: node.to_owned(),
                        with: format!("the credential in {}", file.display()),
                        source: Box::new(e),
                    });
                }
            }
        }
    };
    let credential = match renewed {
        Some(c) => c,
        None => connect(bootstrap, node)
            .await?
            .issue_node_credential(node)
            .await
            .map_err(|e| StartError::Credential {
                node: node.to_owned(),
                with: format!(
                    "the bootstrap token from {}",
                    bootstrap
                        .token_file
                        .as_deref()
                        .unwrap_or(Path::new("?"))
                        .display()
                ),
                source: Box::new(e),
            })?,
    };
    write(&file, &credential.token).map_err(|source| StartError::CredentialFile {
        path: file.clone(),
        source,
    })?;
    Ok(Issued {
        client: ClientConfig {
            token: credential.token,
            token_file: Some(file.clone()),
            ..bootstrap.clone()
        },
        file,
        expires_unix: credential.expires_unix,
    })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// When to rotate a credential issued at `issued` expiring at `expires`:
/// two thirds into its life.
pub fn rotate_at(issued: i64, expires: i64) -> i64 {
    issued + (expires - issued).max(0) * 2 / 3
}

/// Rotates the credential through `client` (which sends what the file
/// holds) for as long as the node runs. A credential refused meanwhile
/// (it expired while the server was away, or was revoked) is replaced
/// through the bootstrap token, as at start.
pub(super) fn rotate(
    client: Client,
    bootstrap: ClientConfig,
    node: String,
    issued: Issued,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (mut from, mut expires) = (unix_now(), issued.expires_unix);
        loop {
            let wait = (rotate_at(from, expires) - unix_now()).max(0);
            tokio::time::sleep(Duration::from_secs(wait.unsigned_abs())).await;
            let fresh = match client.issue_node_credential(&node).await {
                Err(e) if e.code() == Some(Code::Unauthenticated) => {
                    tracing::warn!(node = %node, error = %e, "the node credential was refused: using the bootstrap token");
                    match connect(&bootstrap, &node).await {
                        Ok(c) => c
                            .issue_node_credential(&node)
                            .await
                            .map_err(|e| berth_api::error_chain(&e)),
                        Err(e) => Err(berth_api::error_chain(&e)),
                    }
                }
                r => r.map_err(|e| berth_api::error_chain(&e)),
            };
            match fresh {
                Ok(c) => match write(&issued.file, &c.token) {
                    Ok(()) => {
                        tracing::info!(node = %node, expires = c.expires_unix, "node credential rotated");
                        (from, expires) = (unix_now(), c.expires_unix);
                    }
                    Err(e) => {
                        tracing::error!(node = %node, file = %issued.file.display(), error = %e, "writing the rotated node credential");
                        tokio::time::sleep(RETRY).await;
                    }
                },
                Err(e) => {
                    tracing::warn!(node = %node, error = %e, "rotating the node credential");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_is_two_thirds_into_the_life() {
        assert_eq!(rotate_at(1000, 1300), 1200);
        assert_eq!(rotate_at(1000, 1000), 1000);
        assert_eq!(rotate_at(1000, 900), 1000);
    }
}
