//! A Berth cluster on this machine, as `berth up` and `berth down` run it.
//!
//! * [`up()`]: `berth up` itself — the daemons started or adopted, the
//!   waits, the credentials copy, the busybox image, the demo — telling
//!   each step as an [`Event`]; the binary maps its flags onto [`Up`] and
//!   prints the events.
//! * [`Config`]: where the cluster lives and how its daemons run (`berth
//!   up`, `down` and `status` take the same); [`Layout`]: its paths
//!   (defaults `/var/lib/berth`, `/run/berth`, `/sys/fs/bpf/berth`).
//! * The server and the agent run as `berth_node::daemon::Daemon`s:
//!   started in a session of their own, recorded in a pid file, adopted when
//!   they already run, stopped with SIGTERM then SIGKILL.
//! * [`wait`]: the server answering, a node Ready, containerd answering,
//!   the demo's pods Ready.
//! * [`image`]: the busybox image, imported when containerd lacks this
//!   build of it.
//! * [`demo`]: the demo application's manifest, its run and its checks;
//!   [`latency`]: connect + request latency from this host, VIP vs a pod's
//!   own address.
//! * [`leftovers`]: what of Berth is still on the host (processes, pins,
//!   interfaces, namespaces, mounts) — `berth down --purge` must leave none.

mod config;
pub mod demo;
pub mod image;
pub mod latency;
mod layout;
pub mod leftovers;
mod up;
pub mod wait;

pub use config::Config;
pub use layout::Layout;
pub use up::{Event, Up, UpError, up};
