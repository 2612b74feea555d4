//! Linux bridges.

use crate::error::Result;
use crate::ip;
use crate::name;
use crate::netns::Netns;
use crate::place::Place;

/// A Linux bridge (up, multicast snooping off) in a namespace.
/// Dropping it deletes the bridge; attached ports are released, not deleted.
#[derive(Debug)]
pub struct Bridge {
    name: String,
    place: Place,
}

impl Bridge {
    /// Creates a bridge in `ns` (`None`: the calling thread's namespace).
    pub fn new(ns: Option<&Netns>) -> Result<Bridge> {
        let bridge = Bridge {
            name: name::unique("b"),
            place: Place::of(ns)?,
        };
        bridge.place.ip(&[
            "link",
            "add",
            &bridge.name,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        bridge.place.ip(&["link", "set", &bridge.name, "up"])?;
        tracing::debug!(bridge = %bridge.name, "created bridge");
        Ok(bridge)
    }

    /// The bridge's interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Enslaves interface `ifname`, which currently lives in `ns` (`None`:
    /// the calling thread's namespace), moving it into the bridge's namespace
    /// first if needed, and sets it up.
    pub fn attach(&self, ifname: &str, ns: Option<&Netns>) -> Result<()> {
        let from = Place::of(ns)?;
        if from.ino() != self.place.ino() {
            from.ip(&["link", "set", ifname, "netns", &self.place.netns_arg()])?;
        }
        self.place
            .ip(&["link", "set", ifname, "master", &self.name, "up"])
            .map(drop)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        match self.place.ip(&["link", "del", &self.name]) {
            Ok(_) => tracing::debug!(bridge = %self.name, "deleted bridge"),
            Err(e) if ip::is_gone(&e) => {
                tracing::debug!(bridge = %self.name, "bridge already gone")
            }
            Err(e) => tracing::warn!(
                bridge = %self.name, place = %self.place.describe(), error = %e,
                "could not delete bridge"
            ),
        }
    }
}
