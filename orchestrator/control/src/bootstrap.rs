//! First start and every start of `berth server`: the data dir, the PKI,
//! the tokens, and the credentials files handed to users and nodes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use berth_client::ClientConfig;

use crate::auth::{AuthError, Tokens};
use crate::pki::{Pki, PkiError};

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:6443";

/// Errors preparing the server.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The data dir could not be made.
    #[error("creating the data dir {path:?}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The PKI failed.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The tokens failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// admin.conf could not be written.
    #[error("writing {path:?}")]
    AdminConf {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Settings of `berth server` that bootstrap needs.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// `--listen`.
    pub listen: SocketAddr,
    /// `--tls-san` (names and addresses the certificate must also carry).
    pub tls_sans: Vec<String>,
}

/// What a started server holds.
#[derive(Debug)]
pub struct Prepared {
    /// CA and server certificate.
    pub pki: Pki,
    /// Admin and node tokens.
    pub tokens: Tokens,
    /// Where admin.conf was written.
    pub admin_conf: PathBuf,
}

/// The URL clients use for `listen` (an unspecified address becomes
/// 127.0.0.1).
pub fn server_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        ip => ip.to_string(),
    };
    format!("https://{ip}:{}", listen.port())
}

/// Makes the data dir (0700), loads or creates the CA and tokens, issues
/// the server certificate for `listen` and the SANs, and writes
/// `admin.conf` (0600) and `node-token`.
pub fn prepare(settings: &ServerSettings) -> Result<Prepared, BootstrapError> {
    make_private_dir(&settings.data_dir)?;
    let mut sans = settings.tls_sans.clone();
    if !settings.listen.ip().is_unspecified() {
        sans.push(settings.listen.ip().to_string());
    }
    let pki = Pki::load_or_create(&settings.data_dir, &sans)?;
    let tokens = Tokens::load_or_create(
        &settings.data_dir,
        crate::api::Lifetimes::default().bootstrap_token,
    )?;
    let admin_conf = settings.data_dir.join("admin.conf");
    let config = ClientConfig {
        server: server_url(settings.listen),
        certificate_authority: pki.ca_pem.clone(),
        token: tokens.admin().to_owned(),
        token_file: None,
    };
    config
        .save(&admin_conf)
        .map_err(|source| BootstrapError::AdminConf {
            path: admin_conf.clone(),
            source,
        })?;
    Ok(Prepared {
        pki,
        tokens,
        admin_conf,
    })
}

fn make_private_dir(path: &Path) -> Result<(), BootstrapError> {
    use std::os::unix::fs::PermissionsExt as _;
    let err = |source| BootstrapError::DataDir {
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_credentials_that_load() {
        let dir = tempfile::tempdir().unwrap();
        let settings = ServerSettings {
            data_dir: dir.path().join("data"),
            listen: "127.0.0.1:16443".parse().unwrap(),
            tls_sans: vec!["berth.example".into()],
        };
        let p = prepare(&settings).unwrap();
        let conf = ClientConfig::load(&p.admin_conf).unwrap();
        assert_eq!(conf.server, "https://127.0.0.1:16443");
        assert_eq!(conf.token, p.tokens.admin());
        let again = prepare(&settings).unwrap();
        assert_eq!(again.tokens.admin(), p.tokens.admin());
        assert_eq!(again.tokens.bootstrap(), p.tokens.bootstrap());
        assert_eq!(again.pki.ca_pem, p.pki.ca_pem);
        assert!(settings.data_dir.join("node-token").exists());
    }

    #[test]
    fn urls() {
        assert_eq!(
            server_url("0.0.0.0:6443".parse().unwrap()),
            "https://127.0.0.1:6443"
        );
        assert_eq!(
            server_url("[fd00::1]:6443".parse().unwrap()),
            "https://[fd00::1]:6443"
        );
    }
}
