//! Test fixtures for Berth: network namespaces, veth pairs, bridges, a
//! switched LAN of namespace "hosts", cgroups, commands that start inside
//! them, echo servers and clients, and cleanup of leftovers from killed runs.
//!
//! Everything here creates real kernel objects and needs root. Every object
//! removes what it created when dropped (also during a panic unwind) and
//! never touches anything it did not create. All names start with
//! [`name::PREFIX`] (`bt`) or [`name::LONG_PREFIX`] (`berth-test-`) and embed
//! the owner's pid, so parallel tests and processes never collide and
//! [`cleanup::stale`] can recognise what a dead process left behind.

pub mod bridge;
pub mod cgroup;
pub mod cleanup;
pub mod cluster;
pub mod cmd;
pub mod crash;
pub mod echo;
pub mod error;
mod ip;
pub mod lan;
pub mod leftovers;
pub mod name;
pub mod netns;
mod place;
mod sock;
pub mod veth;
pub mod vm;

pub use bridge::Bridge;
pub use cgroup::Cgroup;
pub use cmd::NsCommand;
pub use echo::{TcpEcho, UdpEcho};
pub use error::{Error, Result};
pub use lan::{Host, Lan, SETTLE_TIMEOUT};
pub use netns::Netns;
pub use veth::Veth;
