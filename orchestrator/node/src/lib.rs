//! The Berth node agent (`berth agent`): our kubelet.
//!
//! - [`agent`]: the agent itself: Node registration, lease, and the pod
//!   worker that runs the pods bound to the node and reports their status.
//! - [`runtime`]: the container runtime as the agent needs it (sandboxes,
//!   containers, images, exec), behind a trait: [`runtime::cri`] speaks
//!   containerd's CRI over its unix socket, [`runtime::fake`] is an
//!   in-memory stand-in for unit tests.
//! - [`image`]: OCI image archives built locally (no registry here) and
//!   imported into containerd; image name normalisation.
//! - [`containerd`]: the containerd the agent starts and supervises (its own
//!   root, state, socket and config).
//! - [`proxy`]: the service proxy: Services and EndpointSlices programmed
//!   into the node's eBPF socket load balancer (berth-dataplane), one
//!   changed Service at a time; pinned maps survive an agent restart.
//! - [`podnet`]: the pod network across nodes (host-gw routes or VXLAN).
//! - [`daemon`]: one long-running `berth` process started in a session of
//!   its own with a pid file, or adopted (the agent's DNS process; `berth
//!   up`'s server and agent).
//! - [`startup`]: the node's whole start-up as one configured sequence:
//!   [`startup::NodeConfig`] validated before anything starts, then the
//!   phases in order (join, CNI, containerd, proxy, DNS process, pod
//!   network, agent loop) and the drain on shutdown.

pub mod agent;
pub mod containerd;
pub mod daemon;
pub mod image;
pub mod podnet;
pub mod proxy;
pub mod runtime;
pub mod startup;
