//! GC (free every reservation, and its host veth, not in the runtime's list
//! of valid attachments) and STATUS (is there an address left to give?).

use super::PluginError;
use crate::config::NetConf;
use crate::error::CniError;
use crate::ipam::{Ipam, Owner, Reservation};
use crate::net::{self, Netlink, link, masq};

/// Frees every reservation of `conf`'s network whose (container id, ifname)
/// is not in `valid`, and deletes the host veths of the freed attachments.
/// Returns the freed reservations. This is what `CNI_COMMAND=GC` does; the
/// node agent calls it at start with the sandboxes that still exist.
pub fn gc(conf: &NetConf, valid: &[(String, String)]) -> Result<Vec<Reservation>, CniError> {
    gc_inner(conf, valid).map_err(|e| e.to_cni())
}

/// STATUS: `Ok` when every range set has a free address; otherwise code 50
/// naming the exhausted range set.
pub fn status(conf: &NetConf) -> Result<(), CniError> {
    status_inner(conf).map_err(|e| e.to_cni())
}

pub(super) fn gc_inner(
    conf: &NetConf,
    valid: &[(String, String)],
) -> Result<Vec<Reservation>, PluginError> {
    let valid: Vec<Owner> = valid
        .iter()
        .map(|(id, ifname)| Owner::new(id, ifname))
        .collect();
    let freed = Ipam::open(&conf.ipam, &conf.name)?.gc(&valid)?;
    let owners: Vec<&Owner> = freed.iter().filter_map(|r| r.owner.as_ref()).collect();
    if !owners.is_empty() {
        let nl = Netlink::open()?;
        let host = nl.host();
        for o in owners {
            let name = net::host_veth_name(&conf.name, &o.container_id, &o.ifname);
            match nl.block_on(link::delete_by_name(&host, &name)) {
                Ok(true) => tracing::info!(veth = %name, "GC: deleted stale host veth"),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(veth = %name, error = %e, "GC: could not delete host veth")
                }
            }
            if conf.ip_masq {
                let tag = masq::tag(&conf.name, &o.container_id, &o.ifname);
                match masq::remove(&tag) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(%tag, rules = n, "GC: deleted masquerade rules"),
                    Err(e) => {
                        tracing::warn!(%tag, error = %e, "GC: could not delete masquerade rules")
                    }
                }
            }
        }
    }
    for r in &freed {
        tracing::info!(ip = %r.ip, owner = ?r.owner, "GC: freed reservation");
    }
    Ok(freed)
}

pub(super) fn status_inner(conf: &NetConf) -> Result<(), PluginError> {
    for u in Ipam::open(&conf.ipam, &conf.name)?.usage()? {
        if u.is_exhausted() {
            return Err(PluginError::PoolExhausted {
                set: u.set,
                ranges: u.ranges,
                capacity: u.capacity,
            });
        }
    }
    Ok(())
}
