//! The data plane's own small types: services, ports, backends, limits.
//! It knows nothing of the API; the node agent translates Services and
//! EndpointSlices into these.

use std::{
    collections::BTreeMap,
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

use berth_ebpf_common::{PROTO_TCP, PROTO_UDP};

use crate::error::Error;

/// Transport protocol of a service port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl Protocol {
    /// IANA protocol number, as the kernel maps store it.
    pub const fn number(self) -> u8 {
        match self {
            Protocol::Tcp => PROTO_TCP,
            Protocol::Udp => PROTO_UDP,
        }
    }

    /// The protocol for an IANA number, if the load balancer handles it.
    pub const fn from_number(n: u8) -> Option<Self> {
        match n {
            PROTO_TCP => Some(Protocol::Tcp),
            PROTO_UDP => Some(Protocol::Udp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        })
    }
}

impl FromStr for Protocol {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_uppercase().as_str() {
            "TCP" => Ok(Protocol::Tcp),
            "UDP" => Ok(Protocol::Udp),
            _ => Err(Error::invalid("protocol", s, "must be TCP or UDP")),
        }
    }
}

/// One backend of a service port: an address and the port it listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Backend {
    pub addr: IpAddr,
    pub port: u16,
}

impl Backend {
    pub const fn new(addr: IpAddr, port: u16) -> Self {
        Self { addr, port }
    }

    pub const fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }
}

impl From<SocketAddr> for Backend {
    fn from(s: SocketAddr) -> Self {
        Self::new(s.ip(), s.port())
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.socket_addr().fmt(f)
    }
}

/// What a backend takes, beyond its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum BackendState {
    /// Takes new connections.
    #[default]
    Active,
    /// Going away (its pod is terminating): its connections stay, new ones
    /// never pick it, unless no active backend is left (then the
    /// terminating ones serve, as kube-proxy's ProxyTerminatingEndpoints).
    Terminating,
    /// Taken out by health (not ready): its connections stay, new ones
    /// never pick it; it comes back as Active when healthy.
    Quarantined,
}

impl fmt::Display for BackendState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendState::Active => "active",
            BackendState::Terminating => "terminating",
            BackendState::Quarantined => "quarantined",
        })
    }
}

impl FromStr for BackendState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "active" => Ok(BackendState::Active),
            "terminating" => Ok(BackendState::Terminating),
            "quarantined" => Ok(BackendState::Quarantined),
            _ => Err(Error::invalid(
                "state",
                s,
                "must be active, terminating or quarantined",
            )),
        }
    }
}

/// Heaviest weight a backend may have.
pub const MAX_WEIGHT: u16 = 100;

/// A backend's state and weight. Backends without options are active with
/// weight 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BackendOptions {
    pub state: BackendState,
    /// Share of new connections relative to the others (0 = drain: like
    /// terminating, its connections stay and it gets no new one).
    pub weight: u16,
}

impl Default for BackendOptions {
    fn default() -> Self {
        Self {
            state: BackendState::Active,
            weight: 1,
        }
    }
}

/// A port of a service with its backends. For a dual-stack service each
/// VIP is served by the backends of its own address family.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ServicePort {
    /// Optional name (Kubernetes port name); informational here.
    pub name: String,
    pub port: u16,
    pub protocol: Protocol,
    /// Every backend, whatever its state: a backend missing from the list
    /// is removed, and connections through the VIP to it are terminated.
    pub backends: Vec<Backend>,
    /// State and weight of backends that are not active with weight 1.
    pub options: BTreeMap<Backend, BackendOptions>,
    /// The port of this service port on the node's addresses
    /// ([`Service::node_addrs`]): a NodePort. `None`: not served there.
    pub node_port: Option<u16>,
    /// The backends of the external frontends, when they are fewer
    /// (externalTrafficPolicy Local: the node's own); `None`: all.
    pub external_backends: Option<Vec<Backend>>,
}

impl ServicePort {
    /// The options of one of its backends.
    pub fn options_of(&self, b: &Backend) -> BackendOptions {
        self.options.get(b).copied().unwrap_or_default()
    }
}

/// A service: one or more VIPs (dual-stack) and its ports.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Service {
    /// Unique name, e.g. `default/web`.
    pub name: String,
    pub vips: Vec<IpAddr>,
    pub ports: Vec<ServicePort>,
    /// How its frontends pick backends. `policy.exposure` is the VIPs'.
    pub policy: Policy,
    /// More addresses served on the ports, from outside too (externalIPs).
    pub external_ips: Vec<IpAddr>,
    /// The node's addresses: each port with a `node_port` is served on
    /// them, from outside too.
    pub node_addrs: Vec<IpAddr>,
    /// The external frontends keep the client's address and serve only
    /// `external_backends` (externalTrafficPolicy Local).
    pub external_local: bool,
}

impl Service {
    /// The exposure of its external frontends (externalIPs, node ports).
    pub const fn external_exposure(&self) -> Exposure {
        if self.external_local {
            Exposure::ExternalLocal
        } else {
            Exposure::External
        }
    }
}

