//! The benchmark harness behind `berth bench`.
//!
//! * [`lb::run`] (`berth bench lb`): connection latency through a Berth VIP
//!   vs straight to the backend vs kube-proxy-style iptables-legacy and
//!   nftables rules, at several service counts; programming time, backend
//!   change time and kernel memory of the maps. Prints a table, writes
//!   JSON rows. With `--cluster` ([`lbcluster::run`]): backends on the
//!   client's node and on another node of a two-node pod network.
//! * [`cni::run`] (`berth bench cni`): CNI ADD/DEL latency of berth-cni vs
//!   the reference bridge + host-local plugins.
//! * [`dns::run`] (`berth bench dns`): QPS, latency, CPU and memory of
//!   `berth dns` vs Knot DNS under dnsperf, on loopback (no root needed).
//! * [`pods::run`] (`berth bench pods`): pod start-up latency (apply →
//!   Running and Ready) on an in-process server, containerd, berth-cni
//!   and agent, with where the time goes.
//! * [`nodeport::run`] (`berth bench nodeport`): connection latency from
//!   outside a node through Berth's per-packet path (tc) on node ports vs
//!   straight to the backend vs kube-proxy's iptables NodePort rules.
//! * [`demo::run`] (`berth bench demo`): a short, readable demonstration
//!   of the data plane on a LAN of network namespaces.
//!
//! `lb`, `cni` and `demo` run in network namespaces this process creates
//! (`lb` with the data plane in-process, attached to a throw-away cgroup
//! this process joins) and need root; `dns` runs its processes on
//! loopback. All of it is removed on return, on error and on Ctrl-C.

pub mod api;
pub mod cni;
pub mod demo;
pub mod dns;
mod inproc;
mod interrupt;
pub mod lb;
pub mod lbcluster;
mod measure;
pub mod nodeport;
mod peers;
pub mod pods;
mod report;
mod rng;
mod services;
mod stats;
mod sysinfo;
mod tools;
mod topo;
mod workdir;

pub use lb::LbConfig;
