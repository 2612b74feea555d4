//! Routes of [`ROUTE_PROTO`] in the main table: exactly the plan's.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures_util::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol,
};
use rtnetlink::{Handle, RouteMessageBuilder};

use super::req;
use crate::podnet::links::{PodNetError, ROUTE_PROTO};
use crate::podnet::plan::{Family, Route};

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(ip) => Some(IpAddr::V4(*ip)),
        RouteAddress::Inet6(ip) => Some(IpAddr::V6(*ip)),
        _ => None,
    }
}

/// A dumped route as a [`Route`], if it is ours (our protocol, the main
/// table, a gateway and a device).
fn ours(m: &RouteMessage, family: Family, names: &BTreeMap<u32, String>) -> Option<Route> {
    if m.header.protocol != RouteProtocol::from(ROUTE_PROTO)
        || m.header.table != RouteHeader::RT_TABLE_MAIN
    {
        return None;
    }
    let (mut dst, mut via, mut dev) = (None, None, None);
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => dst = ip_of(d),
            RouteAttribute::Gateway(g) => via = ip_of(g),
            RouteAttribute::Oif(i) => dev = names.get(i).cloned(),
            _ => {}
        }
    }
    // No RTA_DST: the default route of the family.
    let dst = dst.unwrap_or(match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    Some(Route {
        dst: IpNet::new(dst, m.header.destination_prefix_length).ok()?,
        via: via?,
        dev: dev?,
        onlink: m.header.flags.contains(RouteFlags::Onlink),
    })
}

/// The route message for `r`, tagged with [`ROUTE_PROTO`].
fn message(r: &Route, index: u32) -> Result<RouteMessage, PodNetError> {
    // (rtnetlink does not export its builder's error type.)
    let invalid = |e: &dyn std::fmt::Display| PodNetError::Invalid {
        what: format!("route {} via {}: {e}", r.dst, r.via),
    };
    let mut b = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(r.dst.addr(), r.dst.prefix_len())
        .map_err(|e| invalid(&e))?
        .gateway(r.via)
        .map_err(|e| invalid(&e))?
        .output_interface(index)
        .protocol(RouteProtocol::from(ROUTE_PROTO));
    if r.onlink {
        b = b.onlink();
    }
    Ok(b.build())
}

/// Makes the routes of our protocol and `family` exactly those of `routes`
/// (`names`: every link's name by index).
pub(super) async fn sync(
    h: &Handle,
    names: &BTreeMap<u32, String>,
    family: Family,
    routes: &[Route],
) -> Result<(), PodNetError> {
    let query = match family {
        Family::V4 => RouteMessageBuilder::<Ipv4Addr>::new().build(),
        Family::V6 => RouteMessageBuilder::<Ipv6Addr>::new().build(),
    };
    let mut have: BTreeMap<Route, RouteMessage> = BTreeMap::new();
    let mut dump = h.route().get(query).execute();
    let op = format!("list {} routes", family.name());
    while let Some(m) = dump.try_next().await.map_err(req(op.clone()))? {
        if let Some(r) = ours(&m, family, names) {
            have.insert(r, m);
        }
    }
    let routes: Vec<&Route> = routes.iter().filter(|r| r.family() == family).collect();
    let want: BTreeSet<&Route> = routes.iter().copied().collect();
    for r in routes.iter().filter(|r| !have.contains_key(r)) {
        let index = names
            .iter()
            .find(|(_, n)| **n == r.dev)
            .map(|(i, _)| *i)
            .ok_or_else(|| PodNetError::NoDevice {
                name: r.dev.clone(),
            })?;
        let onlink = if r.onlink { " onlink" } else { "" };
        h.route()
            .add(message(r, index)?)
            .replace()
            .execute()
            .await
            .map_err(req(format!(
                "replace route {} via {} dev {}{onlink}",
                r.dst, r.via, r.dev
            )))?;
    }
    for (r, m) in have.into_iter().filter(|(r, _)| !want.contains(r)) {
        // Replaced above when only its gateway or device changed.
        if routes.iter().any(|w| w.dst == r.dst) {
            continue;
        }
        h.route()
            .del(m)
            .execute()
            .await
            .map_err(req(format!("delete route {}", r.dst)))?;
    }
    Ok(())
}
