//! Berth's socket-level service load balancer, userspace side.
//!
//! * [`Dataplane`]: the API the node agent and `berth dataplane run` use —
//!   upsert a service with its ports and backends, change one port's
//!   backends, delete, list with counters.
//! * [`Lb`]: its implementation over any [`LbMaps`]; [`MemMaps`] is the
//!   in-memory fake for unprivileged tests, [`kernel::BpfMaps`] the pinned
//!   eBPF maps, loaded and attached by [`kernel::start`].
//! * [`config`]: the YAML file of `berth dataplane run --static FILE`.
//!
//! Updates are atomic per frontend: a backend set is written into the
//! other generation of slots and goes live with one master update, so no
//! reader ever sees half of it.

mod backends;
pub mod config;
mod error;
mod ids;
pub mod kernel;
pub mod maglev;
mod maps;
mod mem;
mod model;
pub mod status;
mod table;
mod validate;

pub use error::{Error, MapError};
pub use maps::{Dump, LbMaps, SlotKey};
pub use mem::MemMaps;
pub use model::{
    Algorithm, Backend, BackendOptions, BackendState, DEFAULT_AFFINITY_TIMEOUT,
    DEFAULT_MAGLEV_TABLE_SIZE, Exposure, FrontendKey, Limits, MAX_AFFINITY_TIMEOUT, MAX_WEIGHT,
    Policy, Protocol, Service, ServicePort,
};
pub use status::{BackendStatus, FrontendStatus};
pub use table::{Lb, check};
pub use validate::MAX_NAME_LEN;

/// The data plane as the rest of Berth sees it.
pub trait Dataplane {
    /// Creates or updates a service: its frontends (every VIP × port) and
    /// backends. Frontends whose backends did not change are not touched;
    /// frontends the service no longer has are removed. A service is never
    /// left half-written: on error nothing of a new service remains.
    fn upsert_service(&mut self, svc: &Service) -> Result<(), Error>;

    /// Replaces the backends of one port of a service (both families).
    fn set_backends(
        &mut self,
        service: &str,
        port: u16,
        protocol: Protocol,
        backends: &[Backend],
    ) -> Result<(), Error>;

    /// Removes a service and all its frontends and backends.
    fn delete_service(&mut self, name: &str) -> Result<(), Error>;

    /// Makes the data plane hold exactly `desired` (what a restarted owner
    /// does first): unchanged frontends, also those adopted from pinned
    /// maps, are not touched; services and adopted frontends nobody wants
    /// are removed. Everything is validated before anything is written.
    fn reconcile(&mut self, desired: &[Service]) -> Result<(), Error>;

    /// Names of the services this data plane holds.
    fn service_names(&self) -> Vec<String>;

    /// Every frontend with its backends and counters.
    fn list(&self) -> Result<Vec<FrontendStatus>, MapError>;
}
