//! The benchmark harness behind `berth bench`.
//!
//! * [`lb::run`] (`berth bench lb`): connection latency through a Berth VIP
//!   vs straight to the backend vs kube-proxy-style iptables-legacy and
//!   nftables rules, at several service counts; programming time, backend
//!   change time and kernel memory of the maps. Prints a table, writes
//!   JSON rows.
//! * [`demo::run`] (`berth bench demo`): a short, readable demonstration
//!   of the data plane on a LAN of network namespaces.
//!
//! Everything runs in network namespaces this process creates, with the
//! data plane in-process, attached to a throw-away cgroup this process
//! joins; all of it is removed on return, on error and on Ctrl-C. Needs
//! root.

pub mod api;
pub mod cni;
pub mod demo;
mod inproc;
mod interrupt;
pub mod lb;
mod measure;
mod peers;
mod report;
mod rng;
mod services;
mod stats;
mod sysinfo;
mod topo;

pub use lb::LbConfig;
