//! The cluster objects DNS answers from, and the trait that supplies them.

use std::net::IpAddr;

/// A Service as DNS sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Namespace of the service (a DNS label).
    pub namespace: String,
    /// Name of the service (a DNS label).
    pub name: String,
    /// Cluster IPs (at most one IPv4 and one IPv6); empty for headless and
    /// ExternalName services.
    pub cluster_ips: Vec<IpAddr>,
    /// A headless service: no cluster IP, answers with endpoint addresses.
    pub headless: bool,
    /// Ports; the named ones get SRV records.
    pub ports: Vec<ServicePort>,
    /// An ExternalName service: answered with a CNAME to this name.
    pub external_name: Option<String>,
}

/// One port of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// Port name (a DNS label); unnamed ports get no SRV record.
    pub name: Option<String>,
    /// Transport protocol.
    pub protocol: Protocol,
    /// Port number.
    pub port: u16,
}

/// Transport protocol of a port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Namespace of the service.
    pub namespace: String,
    /// Name of the service.
    pub service: String,
    /// The endpoints.
    pub endpoints: Vec<Endpoint>,
}

/// One endpoint (one pod) behind a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Addresses of the endpoint (IPv4 and/or IPv6).
    pub addresses: Vec<IpAddr>,
    /// Hostname (a DNS label), giving `<hostname>.<svc>.<ns>.svc.<zone>`.
    pub hostname: Option<String>,
    /// Whether the endpoint is ready; only ready endpoints are published.
    pub ready: bool,
    /// The ports of its EndpointSlice: a headless service's SRV records
    /// carry these (the endpoint's port, as CoreDNS), else the service's.
    pub ports: Vec<ServicePort>,
}

/// A pod, for `a-b-c-d.<ns>.pod.<zone>` records.
#[derive(Debug, Clone, PartialEq, Eq)]
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
