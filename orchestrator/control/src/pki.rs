//! The cluster CA and the API server's certificate, kept in the data dir.
//!
//! On first start a CA (ECDSA P-256, 10 years) is generated and written to
//! `ca.crt` / `ca.key` (0600); every start issues the server a certificate
//! signed by it for `localhost`, `127.0.0.1`, the listen address and every
//! `--tls-san`, so adding a name needs only a restart. The CA never changes
//! once made: credentials handed out keep working.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Errors of the PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file could not be read or written.
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
    /// Key or certificate generation, or parsing a stored one, failed.
    #[error("{what}")]
    Cert {
        /// What was being done.
        what: String,
        /// The rcgen error.
        #[source]
        source: rcgen::Error,
    },
    /// A `--tls-san` is neither an IP address nor a DNS name.
    #[error("--tls-san: invalid value {value:?}: not an IP address or DNS name")]
    BadSan {
        /// The value given.
        value: String,
    },
}

/// PEM material the server needs.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA certificate (given to clients).
    pub ca_pem: String,
    /// The server's certificate.
    pub server_cert_pem: String,
    /// The server's private key.
    pub server_key_pem: String,
}

fn cert_err(what: impl Into<String>) -> impl FnOnce(rcgen::Error) -> PkiError {
    let what = what.into();
    move |source| PkiError::Cert { what, source }
}

fn read(path: &Path) -> Result<Option<String>, PkiError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io {
            action: "reading",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `text` to `path` with `mode`, atomically (temp file + rename).
fn write_private(path: &Path, text: &str, mode: u32) -> Result<(), PkiError> {
    berth_client::write_private(path, text, mode).map_err(|source| PkiError::Io {
        action: "writing",
        path: path.to_owned(),
        source,
    })
}

fn san(value: &str) -> Result<SanType, PkiError> {
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let valid = !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !valid {
        return Err(PkiError::BadSan {
            value: value.to_owned(),
        });
    }
    value
        .to_owned()
        .try_into()
        .map(SanType::DnsName)
        .map_err(|_| PkiError::BadSan {
            value: value.to_owned(),
        })
}

impl Pki {
    /// Loads the CA from `dir` (creating it on first start) and issues the
    /// server a certificate for `sans` plus `localhost` and `127.0.0.1`.
    pub fn load_or_create(dir: &Path, sans: &[String]) -> Result<Self, PkiError> {
        let mut names = vec![SanType::DnsName(
            "localhost".try_into().map_err(cert_err("localhost SAN"))?,
        )];
        names.push(SanType::IpAddress(IpAddr::from([127, 0, 0, 1])));
        for s in sans {
            let s = san(s)?;
            if !names.contains(&s) {
                names.push(s);
            }
        }
        let (ca_crt, ca_key) = (dir.join("ca.crt"), dir.join("ca.key"));
        let (ca_pem, ca_key_pem) = match (read(&ca_crt)?, read(&ca_key)?) {
            (Some(c), Some(k)) => (c, k),
            _ => {
                let (c, k) = new_ca()?;
                write_private(&ca_key, &k, 0o600)?;
                write_private(&ca_crt, &c, 0o644)?;
                tracing::info!(path = %ca_crt.display(), "generated the cluster CA");
                (c, k)
            }
        };
        let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(cert_err("reading ca.key"))?;
        // The stored CA certificate was made from these same parameters and
        // key, so a certificate issued by them chains to it (same subject,
        // same key identifier).
        let issuer = Issuer::new(ca_params(), ca_key);
        let key = KeyPair::generate().map_err(cert_err("generating the server key"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn("berth-apiserver");
        params.subject_alt_names = names;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(cert_err("signing the server certificate"))?;
        Ok(Self {
            ca_pem,
            server_cert_pem: cert.pem(),
            server_key_pem: key.serialize_pem(),
        })
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "berth");
    dn
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn("berth-ca");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    params
}

fn new_ca() -> Result<(String, String), PkiError> {
    let key = KeyPair::generate().map_err(cert_err("generating the CA key"))?;
    let cert = ca_params()
        .self_signed(&key)
        .map_err(cert_err("self-signing the CA"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first =
            Pki::load_or_create(dir.path(), &["10.0.0.1".into(), "api.example".into()]).unwrap();
        let second = Pki::load_or_create(dir.path(), &[]).unwrap();
        assert_eq!(first.ca_pem, second.ca_pem);
        assert_ne!(first.server_cert_pem, second.server_cert_pem);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn bad_san_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = Pki::load_or_create(dir.path(), &["bad name!".into()]).unwrap_err();
        assert!(e.to_string().contains("\"bad name!\""), "{e}");
    }
}
