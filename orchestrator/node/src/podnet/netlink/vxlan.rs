//! The VXLAN device, its VTEP addresses, and the peers' VTEPs: a permanent
//! neighbour entry per peer address and an FDB entry (`self`, with the
//! peer's node IP as `dst`) per peer MAC.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use berth_cni::net::addr;
use futures_util::TryStreamExt;
use nix::errno::Errno;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::link::{InfoData, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::{Handle, LinkUnspec, LinkVxlan};

use super::{errno, req};
use crate::podnet::links::PodNetError;
use crate::podnet::plan::{VXLAN_DEV, VXLAN_PORT, VXLAN_VNI, Vtep, Vxlan, mac_string};

/// The VXLAN device's message, if it exists.
async fn get(h: &Handle) -> Result<Option<LinkMessage>, PodNetError> {
    let mut s = h.link().get().match_name(VXLAN_DEV).execute();
    match s.try_next().await {
        Ok(m) => Ok(m),
        Err(e) if errno(&e) == Some(Errno::ENODEV as i32) => Ok(None),
        Err(e) => Err(req(format!("get link {VXLAN_DEV}"))(e)),
    }
}

/// Whether `m` is a VXLAN device with our VNI and port, from `local`.
fn same(m: &LinkMessage, local: IpAddr) -> bool {
    let mut found = (false, false, false);
    for a in &m.attributes {
        let LinkAttribute::LinkInfo(infos) = a else {
            continue;
        };
        for info in infos {
            let LinkInfo::Data(InfoData::Vxlan(data)) = info else {
                continue;
            };
            for d in data {
                match d {
                    InfoVxlan::Id(id) => found.0 = *id == VXLAN_VNI,
                    InfoVxlan::Local(ip) => found.1 = IpAddr::V4(*ip) == local,
                    InfoVxlan::Local6(ip) => found.1 = IpAddr::V6(*ip) == local,
                    InfoVxlan::Port(p) => found.2 = *p == VXLAN_PORT,
                    _ => {}
                }
            }
        }
    }
    found == (true, true, true)
}

/// Deletes the device if it is there.
pub(super) async fn remove(h: &Handle) -> Result<(), PodNetError> {
    if let Some(m) = get(h).await? {
        delete(h, m.header.index).await?;
    }
    Ok(())
}

async fn delete(h: &Handle, index: u32) -> Result<(), PodNetError> {
    match h.link().del(index).execute().await {
        Err(e) if errno(&e) != Some(Errno::ENODEV as i32) => {
            Err(req(format!("delete link {VXLAN_DEV}"))(e))
        }
        _ => Ok(()),
    }
}

/// Creates the device if it is missing or differs, then sets its MAC, MTU,
/// addresses and state (each idempotent); returns its index.
pub(super) async fn ensure(h: &Handle, v: &Vxlan) -> Result<u32, PodNetError> {
    let local = IpAddr::V4(v.local);
    let existing = match get(h).await? {
        Some(m) if same(&m, local) => Some(m.header.index),
        Some(m) => {
            delete(h, m.header.index).await?;
            None
        }
        None => None,
    };
    if existing.is_none() {
        let dev = berth_cni::net::link::by_name(h, &v.dev)
            .await
            .map_err(|source| PodNetError::Netlink { source })?
            .ok_or_else(|| PodNetError::NoDevice {
                name: v.dev.clone(),
            })?;
        let link = LinkVxlan::new(VXLAN_DEV, VXLAN_VNI)
            .dev(dev.index)
            .local(v.local)
            .port(VXLAN_PORT)
            .learning(false)
            .build();
        h.link()
            .add(link)
            .execute()
            .await
            .map_err(req(format!("add vxlan link {VXLAN_DEV} on {}", v.dev)))?;
    }
    let index = match existing {
        Some(i) => i,
        None => get(h)
            .await?
            .map(|m| m.header.index)
            .ok_or_else(|| PodNetError::NoDevice {
                name: VXLAN_DEV.into(),
            })?,
    };
    let set = LinkUnspec::new_with_index(index)
        .address(v.mac.to_vec())
        .mtu(v.mtu)
        .up()
        .build();
    h.link().set(set).execute().await.map_err(req(format!(
        "set {VXLAN_DEV} address {} mtu {} up",
        mac_string(&v.mac),
        v.mtu
    )))?;
    for vtep in &v.vteps {
        let prefix = if vtep.is_ipv4() { 32 } else { 128 };
        addr::add(h, index, *vtep, prefix, VXLAN_DEV)
            .await
            .map_err(|source| PodNetError::Netlink { source })?;
    }
    Ok(index)
}

/// An entry already gone (replaced along with another) is what a delete
/// wanted.
fn gone_is_fine(e: rtnetlink::Error) -> Result<(), rtnetlink::Error> {
    if errno(&e) == Some(Errno::ENOENT as i32) {
        Ok(())
    } else {
        Err(e)
    }
}

/// The address and link-layer address of a neighbour message.
fn entry(m: &NeighbourMessage) -> Option<(IpAddr, Vec<u8>)> {
    let (mut dst, mut lla) = (None, None);
    for a in &m.attributes {
        match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => {
                dst = Some(IpAddr::V4(*ip));
            }
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => {
                dst = Some(IpAddr::V6(*ip));
            }
            NeighbourAttribute::LinkLayerAddress(l) => lla = Some(l.clone()),
            _ => {}
        }
    }
    Some((dst?, lla?))
}

