//! The static file of `berth dataplane run --static FILE`: services and
//! their backends in YAML, for running the load balancer without the rest
//! of Berth.
//!
//! ```yaml
//! services:
//!   - name: web                      # unique
//!     vips: [10.96.0.20, "fd00:10:96::20"]
//!     ports:
//!       - name: http                 # optional
//!         port: 80
//!         protocol: TCP              # TCP (default) or UDP
//!         backends:                  # address:port; IPv6 as [addr]:port
//!           - 10.244.1.2:8080
//!           - "[fd00:10:244:1::2]:8080"
//!           - address: 10.244.1.3:8080  # or with a weight (0-100, default
//!             weight: 2                 # 1; 0 drains) and a state: active
//!             state: terminating        # (default), terminating, quarantined
//!   - name: cache
//!     vips: [10.96.0.21]
//!     sessionAffinity: ClientIP      # None (default) or ClientIP
//!     sessionAffinityConfig:         # optional, as in a Kubernetes Service
//!       clientIP: {timeoutSeconds: 600}   # 1-86400, default 10800
//!     algorithm: maglev              # random (default) or maglev
//!     exposure: internal             # internal (default): the socket hooks
//!                                    # only; external: also packets from
//!                                    # outside, SNATed to the node (a
//!                                    # NodePort or externalIP);
//!                                    # external-local: the same, client
//!                                    # address kept
//!     ports:
//!       - port: 6379
//!         backends: [10.244.1.3:6379, 10.244.2.3:6379]
//! ```
//!
//! Each VIP is served by the backends of its own address family. Unknown
//! fields are errors; every error names the field path and the value.

use std::{collections::BTreeMap, net::IpAddr, net::SocketAddr, path::Path};

use serde::Deserialize;

use crate::{
    error::Error,
    model::{
        Algorithm, Backend, BackendOptions, BackendState, DEFAULT_AFFINITY_TIMEOUT, Exposure,
        MAX_AFFINITY_TIMEOUT, MAX_WEIGHT, Policy, Protocol, Service, ServicePort,
    },
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    services: Vec<FileService>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
struct FileService {
    name: String,
    vips: Vec<String>,
    ports: Vec<FilePort>,
    #[serde(default)]
    session_affinity: Option<String>,
    #[serde(default)]
    exposure: Option<String>,
    #[serde(default)]
    session_affinity_config: Option<FileAffinityConfig>,
    #[serde(default)]
    algorithm: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileAffinityConfig {
    #[serde(rename = "clientIP")]
    client_ip: Option<FileClientIp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileClientIp {
    timeout_seconds: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePort {
    #[serde(default)]
    name: String,
    port: i64,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    backends: Vec<FileBackend>,
}

/// A backend: `address:port`, or with a weight and a state.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FileBackend {
    Plain(String),
    Full(FileBackendFull),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBackendFull {
    address: String,
    #[serde(default)]
    weight: Option<i64>,
    #[serde(default)]
    state: Option<String>,
}

/// Errors reading a static file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Yaml {
        path: String,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("{path}: {source}")]
    Invalid {
        path: String,
        #[source]
        source: Box<Error>,
    },
}

/// Reads and checks a static file.
pub fn load(path: &Path) -> Result<Vec<Service>, ConfigError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: p.clone(),
        source,
    })?;
    parse(&text).map_err(|e| match e {
        ParseError::Yaml(source) => ConfigError::Yaml { path: p, source },
        ParseError::Invalid(source) => ConfigError::Invalid { path: p, source },
    })
}

/// Why a document did not parse.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Yaml(serde_yaml_ng::Error),
    #[error(transparent)]
    Invalid(Box<Error>),
}

/// Parses a static file's text into services (field values are checked
/// here; service-level rules when they are applied).
pub fn parse(text: &str) -> Result<Vec<Service>, ParseError> {
    let doc: FileDoc = if text.trim().is_empty() {
        FileDoc {
            services: Vec::new(),
        }
    } else {
        serde_yaml_ng::from_str(text).map_err(ParseError::Yaml)?
    };
    doc.services
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            service(s)
                .map_err(|e| ParseError::Invalid(Box::new(e.within(&format!("services[{i}]")))))
        })
        .collect()
}

fn service(s: FileService) -> Result<Service, Error> {
    let vips = s
        .vips
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.parse::<IpAddr>()
                .map_err(|_| Error::invalid(format!("vips[{i}]"), v, "not an IP address"))
        })
        .collect::<Result<_, _>>()?;
    let ports = s
        .ports
        .into_iter()
        .enumerate()
        .map(|(j, p)| port(p).map_err(|e| e.within(&format!("ports[{j}]"))))
        .collect::<Result<_, _>>()?;
    let mut policy = policy(
        s.session_affinity.as_deref(),
        s.session_affinity_config.as_ref(),
        s.algorithm.as_deref(),
    )?;
    if let Some(e) = s.exposure.as_deref() {
        policy.exposure = e.parse::<Exposure>()?;
    }
    Ok(Service {
        name: s.name,
        vips,
        ports,
        policy,
        ..Service::default()
    })
}

