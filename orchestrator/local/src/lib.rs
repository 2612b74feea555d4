//! A Berth cluster on this machine, as `berth up` and `berth down` run it.
//!
//! * [`Layout`]: where the cluster keeps its state, runtime files, logs and
//!   BPF pins (defaults `/var/lib/berth`, `/run/berth`, `/sys/fs/bpf/berth`).
//! * [`Daemon`]: one long-running `berth` process (the server, the agent)
//!   started in a session of its own, recorded in a pid file, adopted when
//!   it already runs, stopped with SIGTERM then SIGKILL.
//! * [`demo`]: the demo application's manifest and what `berth up` checks
//!   with it; [`latency`]: connect + request latency from this host, VIP vs
//!   a pod's own address.
//! * [`leftovers`]: what of Berth is still on the host (processes, pins,
//!   interfaces, namespaces, mounts) — `berth down --purge` must leave none.
//!
//! The orchestration itself (which command runs when) is in the binary's
//! `up` command; this crate holds the parts it is made of.

pub mod daemon;
pub mod demo;
pub mod latency;
mod layout;
pub mod leftovers;

pub use daemon::{Daemon, DaemonError};
pub use layout::Layout;
