//! The credentials file: where the server is, which CA to trust, which
//! token to send.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the CLI looks, after `--config` and `$BERTH_CONFIG`: the user's
/// file (`~` expanded), then the server's admin file.
pub const DEFAULT_CONFIG_PATHS: [&str; 2] = ["~/.berth/config", "/var/lib/berth/admin.conf"];

/// Errors reading credentials.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading credentials {path:?}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a credentials file.
    #[error("parsing credentials {path:?}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The YAML error.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// A field has a value we cannot use.
    #[error("credentials {path:?}: {field}: invalid value {value:?}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// The value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// No file was given and none of the default places has one.
    #[error(
        "no credentials: pass --config FILE, set BERTH_CONFIG, or run `berth up` (looked in {looked:?})"
    )]
    NotFound {
        /// The places looked at.
        looked: Vec<PathBuf>,
    },
}

/// The credentials file (YAML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientConfig {
    /// `https://HOST:PORT` of the API server.
    pub server: String,
    /// The cluster CA certificate (PEM) the server's certificate must chain to.
    pub certificate_authority: String,
    /// The bearer token.
    pub token: String,
    /// The file `token` was read from, when the token may change there (a
    /// node credential the agent rotates): calls send what it holds then.
    #[serde(skip)]
    pub token_file: Option<PathBuf>,
}

impl ClientConfig {
    /// The token to send: `token`, or what `token_file` holds at each call.
    pub fn bearer(&self) -> crate::Token {
        match &self.token_file {
            Some(file) => crate::Token::file(file.clone(), &self.token),
            None => crate::Token::fixed(&self.token),
        }
    }

    /// Reads and checks a credentials file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config: Self = serde_yaml_ng::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        config.check(path)?;
        Ok(config)
    }

    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field, value: &str, reason| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            value: value.to_owned(),
            reason,
        };
        if !self.server.starts_with("https://") {
            return Err(invalid("server", &self.server, "must be an https:// URL"));
        }
        if !self
            .certificate_authority
            .contains("-----BEGIN CERTIFICATE-----")
        {
            return Err(invalid(
                "certificateAuthority",
                "<not shown>",
                "must be a PEM certificate",
            ));
        }
        if self.token.is_empty() || !self.token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "token",
                "<not shown>",
                "must be printable ASCII, non-empty",
            ));
        }
        Ok(())
    }

    /// Writes the file with mode 0600 (it holds a secret), atomically.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_yaml_ng::to_string(self).map_err(std::io::Error::other)?;
        crate::write_private(path, &text, 0o600)
    }
}

/// The credentials to use: `explicit` (`--config`), else `$BERTH_CONFIG`,
/// else the first of [`DEFAULT_CONFIG_PATHS`] that exists.
pub fn find_config(explicit: Option<&Path>) -> Result<ClientConfig, ConfigError> {
    if let Some(path) = explicit {
        return ClientConfig::load(path);
    }
    if let Some(path) = std::env::var_os("BERTH_CONFIG") {
        return ClientConfig::load(Path::new(&path));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut looked = Vec::new();
    for candidate in DEFAULT_CONFIG_PATHS {
        let path = match (candidate.strip_prefix("~/"), &home) {
            (Some(rest), Some(home)) => home.join(rest),
            (Some(_), None) => continue,
            (None, _) => PathBuf::from(candidate),
        };
        if path.exists() {
            return ClientConfig::load(&path);
        }
        looked.push(path);
    }
    Err(ConfigError::NotFound { looked })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn sample() -> ClientConfig {
        ClientConfig {
            server: "https://127.0.0.1:6443".into(),
            certificate_authority: CA.into(),
            token: "abc123".into(),
            token_file: None,
        }
    }

    #[test]
    fn saves_private_and_loads_back() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config");
        sample().save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(ClientConfig::load(&path).unwrap(), sample());
        assert_eq!(find_config(Some(&path)).unwrap(), sample());
    }

    #[test]
    fn bad_fields_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let mut c = sample();
        c.server = "http://x:1".into();
        c.save(&path).unwrap();
        let e = ClientConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("server") && e.contains("http://x:1"), "{e}");
        std::fs::write(&path, "server: https://x\nbogus: 1\n").unwrap();
        let e = ClientConfig::load(&path).unwrap_err();
        assert!(format!("{:?}", e).contains("bogus"), "{e:?}");
    }
}
