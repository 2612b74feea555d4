//! Berth cluster DNS: the Kubernetes DNS-Based Service Discovery
//! specification (schema 1.1.0) for the cluster zone, and a forwarder for
//! the rest.
//!
//! Data flows one way: a [`ClusterSource`] (the static file of
//! [`StaticSource`], or a watch through [`run_feed`]) builds a [`Zone`],
//! published through [`zone_channel`] to every worker; [`answer`] is a pure
//! function from a parsed query to a response; the [`Handler`] chains the
//! zone's encoded-answer cache, the zone (with optional autopath) and an
//! [`Upstream`] — the [`Forwarder`] (cache, health checks, failover);
//! [`Server`] carries it over UDP and TCP and [`HealthServer`] serves
//! /healthz, /readyz and /metrics.

mod answer;
mod feed;
mod forward;
mod handler;
mod health;
mod lookup;
pub mod manifest;
mod metrics;
mod model;
mod names;
mod server;
mod static_source;
mod upstream;
mod watch;
mod zone;
mod zones;

pub use answer::answer;
pub use feed::{Change, ClusterCache, ObjectKey, run_feed};
pub use forward::{
    Clock, ForwardConfig, ForwardError, ForwardStats, Forwarder, ManualClock, SystemClock,
    UpstreamStats, upstreams_from_resolv_conf,
};
pub use handler::{Handler, handle_once};
pub use health::{HealthError, HealthServer};
pub use hickory_proto;
pub use metrics::{Metrics, Source};
pub use model::{ClusterSource, Endpoint, Endpoints, Pod, Protocol, Service, ServicePort};
pub use server::{ServeError, Server, serve};
pub use static_source::{StaticSource, StaticSourceError};
pub use upstream::{ForwardFuture, Upstream};
pub use watch::{DEFAULT_POLL, FileWatch, reload_static};
pub use zone::{DEFAULT_DOMAIN, DEFAULT_TTL, Zone, ZoneConfig, ZoneError};
pub use zones::{ZonePublisher, Zones, zone_channel};
