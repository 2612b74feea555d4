//! The admin token and the bootstrap token, in files of the data dir.
//!
//! The bootstrap token's lifetime starts when its file is written: a server
//! that starts with an expired one writes a new one (what `berth up` and
//! agents on this machine read), and `berth bootstrap-token rotate` writes
//! one at any time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use berth_api::Time;

use super::AuthError;
use berth_client::write_private;

/// The bootstrap token's file in the data dir.
pub const BOOTSTRAP_FILE: &str = "node-token";
/// The admin token's file in the data dir.
pub const ADMIN_FILE: &str = "admin-token";
/// Lifetime of a bootstrap token unless configured (kubeadm's).
pub const DEFAULT_BOOTSTRAP_TTL: Duration = Duration::from_secs(24 * 3600);

/// The cluster's tokens, shared by every clone (a rotation reaches all).
#[derive(Clone)]
pub struct Tokens {
    admin: String,
    bootstrap: Arc<RwLock<Bootstrap>>,
    dir: PathBuf,
}

#[derive(Clone)]
struct Bootstrap {
    token: String,
    /// `None`: it never expires.
    expires: Option<SystemTime>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens { .. }")
    }
}

/// 24 random bytes, hex: 48 characters.
pub(crate) fn random_token() -> Result<String, std::io::Error> {
    use std::io::Read as _;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn read(path: &Path) -> Result<Option<(String, SystemTime)>, AuthError> {
    let io = |source| AuthError::Io {
        action: "reading",
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => {
            let written = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .map_err(io)?;
            Ok(Some((s.trim().to_owned(), written)))
        }
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(io(source)),
    }
}

fn write_new(path: &Path) -> Result<String, AuthError> {
    let token = random_token().map_err(|source| AuthError::Io {
        action: "reading /dev/urandom for",
        path: path.to_owned(),
        source,
    })?;
    write_private(path, &format!("{token}\n"), 0o600).map_err(|source| AuthError::Io {
        action: "writing",
        path: path.to_owned(),
        source,
    })?;
    Ok(token)
}

/// Compares without an early exit, so timing does not leak the token.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Tokens {
    /// Reads the tokens from `dir`, generating those that are missing; the
    /// bootstrap token lives `bootstrap_ttl` from when its file was written
    /// (`None`: for ever), and one already expired is replaced.
    pub fn load_or_create(dir: &Path, bootstrap_ttl: Option<Duration>) -> Result<Self, AuthError> {
        let admin_path = dir.join(ADMIN_FILE);
        let admin = match read(&admin_path)? {
            Some((t, _)) => t,
            None => write_new(&admin_path)?,
        };
        let path = dir.join(BOOTSTRAP_FILE);
        let now = SystemTime::now();
        let bootstrap = match read(&path)? {
            Some((token, written)) if bootstrap_ttl.is_none_or(|ttl| written + ttl > now) => {
                Bootstrap {
                    token,
                    expires: bootstrap_ttl.map(|ttl| written + ttl),
                }
            }
            found => {
                if found.is_some() {
                    tracing::info!(path = %path.display(), "the bootstrap token expired: writing a new one");
                }
                Bootstrap {
                    token: write_new(&path)?,
                    expires: bootstrap_ttl.map(|ttl| now + ttl),
                }
            }
        };
        Ok(Self {
            admin,
            bootstrap: Arc::new(RwLock::new(bootstrap)),
            dir: dir.to_owned(),
        })
    }

    /// The same tokens with the bootstrap token living `ttl` from when
    /// its file was written (a new one when that is over).
    pub fn with_bootstrap_ttl(&self, ttl: Option<Duration>) -> Result<Self, AuthError> {
        Self::load_or_create(&self.dir, ttl)
    }

    /// The admin token (for admin.conf).
    pub fn admin(&self) -> &str {
        &self.admin
    }

    /// The bootstrap token (what agents join with).
    pub fn bootstrap(&self) -> String {
        self.current().token
    }

    /// When the bootstrap token expires (`None`: never).
    pub fn bootstrap_expires(&self) -> Option<SystemTime> {
        self.current().expires
    }

    fn current(&self) -> Bootstrap {
        self.bootstrap
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Writes a new bootstrap token living `ttl` (`None`: for ever); the
    /// old one is refused from now on.
    pub fn rotate_bootstrap(&self, ttl: Option<Duration>) -> Result<String, AuthError> {
        let token = write_new(&self.dir.join(BOOTSTRAP_FILE))?;
        *self
            .bootstrap
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Bootstrap {
            token: token.clone(),
            expires: ttl.map(|ttl| SystemTime::now() + ttl),
        };
        tracing::info!("the bootstrap token was rotated");
        Ok(token)
    }

    /// Whether `token` is the admin's (`Some(true)`), the bootstrap
    /// token (`Some(false)`; an error when it expired), or neither.
    pub(crate) fn match_token(&self, token: &str) -> Result<Option<bool>, AuthError> {
        if same(token, &self.admin) {
            return Ok(Some(true));
        }
        let b = self.current();
        if !same(token, &b.token) {
            return Ok(None);
        }
        match b.expires {
            Some(at) if at <= SystemTime::now() => Err(AuthError::BootstrapExpired {
                at: Time::from(at).truncated(),
            }),
            _ => Ok(Some(false)),
        }
    }
}
