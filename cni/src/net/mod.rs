//! Kernel networking through netlink: bridge, veth pair, addresses, routes.

pub mod addr;
pub mod link;
pub mod masq;
mod names;
mod nl;
pub mod sysctl;

pub use self::link::{BridgeSpec, Link, VethSpec};
pub use self::names::host_veth_name;
pub use self::nl::{Netlink, NlError, open_netns};
