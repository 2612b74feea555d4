//! CHECK: the container interface exists, is up, carries every address
//! reserved for it, and its veth peer is a port of the bridge. With
//! `prevResult` (the final result of the list): the container interface is
//! listed there with every reserved address, carries every address listed
//! for it, and has the MAC listed for it.

use std::net::IpAddr;

use super::{PluginError, chain};
use crate::config::NetConf;
use crate::env::Attachment;
use crate::ipam::{Ipam, Owner};
use crate::net::{self, Netlink, addr, link};

pub(super) fn check(conf: &NetConf, att: &Attachment) -> Result<(), PluginError> {
    let fail = |what: String| PluginError::Check { what };
    let path = att.netns.as_deref().ok_or(crate::env::EnvError::Missing {
        var: "CNI_NETNS",
        command: "CHECK",
    })?;
    let netns = net::open_netns(path)?;
    let nl = Netlink::open()?;
    let container = nl.open_in(&netns, path)?;
    let ifname = &att.ifname;
    let cont = nl
        .block_on(link::by_name(&container, ifname))?
        .ok_or_else(|| {
            fail(format!(
                "interface {ifname} not found in {}",
                path.display()
            ))
        })?;
    if !cont.up {
        return Err(fail(format!("interface {ifname} is down")));
    }
    let present = nl.block_on(addr::list(&container, cont.index))?;
    let mut expected: Vec<(IpAddr, u8)> = Ipam::open(&conf.ipam, &conf.name)?
        .allocations_of(&Owner::new(&att.container_id, ifname))?
        .into_iter()
        .map(|a| (a.ip, a.prefix_len))
        .collect();
    if expected.is_empty() {
        return Err(fail(format!(
            "no address is reserved for container {:?} interface {ifname}",
            att.container_id
        )));
    }
    if let Some(prev) = &conf.prev_result {
        let want = chain::expected_for(&chain::parse_prev(prev)?, ifname)?;
        for (ip, prefix) in &expected {
            if !want.ips.contains(&(*ip, *prefix)) {
                return Err(fail(format!(
                    "prevResult.ips: reserved address {ip}/{prefix} of {ifname} missing"
                )));
            }
        }
        if let Some(mac) = want.mac
            && mac != cont.mac
        {
            return Err(fail(format!(
                "interface {ifname} has MAC {}, prevResult says {mac}",
                cont.mac
            )));
        }
        expected.extend(want.ips);
    }
    if let Some(mac) = conf.mac
        && mac.to_string() != cont.mac
    {
        return Err(fail(format!(
            "interface {ifname} has MAC {}, the configuration asks for {mac}",
            cont.mac
        )));
    }
    for (ip, prefix) in expected {
        if !present
            .iter()
            .any(|n| n.addr() == ip && n.prefix_len() == prefix)
        {
            return Err(fail(format!("address {ip}/{prefix} missing on {ifname}")));
        }
    }
    let host_veth = net::host_veth_name(&conf.name, &att.container_id, ifname);
    let host = nl
        .block_on(link::by_name(&nl.host(), &host_veth))?
        .ok_or_else(|| fail(format!("host veth {host_veth} not found")))?;
    let bridge = nl
        .block_on(link::by_name(&nl.host(), &conf.bridge))?
        .ok_or_else(|| fail(format!("bridge {} not found", conf.bridge)))?;
    if host.controller != Some(bridge.index) {
        return Err(fail(format!(
            "host veth {host_veth} is not a port of bridge {}",
            conf.bridge
        )));
    }
    Ok(())
}
