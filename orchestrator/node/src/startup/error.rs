//! [`ConfigError`] (a configuration refused before anything starts) and
//! [`StartError`] (a phase of the start-up that failed).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::agent::AgentError;
use crate::containerd::ContainerdError;
use crate::image::ImageError;
use crate::proxy::ProxyError;
use crate::runtime::RuntimeError;

/// Why a [`NodeConfig`](super::NodeConfig) was refused. Each names the
/// flag (or field) and its value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that is not what the flag takes.
    #[error("{field}: invalid value {value:?}: {reason}")]
    Invalid {
        /// The flag.
        field: &'static str,
        /// What it was given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file the flag names could not be read.
    #[error("{field}: reading {path}")]
    Read {
        /// The flag.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file the flag names is empty.
    #[error("{field}: {path} is empty")]
    Empty {
        /// The flag.
        field: &'static str,
        /// The file.
        path: PathBuf,
    },
}

/// Why the node could not start: the phase and what failed in it.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The API server could not be reached.
    #[error("joining the cluster as node {node}")]
    Connect {
        /// The Node.
        node: String,
        /// Why.
        #[source]
        source: Box<berth_client::ConnectError>,
    },
    /// Registering the Node or starting the agent loop failed.
    #[error("the agent of node {node}")]
    Agent {
        /// The Node.
        node: String,
        /// Why.
        #[source]
        source: Box<AgentError>,
    },
    /// Neither the stored node credential nor the bootstrap token got the
    /// node a credential.
    #[error("getting a credential for node {node} (with {with})")]
    Credential {
        /// The Node.
        node: String,
        /// The token used last: `the bootstrap token from FILE`, ...
        with: String,
        /// Why.
        #[source]
        source: Box<berth_client::ClientError>,
    },
    /// The node credential could not be kept on disk.
    #[error("writing the node credential {path}")]
    CredentialFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading the Node back (for its pod CIDRs) failed.
    #[error("reading node {node}")]
    ReadNode {
        /// The Node.
        node: String,
        /// Why.
        #[source]
        source: Box<berth_client::ClientError>,
    },
    /// The Node was deleted right after it registered.
    #[error("node {node} vanished after registering")]
    NodeVanished {
        /// The Node.
        node: String,
    },
    /// The server gave the node no pod CIDR in time.
    #[error("the server gave node {node} no pod CIDR within {timeout:?} (do its controllers run?)")]
    NoPodCidr {
        /// The Node.
        node: String,
        /// How long the agent waited.
        timeout: Duration,
    },
    /// The Node's pod CIDRs do not parse.
    #[error("the node's pod CIDRs {cidrs:?}")]
    PodCidrs {
        /// What the Node says.
        cidrs: Vec<String>,
        /// Why.
        #[source]
        source: ipnet::AddrParseError,
    },
    /// A file or directory operation failed.
    #[error("{action} {path}")]
    Io {
        /// What was done (`--cni-conf-dir: creating`, `writing`, ...).
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A CNI plugin the agent links is not installed.
    #[error("{path} is missing (Debian package containernetworking-plugins)")]
    PluginMissing {
        /// The plugin binary.
        path: PathBuf,
    },
    /// The conflist written does not read back as berth-cni's
    /// configuration.
    #[error("reading {path}")]
    Conflist {
        /// The conflist.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<berth_cni::config::ConfigError>,
    },
    /// Freeing the addresses of sandboxes that are gone failed.
    #[error("berth-cni GC")]
    CniGc {
        /// Why.
        #[source]
        source: berth_cni::CniError,
    },
    /// containerd could not be started or adopted.
    #[error("containerd")]
    Containerd {
        /// Why.
        #[source]
        source: Box<ContainerdError>,
    },
    /// A call to the container runtime failed.
    #[error("{action}")]
    Runtime {
        /// What was being done.
        action: &'static str,
        /// Why.
        #[source]
        source: Box<RuntimeError>,
    },
    /// The sandbox image could not be built or imported.
    #[error("the sandbox image {reference}")]
    SandboxImage {
        /// `--sandbox-image`.
        reference: String,
        /// Why.
        #[source]
        source: Box<ImageError>,
    },
    /// The service proxy could not start.
    #[error("the service proxy (--no-dataplane runs the node without it)")]
    Proxy {
        /// Why.
        #[source]
        source: ProxyError,
    },
    /// The DNS address could not be put on its link.
    #[error("--dns-address {address}: on link {interface}")]
    DnsAddress {
        /// `--dns-address`.
        address: IpAddr,
        /// `--dns-interface`.
        interface: String,
        /// Why.
        #[source]
        source: Box<berth_cni::net::NlError>,
    },
    /// The DNS process could not be started.
    #[error("the node's DNS process")]
    DnsProcess {
        /// Why.
        #[source]
        source: Box<crate::daemon::DaemonError>,
    },
    /// A blocking step's task failed (panicked).
    #[error("{what}")]
    Task {
        /// The step.
        what: &'static str,
        /// Why.
        #[source]
        source: tokio::task::JoinError,
    },
}
