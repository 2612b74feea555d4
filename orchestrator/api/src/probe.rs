//! Liveness and readiness probes: HTTP GET, TCP connect or a command.

use serde::{Deserialize, Serialize};

use crate::intstr::IntOrString;
use crate::macros::{is_default, string_enum};

string_enum! {
    /// The scheme of an HTTP probe.
    pub enum Scheme {
        /// Plain HTTP.
        #[default]
        Http = "HTTP",
        /// HTTPS (the certificate is not verified).
        Https = "HTTPS",
    }
}

/// A probe: exactly one handler (`httpGet`, `tcpSocket`, `exec`) and its
/// timing.
///
/// Missing or zero timings take Kubernetes' defaults: `timeoutSeconds` 1,
/// `periodSeconds` 10, `successThreshold` 1, `failureThreshold` 3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Probe {
    /// Run a command in the container; exit status 0 is success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    /// An HTTP GET; a status in 200–399 is success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    /// A TCP connect; an established connection is success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    /// Seconds after the container starts before the first probe.
    #[serde(skip_serializing_if = "is_default")]
    pub initial_delay_seconds: i32,
    /// Seconds before a probe times out.
    pub timeout_seconds: i32,
    /// Seconds between probes.
    pub period_seconds: i32,
    /// Consecutive successes to count as passing after a failure (1 for liveness).
    pub success_threshold: i32,
    /// Consecutive failures to count as failing.
    pub failure_threshold: i32,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            exec: None,
            http_get: None,
            tcp_socket: None,
            initial_delay_seconds: 0,
            timeout_seconds: 1,
            period_seconds: 10,
            success_threshold: 1,
            failure_threshold: 3,
        }
    }
}

/// The handler of a probe, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeHandler<'a> {
    /// `exec`.
    Exec(&'a ExecAction),
    /// `httpGet`.
    HttpGet(&'a HttpGetAction),
    /// `tcpSocket`.
    TcpSocket(&'a TcpSocketAction),
}

impl Probe {
    /// Replaces zero timings with Kubernetes' defaults, and an empty HTTP
    /// path with `/`.
    pub fn apply_defaults(&mut self) {
        let d = Self::default();
        for (v, default) in [
            (&mut self.timeout_seconds, d.timeout_seconds),
            (&mut self.period_seconds, d.period_seconds),
            (&mut self.success_threshold, d.success_threshold),
            (&mut self.failure_threshold, d.failure_threshold),
        ] {
            if *v == 0 {
                *v = default;
            }
        }
        if let Some(http) = &mut self.http_get
            && http.path.is_empty()
        {
            http.path = "/".to_owned();
        }
    }

    /// The handler, when exactly one is set.
    pub fn handler(&self) -> Option<ProbeHandler<'_>> {
        match (&self.exec, &self.http_get, &self.tcp_socket) {
            (Some(e), None, None) => Some(ProbeHandler::Exec(e)),
            (None, Some(h), None) => Some(ProbeHandler::HttpGet(h)),
            (None, None, Some(t)) => Some(ProbeHandler::TcpSocket(t)),
            _ => None,
        }
    }
}

/// Run a command.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ExecAction {
    /// The command and its arguments (not run in a shell).
    pub command: Vec<String>,
}

/// An HTTP GET request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpGetAction {
    /// The path (`/` by default).
    pub path: String,
    /// The port: a number or the name of a container port.
    pub port: IntOrString,
    /// The host to connect to (the pod IP by default).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// `HTTP` or `HTTPS`.
    pub scheme: Scheme,
    /// Extra request headers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http_headers: Vec<HttpHeader>,
}

/// A request header.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpHeader {
    /// The header name.
    pub name: String,
    /// The value.
    pub value: String,
}

/// A TCP connect.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TcpSocketAction {
    /// The port: a number or the name of a container port.
    pub port: IntOrString,
    /// The host to connect to (the pod IP by default).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
}
