//! The node's credentials: `--server`, `--token-file` and `--ca-file`,
//! read and checked into a [`ClientConfig`] (by the agent and by
//! `berth dns`, which follows the API with the node credential the agent
//! keeps and rotates; for the agent the token is the bootstrap token).

use std::path::{Path, PathBuf};

use berth_client::ClientConfig;

use super::error::ConfigError;

/// Where the node's credentials are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The API server (`https://HOST:PORT`; `--server`).
    pub server: String,
    /// The bootstrap token (the server's `<data-dir>/node-token`), or for
    /// `berth dns` the node credential (`--token-file`).
    pub token_file: PathBuf,
    /// The cluster CA; `None`: `ca.crt` next to the token file (`--ca-file`).
    pub ca_file: Option<PathBuf>,
}

impl Credentials {
    /// The cluster CA `ca_file` names, or `ca.crt` next to the token file.
    pub fn ca_path(&self) -> PathBuf {
        self.ca_file.clone().unwrap_or_else(|| {
            self.token_file
                .parent()
                .unwrap_or(Path::new("."))
                .join("ca.crt")
        })
    }

    /// Reads the token and the CA and checks the server's URL: an error
    /// names the flag and its value.
    pub fn load(&self) -> Result<ClientConfig, ConfigError> {
        let read = |field, path: &Path| {
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                field,
                path: path.to_path_buf(),
                source,
            })
        };
        let token = read("--token-file", &self.token_file)?.trim().to_owned();
        if token.is_empty() {
            return Err(ConfigError::Empty {
                field: "--token-file",
                path: self.token_file.clone(),
            });
        }
        let ca = read("--ca-file", &self.ca_path())?;
        if !self.server.starts_with("https://") {
            return Err(ConfigError::Invalid {
                field: "--server",
                value: self.server.clone(),
                reason: "expected https://HOST:PORT".into(),
            });
        }
        Ok(ClientConfig {
            server: self.server.clone(),
            certificate_authority: ca,
            token,
            token_file: Some(self.token_file.clone()),
        })
    }
}
