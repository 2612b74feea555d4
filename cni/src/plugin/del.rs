//! DEL: remove the veth and free the addresses. Idempotent, and complete
//! even when the container's namespace is already gone.

use super::PluginError;
use crate::config::NetConf;
use crate::env::Attachment;
use crate::ipam::{Ipam, Owner};
use crate::net::{self, Netlink, link, masq};

pub(super) fn del(conf: &NetConf, att: &Attachment) -> Result<(), PluginError> {
    let nl = Netlink::open()?;
    if let Some(path) = att.netns.as_deref() {
        // A namespace that cannot be opened or entered is gone: the kernel
        // removed its interfaces with it.
        match net::open_netns(path).and_then(|f| nl.open_in(&f, path)) {
            Ok(container) => {
                let ifname = &att.ifname;
                if let Some(l) = nl.block_on(link::by_name(&container, ifname))?
                    && l.kind.as_deref() == Some("veth")
                {
                    // Deleting one end removes the pair.
                    nl.block_on(link::delete_by_name(&container, ifname))?;
                }
            }
            Err(e) => tracing::debug!(error = %e, "DEL: container namespace gone"),
        }
    }
    let host_veth = net::host_veth_name(&conf.name, &att.container_id, &att.ifname);
    nl.block_on(link::delete_by_name(&nl.host(), &host_veth))?;
    if conf.ip_masq {
        let removed = masq::remove(&masq::tag(&conf.name, &att.container_id, &att.ifname))?;
        tracing::debug!(removed, "DEL: removed masquerade rules");
    }
    let freed =
        Ipam::open(&conf.ipam, &conf.name)?.release(&Owner::new(&att.container_id, &att.ifname))?;
    tracing::debug!(?freed, "DEL: released addresses");
    Ok(())
}