/// Kubernetes' default `sessionAffinityConfig.clientIP.timeoutSeconds`.
pub const DEFAULT_AFFINITY_TIMEOUT: u32 = 10_800;
/// Kubernetes' upper bound for the same field (one day).
pub const MAX_AFFINITY_TIMEOUT: u32 = 86_400;

/// How a backend is picked for a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Algorithm {
    /// Uniformly at random (kube-proxy's and Cilium's socket LB default).
    #[default]
    Random,
    /// Maglev consistent hashing of the client: a backend change moves
    /// about 1/N of the clients. Each such frontend has its own table.
    Maglev,
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Algorithm::Random => "random",
            Algorithm::Maglev => "maglev",
        })
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "random" => Ok(Algorithm::Random),
            "maglev" => Ok(Algorithm::Maglev),
            _ => Err(Error::invalid("algorithm", s, "must be random or maglev")),
        }
    }
}

/// Who reaches a service's frontends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Exposure {
    /// The node's own sockets only (a ClusterIP): the socket hooks. The
    /// VIP is the service's own: other ports of it are refused.
    #[default]
    Internal,
    /// Also packets from outside (a NodePort on a node address, an
    /// externalIP), SNATed to the node (externalTrafficPolicy Cluster).
    /// The address is not the service's: other ports of it are left alone.
    External,
    /// From outside with the client's address kept (externalTrafficPolicy
    /// Local): only local backends should be listed.
    ExternalLocal,
}

impl Exposure {
    /// Whether the frontend's address is a VIP of its own (a `VIP4`/`VIP6`
    /// marker, so that its other ports are refused).
    pub const fn marks_vip(self) -> bool {
        matches!(self, Exposure::Internal)
    }
}

impl fmt::Display for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Exposure::Internal => "internal",
            Exposure::External => "external",
            Exposure::ExternalLocal => "external-local",
        })
    }
}

impl FromStr for Exposure {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "internal" => Ok(Exposure::Internal),
            "external" => Ok(Exposure::External),
            "external-local" => Ok(Exposure::ExternalLocal),
            _ => Err(Error::invalid(
                "exposure",
                s,
                "must be internal, external or external-local",
            )),
        }
    }
}

/// Backend selection of a service's frontends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Policy {
    /// sessionAffinity ClientIP: a client keeps its backend while it
    /// connects again within this many seconds (1-86400). The client is its
    /// network namespace: at the socket layer, the pod.
    pub affinity_timeout: Option<u32>,
    pub algorithm: Algorithm,
    /// Who reaches the frontends.
    pub exposure: Exposure,
}

impl Policy {
    /// Affinity with Kubernetes' default timeout.
    pub const fn client_ip() -> Self {
        Self {
            affinity_timeout: Some(DEFAULT_AFFINITY_TIMEOUT),
            algorithm: Algorithm::Random,
            exposure: Exposure::Internal,
        }
    }
}

/// What the kernel keys a service on: one VIP, one port, one protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrontendKey {
    pub vip: IpAddr,
    pub port: u16,
    pub protocol: Protocol,
}

impl fmt::Display for FrontendKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            SocketAddr::new(self.vip, self.port),
            self.protocol
        )
    }
}

/// Capacity of the data plane, fixed when the maps are created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Frontends (VIP, port, protocol) in all.
    pub frontends: u32,
    /// Backends in all (a backend serving two frontends counts twice).
    pub backends: u32,
    /// Backends of one frontend.
    pub backends_per_frontend: u16,
    /// Frontends with a Maglev table: each table is locked kernel memory
    /// (`maglev_table_size` × 8 bytes: array values are 8-byte aligned), so
    /// they are capped: 256 tables of 16,381 entries are 32 MiB.
    pub maglev_frontends: u32,
    /// Entries of each Maglev table: a prime, well above the backends of a
    /// frontend (Maglev's M; 100 × N keeps the imbalance under 1%).
    pub maglev_table_size: u32,
}

/// Default Maglev table size (Cilium's default M).
pub const DEFAULT_MAGLEV_TABLE_SIZE: u32 = 16_381;

impl Default for Limits {
    /// Room for 100,000 dual-stack services with a port each and 1,000,000
    /// backends; kernel memory grows with what is used, not with the limit,
    /// except for the per-CPU counters.
    fn default() -> Self {
        Self {
            frontends: 262_144,
            backends: 1_048_576,
            backends_per_frontend: 16_384,
            maglev_frontends: 256,
            maglev_table_size: DEFAULT_MAGLEV_TABLE_SIZE,
        }
    }
}

impl Limits {
    /// Entries the service map needs: masters, live slots, and room for one
    /// frontend's second generation while its backend set is replaced.
    pub const fn service_map_entries(&self) -> u32 {
        self.frontends + self.backends + self.backends_per_frontend as u32
    }
}
