//! The cluster objects DNS answers from, and the trait that supplies them.

use std::net::IpAddr;

use serde::Deserialize;

/// A Service as DNS sees it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    /// Namespace of the service (a DNS label).
    pub namespace: String,
    /// Name of the service (a DNS label).
    pub name: String,
    /// Cluster IPs (at most one IPv4 and one IPv6); empty for headless and
    /// ExternalName services.
    #[serde(default, rename = "clusterIPs")]
    pub cluster_ips: Vec<IpAddr>,
    /// A headless service: no cluster IP, answers with endpoint addresses.
    #[serde(default)]
    pub headless: bool,
    /// Ports; the named ones get SRV records.
    #[serde(default)]
    pub ports: Vec<ServicePort>,
    /// An ExternalName service: answered with a CNAME to this name.
    #[serde(default)]
    pub external_name: Option<String>,
}

/// One port of a service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePort {
    /// Port name (a DNS label); unnamed ports get no SRV record.
    #[serde(default)]
    pub name: Option<String>,
    /// Transport protocol.
    #[serde(default)]
    pub protocol: Protocol,
    /// Port number.
    pub port: u16,
}

/// Transport protocol of a port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The SRV label without its underscore: `tcp`, `udp` or `sctp`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }
}

/// The endpoints of one service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    /// Namespace of the service.
    pub namespace: String,
    /// Name of the service.
    pub service: String,
    /// The endpoints.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

/// One endpoint (one pod) behind a service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// Addresses of the endpoint (IPv4 and/or IPv6).
    pub addresses: Vec<IpAddr>,
    /// Hostname (a DNS label), giving `<hostname>.<svc>.<ns>.svc.<zone>`.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Whether the endpoint is ready; only ready endpoints are published.
    #[serde(default = "default_ready")]
    pub ready: bool,
}

fn default_ready() -> bool {
    true
}

/// A pod, for `a-b-c-d.<ns>.pod.<zone>` records.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pod {
    /// Namespace of the pod.
    pub namespace: String,
    /// The pod IP.
    pub ip: IpAddr,
}

/// Where the zone's data comes from: a static file today, a watch of the
/// control plane later.
pub trait ClusterSource {
    /// Every service.
    fn services(&self) -> Vec<Service>;
    /// The endpoints of every service that has some.
    fn endpoints(&self) -> Vec<Endpoints>;
    /// Every pod.
    fn pods(&self) -> Vec<Pod>;
}
