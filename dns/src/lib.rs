//! Berth cluster DNS: the Kubernetes DNS-Based Service Discovery
//! specification (schema 1.1.0) for the cluster zone.
//!
//! Data flows one way: a [`ClusterSource`] (today the static YAML file of
//! [`StaticSource`]) feeds a [`Zone`]; [`answer`] is a pure function from a
//! parsed query to a response; [`Server`] carries it over UDP and TCP.
//! Names outside the zone go to upstream resolvers through the
//! [`Forwarder`] (cache, health checks, failover).

mod answer;
mod forward;
mod lookup;
mod model;
mod names;
mod server;
mod static_source;
mod zone;

pub use answer::answer;
pub use forward::{
    ForwardConfig, ForwardError, ForwardStats, Forwarder, UpstreamStats, upstreams_from_resolv_conf,
};
pub use hickory_proto;
pub use model::{ClusterSource, Endpoint, Endpoints, Pod, Protocol, Service, ServicePort};
pub use server::{ServeError, Server, serve};
pub use static_source::{StaticSource, StaticSourceError};
pub use zone::{DEFAULT_DOMAIN, DEFAULT_TTL, Zone, ZoneConfig, ZoneError};
