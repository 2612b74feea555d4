//! Addresses and routes.

use std::net::IpAddr;

use futures_util::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::Handle;
use rtnetlink::RouteMessageBuilder;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};

use super::nl::{NlError, req};

/// Adds `ip/prefix` to link `index` without duplicate address detection
/// (IPv6 addresses are usable at once); an existing equal address is fine.
pub async fn add(
    h: &Handle,
    index: u32,
    ip: IpAddr,
    prefix: u8,
    link: &str,
) -> Result<(), NlError> {
    let mut r = h.address().add(index, ip, prefix);
    if ip.is_ipv6() {
        let m = r.message_mut();
        m.header.flags |= AddressHeaderFlags::Nodad;
        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    match r.execute().await {
        Ok(()) => Ok(()),
        Err(e) => {
            let err = req(format!("add address {ip}/{prefix} to {link}"))(e);
            if err.errno() == Some(libc::EEXIST) {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

/// The addresses on link `index`.
pub async fn list(h: &Handle, index: u32) -> Result<Vec<IpNet>, NlError> {
    let mut s = h.address().get().set_link_index_filter(index).execute();
    let mut out = Vec::new();
    while let Some(m) = s
        .try_next()
        .await
        .map_err(req(format!("list addresses of link {index}")))?
    {
        for a in &m.attributes {
            // IFA_LOCAL for IPv4 (IFA_ADDRESS is the peer on p2p links);
            // IPv6 has IFA_ADDRESS only.
            let ip = match a {
                AddressAttribute::Local(ip) => Some(*ip),
                AddressAttribute::Address(ip) if ip.is_ipv6() => Some(*ip),
                _ => None,
            };
            if let Some(ip) = ip
                && let Ok(net) = IpNet::new(ip, m.header.prefix_len)
                && !out.contains(&net)
            {
                out.push(net);
            }
        }
    }
    Ok(out)
}

/// Adds a route to `dst` via `gw` (or directly connected) out of `index`;
/// an existing equal route is fine.
pub async fn add_route(
    h: &Handle,
    dst: IpNet,
    gw: Option<IpAddr>,
    index: u32,
) -> Result<(), NlError> {
    let op = || match gw {
        Some(g) => format!("add route {dst} via {g}"),
        None => format!("add route {dst}"),
    };
    let mut b = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(dst.addr(), dst.prefix_len())
        .map_err(|e| NlError::Unexpected {
            what: format!("{}: {e}", op()),
        })?
        .output_interface(index);
    if let Some(g) = gw {
        b = b.gateway(g).map_err(|e| NlError::Unexpected {
            what: format!("{}: {e}", op()),
        })?;
    }
    match h.route().add(b.build()).execute().await {
        Ok(()) => Ok(()),
        Err(e) => {
            let err = req(op())(e);
            if err.errno() == Some(libc::EEXIST) {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}