/// The permanent entries on link `index` of `family` (Unspec: ARP and NDP;
/// Bridge: the FDB), by (address, link-layer address).
async fn permanent(
    h: &Handle,
    index: u32,
    family: AddressFamily,
) -> Result<BTreeMap<(IpAddr, Vec<u8>), NeighbourMessage>, PodNetError> {
    let what = if family == AddressFamily::Bridge {
        "fdb"
    } else {
        "neighbours"
    };
    let mut s = h.neighbours().get().set_address_family(family).execute();
    let mut out = BTreeMap::new();
    while let Some(m) = s
        .try_next()
        .await
        .map_err(req(format!("list {what} of {VXLAN_DEV}")))?
    {
        if m.header.ifindex == index
            && m.header.state == NeighbourState::Permanent
            && let Some(k) = entry(&m)
        {
            out.insert(k, m);
        }
    }
    Ok(out)
}

/// Permanent neighbours and FDB entries for exactly `vteps`.
pub(super) async fn sync_vteps(h: &Handle, index: u32, vteps: &[Vtep]) -> Result<(), PodNetError> {
    let neigh = permanent(h, index, AddressFamily::Unspec).await?;
    let fdb = permanent(h, index, AddressFamily::Bridge).await?;
    let mut want_neigh = BTreeSet::new();
    let mut want_fdb = BTreeSet::new();
    for t in vteps {
        let (mac, dst) = (t.mac.to_vec(), IpAddr::V4(t.node_ip));
        if !neigh.contains_key(&(t.addr, mac.clone())) {
            h.neighbours()
                .add(index, t.addr)
                .link_layer_address(&mac)
                .state(NeighbourState::Permanent)
                .replace()
                .execute()
                .await
                .map_err(req(format!(
                    "neighbour {} lladdr {}",
                    t.addr,
                    mac_string(&t.mac)
                )))?;
        }
        if !fdb.contains_key(&(dst, mac.clone())) {
            h.neighbours()
                .add_bridge(index, &mac)
                .destination(dst)
                .flags(NeighbourFlags::Own)
                .state(NeighbourState::Permanent)
                .replace()
                .execute()
                .await
                .map_err(req(format!("fdb {} dst {dst}", mac_string(&t.mac))))?;
        }
        want_neigh.insert(t.addr);
        want_fdb.insert((dst, mac));
    }
    for ((addr, _), m) in neigh
        .into_iter()
        .filter(|((a, _), _)| !want_neigh.contains(a))
    {
        h.neighbours()
            .del(m)
            .execute()
            .await
            .or_else(gone_is_fine)
            .map_err(req(format!("delete neighbour {addr}")))?;
    }
    for (key, m) in fdb.into_iter().filter(|(k, _)| !want_fdb.contains(k)) {
        h.neighbours()
            .del(m)
            .execute()
            .await
            .or_else(gone_is_fine)
            .map_err(req(format!("delete fdb entry dst {}", key.0)))?;
    }
    Ok(())
}
