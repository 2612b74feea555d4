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

/// Gives this namespace the node-local address `ip` (a /32 or /128) on the
/// dummy link `name`, creating the link if needed: where a node-level
/// service (the node's DNS server) listens for the pods.
pub fn ensure_local_address(name: &str, ip: std::net::IpAddr) -> Result<(), NlError> {
    let nl = Netlink::open()?;
    let h = nl.host();
    nl.block_on(async {
        let link = link::ensure_dummy(&h, name).await?;
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        addr::add(&h, link.index, ip, prefix, name).await
    })
}
