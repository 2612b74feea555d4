//! Errors of the service proxy.

use std::path::PathBuf;

use berth_dataplane::kernel::KernelError;

/// Why the proxy could not program the data plane or start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Programming one service failed; what was programmed before stays.
    #[error("programming service {service}")]
    Program {
        /// `<namespace>/<name>`.
        service: String,
        /// Why.
        #[source]
        source: Box<berth_dataplane::Error>,
    },
    /// Removing one service failed.
    #[error("removing service {service}")]
    Remove {
        /// `<namespace>/<name>`.
        service: String,
        /// Why.
        #[source]
        source: Box<berth_dataplane::Error>,
    },
    /// The start-up reconcile of everything against the pinned maps failed.
    #[error("reconciling the data plane with the API ({services} services)")]
    Reconcile {
        /// How many services were wanted.
        services: usize,
        /// Why.
        #[source]
        source: Box<berth_dataplane::Error>,
    },
    /// The thread that attaches the node-port program could not start.
    #[error("starting the node-port device thread")]
    Thread {
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No cgroup-v2 root was found to attach to.
    #[error("finding the cgroup-v2 root (pass --cgroup-root)")]
    CgroupRoot {
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Loading, attaching or adopting the eBPF data plane failed.
    #[error("starting the eBPF data plane (bpffs {bpffs}, cgroup {cgroup})")]
    Kernel {
        /// The pin directory.
        bpffs: PathBuf,
        /// The cgroup attached to.
        cgroup: PathBuf,
        /// Why.
        #[source]
        source: Box<KernelError>,
    },
}