fn policy(
    affinity: Option<&str>,
    config: Option<&FileAffinityConfig>,
    algorithm: Option<&str>,
) -> Result<Policy, Error> {
    let timeout = config
        .and_then(|c| c.client_ip.as_ref())
        .and_then(|c| c.timeout_seconds);
    let affinity_timeout = match affinity.unwrap_or("None") {
        "None" => {
            if let Some(t) = timeout {
                return Err(Error::invalid(
                    "sessionAffinityConfig.clientIP.timeoutSeconds",
                    t,
                    "needs sessionAffinity: ClientIP",
                ));
            }
            None
        }
        "ClientIP" => {
            let t = timeout.unwrap_or(i64::from(DEFAULT_AFFINITY_TIMEOUT));
            let ok = u32::try_from(t)
                .ok()
                .filter(|t| (1..=MAX_AFFINITY_TIMEOUT).contains(t));
            Some(ok.ok_or_else(|| {
                Error::invalid(
                    "sessionAffinityConfig.clientIP.timeoutSeconds",
                    t,
                    format!("must be 1-{MAX_AFFINITY_TIMEOUT}"),
                )
            })?)
        }
        other => {
            return Err(Error::invalid(
                "sessionAffinity",
                other,
                "must be None or ClientIP",
            ));
        }
    };
    let algorithm = match algorithm {
        None => Algorithm::Random,
        Some(a) => a
            .parse::<Algorithm>()
            .map_err(|_| Error::invalid("algorithm", a, "must be random or maglev"))?,
    };
    Ok(Policy {
        affinity_timeout,
        algorithm,
        exposure: Exposure::Internal,
    })
}

