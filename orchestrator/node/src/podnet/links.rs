//! The root-only boundary of the pod network: the node's links, routes,
//! neighbours and FDB. [`NodeLinks`] is implemented by
//! [`super::netlink::NetlinkLinks`] (rtnetlink, in the caller's network
//! namespace) and by [`FakeLinks`] for unit tests.

use std::net::IpAddr;

use super::plan::{Plan, Underlay};

/// The routing protocol number Berth's routes carry (`proto 195`, unassigned in iproute2's rt_protos): only
/// routes with it are ever changed or removed.
pub const ROUTE_PROTO: u8 = 195;

/// Errors of the pod network.
#[derive(Debug, thiserror::Error)]
pub enum PodNetError {
    /// A netlink request failed (the message names the request).
    #[error("pod network: {source}")]
    Netlink {
        #[source]
        source: berth_cni::net::NlError,
    },
    /// A device a route or the VXLAN link needs is not there.
    #[error("device {name} does not exist in this network namespace")]
    NoDevice { name: String },
    /// A route or entry the plan holds cannot be written.
    #[error("{what}")]
    Invalid { what: String },
    /// The node IP is on no interface.
    #[error("node IP {ip} is on no interface of this network namespace")]
    NoUnderlay { ip: IpAddr },
    /// A sysctl could not be read or written.
    #[error("setting {path} to {value}")]
    Sysctl {
        path: &'static str,
        value: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// The node's network configuration, as far as the pod network goes.
pub trait NodeLinks: Send {
    /// The interface holding `ip`, its subnets (IPv4 and IPv6, not
    /// link-local) and MTU.
    fn underlay(&self, ip: IpAddr) -> Result<Underlay, PodNetError>;
    /// Makes routes (of [`ROUTE_PROTO`]), the VXLAN device and its peers'
    /// VTEPs what `plan` says, writing only what differs.
    fn apply(&mut self, plan: &Plan) -> Result<(), PodNetError>;
}

/// In-memory [`NodeLinks`]: records each plan applied.
#[derive(Debug, Default)]
pub struct FakeLinks {
    /// What `underlay` answers.
    pub underlay: Option<Underlay>,
    /// Every plan applied, in order.
    pub applied: Vec<Plan>,
}

impl NodeLinks for FakeLinks {
    fn underlay(&self, ip: IpAddr) -> Result<Underlay, PodNetError> {
        self.underlay.clone().ok_or(PodNetError::NoUnderlay { ip })
    }

    fn apply(&mut self, plan: &Plan) -> Result<(), PodNetError> {
        self.applied.push(plan.clone());
        Ok(())
    }
}
