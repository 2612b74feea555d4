//! veth pairs between two namespaces.

use crate::error::{Error, Result};
use crate::ip;
use crate::name;
use crate::netns::Netns;
use crate::place::Place;

/// A veth pair with end A in one namespace and end B in another (or in the
/// namespace of the thread that created it). Both ends are up.
/// Dropping it deletes the pair.
#[derive(Debug)]
pub struct Veth {
    a_name: String,
    b_name: String,
    a: Place,
    b: Place,
}

impl Veth {
    /// Creates a pair: end A in `a`, end B in `b` (`None`: the calling
    /// thread's current namespace, normally the host's).
    pub fn new(a: &Netns, b: Option<&Netns>) -> Result<Veth> {
        let veth = Veth {
            a_name: name::unique("v"),
            b_name: name::unique("v"),
            a: Place::of(Some(a))?,
            b: Place::of(b)?,
        };
        // Create from B's side, placing A straight into its (named) namespace.
        veth.b.ip(&[
            "link",
            "add",
            &veth.b_name,
            "type",
            "veth",
            "peer",
            "name",
            &veth.a_name,
            "netns",
            a.name(),
        ])?;
        // From here on, dropping `veth` removes the pair.
        veth.b.ip(&["link", "set", &veth.b_name, "up"])?;
        veth.a.ip(&["link", "set", &veth.a_name, "up"])?;
        tracing::debug!(a = %veth.a_name, b = %veth.b_name, "created veth pair");
        Ok(veth)
    }

    /// Name of end A (in the first namespace).
    pub fn a_name(&self) -> &str {
        &self.a_name
    }

    /// Name of end B (in the second namespace).
    pub fn b_name(&self) -> &str {
        &self.b_name
    }

    /// Adds an address (`"10.0.0.1/24"`, `"fd00::1/64"`) to end A.
    /// IPv6 addresses skip duplicate address detection.
    pub fn add_addr_a(&self, cidr: &str) -> Result<()> {
        add_addr(&self.a, &self.a_name, cidr)
    }

    /// Adds an address to end B (see [`Veth::add_addr_a`]).
    pub fn add_addr_b(&self, cidr: &str) -> Result<()> {
        add_addr(&self.b, &self.b_name, cidr)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // Deleting either end deletes both; try A, then B in case A was moved
        // (e.g. into a bridge's namespace). A vanished namespace took the pair
        // with it.
        let Err(first) = self.a.ip(&["link", "del", &self.a_name]) else {
            tracing::debug!(a = %self.a_name, "deleted veth pair");
            return;
        };
        match self.b.ip(&["link", "del", &self.b_name]) {
            Ok(_) => tracing::debug!(b = %self.b_name, "deleted veth pair"),
            Err(e) if ip::is_gone(&e) && ip::is_gone(&first) => {
                tracing::debug!(a = %self.a_name, "veth pair already gone");
            }
            Err(e) => tracing::warn!(
                a = %self.a_name, b = %self.b_name, error = %e, first_error = %first,
                "could not delete veth pair"
            ),
        }
    }
}

/// `ip addr add CIDR dev IFNAME [nodad]` in `place`.
pub(crate) fn add_addr(place: &Place, ifname: &str, cidr: &str) -> Result<()> {
    let v6 = check_cidr(cidr)?;
    let mut args = vec!["addr", "add", cidr, "dev", ifname];
    if v6 {
        args.push("nodad");
    }
    place.ip(&args).map(drop)
}

/// Validates `ADDR/LEN`; returns whether it is IPv6.
pub(crate) fn check_cidr(cidr: &str) -> Result<bool> {
    let invalid = |reason: &str| Error::Invalid {
        what: "CIDR",
        value: cidr.to_owned(),
        reason: reason.to_owned(),
    };
    let (addr, len) = cidr
        .split_once('/')
        .ok_or_else(|| invalid("expected ADDR/LEN"))?;
    let addr: std::net::IpAddr = addr.parse().map_err(|_| invalid("bad address"))?;
    let len: u8 = len.parse().map_err(|_| invalid("bad prefix length"))?;
    let max = if addr.is_ipv6() { 128 } else { 32 };
    if len > max {
        return Err(invalid("prefix length too large"));
    }
    Ok(addr.is_ipv6())
}