fn port(p: FilePort) -> Result<ServicePort, Error> {
    let number = u16::try_from(p.port)
        .ok()
        .filter(|n| *n != 0)
        .ok_or_else(|| Error::invalid("port", p.port, "must be 1-65535"))?;
    let protocol = match &p.protocol {
        None => Protocol::Tcp,
        Some(s) => s.parse::<Protocol>()?,
    };
    let mut backends = Vec::with_capacity(p.backends.len());
    let mut options = BTreeMap::new();
    for (k, b) in p.backends.iter().enumerate() {
        let (address, weight, state) = match b {
            FileBackend::Plain(a) => (a, None, None),
            FileBackend::Full(f) => (&f.address, f.weight, f.state.as_deref()),
        };
        let field = match b {
            FileBackend::Plain(_) => format!("backends[{k}]"),
            FileBackend::Full(_) => format!("backends[{k}].address"),
        };
        let backend = address
            .parse::<SocketAddr>()
            .map(Backend::from)
            .map_err(|_| {
                Error::invalid(field, address, "not an address:port (IPv6 as [addr]:port)")
            })?;
        let mut o = BackendOptions::default();
        if let Some(w) = weight {
            o.weight = u16::try_from(w)
                .ok()
                .filter(|w| *w <= MAX_WEIGHT)
                .ok_or_else(|| {
                    Error::invalid(
                        format!("backends[{k}].weight"),
                        w,
                        format!("must be 0-{MAX_WEIGHT}"),
                    )
                })?;
        }
        if let Some(st) = state {
            o.state = st
                .parse::<BackendState>()
                .map_err(|e| e.within(&format!("backends[{k}]")))?;
        }
        if o != BackendOptions::default() {
            options.insert(backend, o);
        }
        backends.push(backend);
    }
    Ok(ServicePort {
        name: p.name,
        port: number,
        protocol,
        backends,
        options,
        ..ServicePort::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
services:
  - name: web
    vips: [10.96.0.20, "fd00:10:96::20"]
    ports:
      - name: http
        port: 80
        backends: [10.244.1.2:8080, "[fd00:10:244:1::2]:8080"]
      - port: 53
        protocol: udp
        backends: [10.244.1.2:5353]
"#;

    #[test]
    fn parses_the_documented_schema() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].vips.len(), 2);
        assert_eq!(s[0].ports[0].protocol, Protocol::Tcp);
        assert_eq!(s[0].ports[1].protocol, Protocol::Udp);
        assert_eq!(
            s[0].ports[0].backends[1].to_string(),
            "[fd00:10:244:1::2]:8080"
        );
    }

    #[test]
    fn empty_file_means_no_services() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("services: []").unwrap().is_empty());
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_field_and_value() {
        assert_eq!(
            err("services:\n- name: a\n  vips: [10.96.0.300]\n  ports: [{port: 80}]\n"),
            "services[0].vips[0]: invalid value \"10.96.0.300\": not an IP address"
        );
        assert_eq!(
            err("services:\n- name: a\n  vips: [10.96.0.3]\n  ports: [{port: 70000}]\n"),
            "services[0].ports[0].port: invalid value \"70000\": must be 1-65535"
        );
        assert_eq!(
            err(
                "services:\n- name: a\n  vips: [10.96.0.3]\n  ports: [{port: 80, protocol: SCTP}]\n"
            ),
            "services[0].ports[0].protocol: invalid value \"SCTP\": must be TCP or UDP"
        );
        assert_eq!(
            err(
                "services:\n- name: a\n  vips: [10.96.0.3]\n  ports: [{port: 80, backends: [10.0.0.1]}]\n"
            ),
            "services[0].ports[0].backends[0]: invalid value \"10.0.0.1\": not an address:port (IPv6 as [addr]:port)"
        );
        assert!(err("services:\n- name: a\n  vipz: []\n").contains("unknown field `vipz`"));
        let base = "services:\n- name: a\n  vips: [10.96.0.3]\n  ports: [{port: 80}]\n";
        assert_eq!(
            err(&format!("{base}  sessionAffinity: Sticky\n")),
            "services[0].sessionAffinity: invalid value \"Sticky\": must be None or ClientIP"
        );
        assert_eq!(
            err(&format!(
                "{base}  sessionAffinity: ClientIP\n  sessionAffinityConfig: {{clientIP: {{timeoutSeconds: 0}}}}\n"
            )),
            "services[0].sessionAffinityConfig.clientIP.timeoutSeconds: invalid value \"0\": must be 1-86400"
        );
        assert_eq!(
            err(&format!(
                "{base}  sessionAffinityConfig: {{clientIP: {{timeoutSeconds: 5}}}}\n"
            )),
            "services[0].sessionAffinityConfig.clientIP.timeoutSeconds: invalid value \"5\": needs sessionAffinity: ClientIP"
        );
        assert_eq!(
            err(&format!("{base}  algorithm: ring\n")),
            "services[0].algorithm: invalid value \"ring\": must be random or maglev"
        );
    }

    #[test]
    fn weights_and_states_are_read_and_checked() {
        let s = parse(
            "services:\n- name: a\n  vips: [10.96.0.3]\n  ports:\n  - port: 80\n    backends:\n    - 10.0.0.1:80\n    - {address: 10.0.0.2:80, weight: 3}\n    - {address: 10.0.0.3:80, state: Terminating}\n",
        )
        .unwrap();
        let p = &s[0].ports[0];
        assert_eq!(p.backends.len(), 3);
        assert_eq!(p.options_of(&p.backends[0]), BackendOptions::default());
        assert_eq!(p.options_of(&p.backends[1]).weight, 3);
        assert_eq!(
            p.options_of(&p.backends[2]).state,
            BackendState::Terminating
        );
        let base =
            "services:\n- name: a\n  vips: [10.96.0.3]\n  ports:\n  - port: 80\n    backends:\n";
        assert_eq!(
            err(&format!(
                "{base}    - {{address: 10.0.0.2:80, weight: 101}}\n"
            )),
            "services[0].ports[0].backends[0].weight: invalid value \"101\": must be 0-100"
        );
        assert_eq!(
            err(&format!(
                "{base}    - {{address: 10.0.0.2:80, state: gone}}\n"
            )),
            "services[0].ports[0].backends[0].state: invalid value \"gone\": must be active, terminating or quarantined"
        );
        assert_eq!(
            err(&format!("{base}    - {{address: 10.0.0.2}}\n")),
            "services[0].ports[0].backends[0].address: invalid value \"10.0.0.2\": not an address:port (IPv6 as [addr]:port)"
        );
    }

    #[test]
    fn affinity_and_maglev_are_read() {
        let s = parse(
            "services:\n- name: a\n  vips: [10.96.0.3]\n  sessionAffinity: ClientIP\n  algorithm: Maglev\n  ports: [{port: 80}]\n- name: b\n  vips: [10.96.0.4]\n  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n  ports: [{port: 80}]\n",
        )
        .unwrap();
        assert_eq!(s[0].policy.affinity_timeout, Some(10_800));
        assert_eq!(s[0].policy.algorithm, Algorithm::Maglev);
        assert_eq!(s[1].policy.affinity_timeout, Some(60));
        assert_eq!(
            s[1].policy,
            Policy {
                affinity_timeout: Some(60),
                algorithm: Algorithm::Random,
                exposure: Exposure::Internal,
            }
        );
    }
}
