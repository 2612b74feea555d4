//! [`NetlinkLinks`]: [`NodeLinks`] over rtnetlink in the calling thread's
//! network namespace (the socket is made in it, per call: a reconcile runs
//! every [`super::RESYNC`] at most, and a namespace test enters the node's
//! namespace in the thread that reconciles). Reads are dumps; writes are
//! made only for what differs.

mod routes;
mod vxlan;

use std::collections::BTreeMap;
use std::net::IpAddr;

use berth_cni::net::{Netlink, NlError};
use futures_util::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::Handle;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::LinkAttribute;

use super::links::{NodeLinks, PodNetError};
use super::plan::{Family, Plan, Underlay};

/// rtnetlink in this network namespace.
#[derive(Debug, Default)]
pub struct NetlinkLinks;

/// Wraps an rtnetlink error with a description of the request.
fn req(op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> PodNetError {
    let op = op.into();
    move |source| PodNetError::Netlink {
        source: NlError::Request { op, source },
    }
}

/// The kernel's errno of a refused request (positive), if it is one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

fn open() -> Result<Netlink, PodNetError> {
    Netlink::open().map_err(|source| PodNetError::Netlink { source })
}

impl NodeLinks for NetlinkLinks {
    fn underlay(&self, node_ip: IpAddr) -> Result<Underlay, PodNetError> {
        let nl = open()?;
        let h = nl.host();
        nl.block_on(underlay(&h, node_ip))
    }

    fn apply(&mut self, plan: &Plan) -> Result<(), PodNetError> {
        let nl = open()?;
        let h = nl.host();
        nl.block_on(async {
            let vxlan = match &plan.vxlan {
                Some(v) => Some(vxlan::ensure(&h, v).await?),
                None => {
                    vxlan::remove(&h).await?;
                    None
                }
            };
            if let Some(index) = vxlan {
                vxlan::sync_vteps(&h, index, &plan.vteps).await?;
            }
            let names = link_names(&h).await?;
            for family in Family::ALL {
                if plan.routes_family(family) {
                    // Other nodes' traffic to this node's pods is
                    // forwarded; so is the pods' to other nodes. Only a
                    // node with peers of that family turns it on.
                    ensure_forwarding(family)?;
                }
                routes::sync(&h, &names, family, &plan.routes).await?;
            }
            Ok(())
        })
    }
}

/// Every link's name by index.
async fn link_names(h: &Handle) -> Result<BTreeMap<u32, String>, PodNetError> {
    let mut links = h.link().get().execute();
    let mut names = BTreeMap::new();
    while let Some(m) = links.try_next().await.map_err(req("list links"))? {
        for a in &m.attributes {
            if let LinkAttribute::IfName(n) = a {
                names.insert(m.header.index, n.clone());
            }
        }
    }
    Ok(names)
}

/// The link holding `node_ip`, its subnets (not link-local) and MTU.
async fn underlay(h: &Handle, node_ip: IpAddr) -> Result<Underlay, PodNetError> {
    let mut by_link: BTreeMap<u32, Vec<IpNet>> = BTreeMap::new();
    let mut addrs = h.address().get().execute();
    while let Some(m) = addrs.try_next().await.map_err(req("list addresses"))? {
        for a in &m.attributes {
            // IFA_LOCAL for IPv4 (IFA_ADDRESS is the peer on p2p links);
            // IPv6 has IFA_ADDRESS only.
            let ip = match a {
                AddressAttribute::Local(ip) => *ip,
                AddressAttribute::Address(ip) if ip.is_ipv6() => *ip,
                _ => continue,
            };
            if let Ok(net) = IpNet::new(ip, m.header.prefix_len) {
                by_link.entry(m.header.index).or_default().push(net);
            }
        }
    }
    let Some((&index, nets)) = by_link
        .iter()
        .find(|(_, nets)| nets.iter().any(|n| n.addr() == node_ip))
    else {
        return Err(PodNetError::NoUnderlay { ip: node_ip });
    };
    let subnets = nets
        .iter()
        // Link-local subnets route nothing to another node.
        .filter(|n| match n.addr() {
            IpAddr::V6(v6) => !v6.is_unicast_link_local(),
            IpAddr::V4(v4) => !v4.is_link_local(),
        })
        .map(IpNet::trunc)
        .collect();
    let mut link = h.link().get().match_index(index).execute();
    let m = link
        .try_next()
        .await
        .map_err(req(format!("get link {index}")))?
        .ok_or(PodNetError::NoUnderlay { ip: node_ip })?;
    let (mut dev, mut mtu) = (String::new(), 1500);
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => dev = n.clone(),
            LinkAttribute::Mtu(m) => mtu = *m,
            _ => {}
        }
    }
    Ok(Underlay { dev, subnets, mtu })
}

/// Forwarding of `family` on (as every Kubernetes node has it), written
/// only when it is off. (IPv6 forwarding makes the kernel ignore router
/// advertisements: a dual-stack node's IPv6 default route is static.)
fn ensure_forwarding(family: Family) -> Result<(), PodNetError> {
    let path = match family {
        Family::V4 => "/proc/sys/net/ipv4/ip_forward",
        Family::V6 => "/proc/sys/net/ipv6/conf/all/forwarding",
    };
    let err = |source| PodNetError::Sysctl {
        path,
        value: "1",
        source,
    };
    if std::fs::read_to_string(path).map_err(err)?.trim() != "1" {
        std::fs::write(path, "1").map_err(err)?;
        tracing::info!(
            family = family.name(),
            "forwarding turned on for the pod network across nodes"
        );
    }
    Ok(())
}
