//! The data plane's own small types: services, ports, backends, limits.
//! It knows nothing of the API; the node agent translates Services and
//! EndpointSlices into these.

use std::{
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

/// A port of a service with its backends. For a dual-stack service each
/// VIP is served by the backends of its own address family.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ServicePort {
    /// Optional name (Kubernetes port name); informational here.
    pub name: String,
    pub port: u16,
    pub protocol: Protocol,
    pub backends: Vec<Backend>,
}

/// A service: one or more VIPs (dual-stack) and its ports.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Service {
    /// Unique name, e.g. `default/web`.
    pub name: String,
    pub vips: Vec<IpAddr>,
    pub ports: Vec<ServicePort>,
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
}

impl Default for Limits {
    /// Room for 100,000 dual-stack services with a port each and 1,000,000
    /// backends; kernel memory grows with what is used, not with the limit,
    /// except for the per-CPU counters.
    fn default() -> Self {
        Self {
            frontends: 262_144,
            backends: 1_048_576,
            backends_per_frontend: 16_384,
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
