//! Links: lookup, the bridge, the veth pair, bridge-port settings, deletion.

use std::os::fd::AsRawFd;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkDummy, LinkMessageBuilder, LinkUnspec, LinkVeth,
};

use super::nl::{NlError, req};

const ENODEV: i32 = libc::ENODEV;
const EEXIST: i32 = libc::EEXIST;

/// What the plugin needs to know about a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// Hardware address, `aa:bb:...`.
    pub mac: String,
    /// `IFLA_INFO_KIND`, e.g. "bridge", "veth".
    pub kind: Option<String>,
    /// Index of the bridge it is a port of.
    pub controller: Option<u32>,
    /// Administratively up.
    pub up: bool,
}

impl Link {
    fn from_message(m: &LinkMessage) -> Link {
        let mut link = Link {
            index: m.header.index,
            name: String::new(),
            mac: String::new(),
            kind: None,
            controller: None,
            up: m.header.flags.contains(LinkFlags::Up),
        };
        for attr in &m.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Address(a) => link.mac = format_mac(a),
                LinkAttribute::Controller(c) => link.controller = Some(*c),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(k) = info {
                            link.kind = Some(k.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

fn format_mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The link called `name`, if it exists.
pub async fn by_name(h: &Handle, name: &str) -> Result<Option<Link>, NlError> {
    let mut s = h.link().get().match_name(name).execute();
    match s.try_next().await {
        Ok(m) => Ok(m.map(|m| Link::from_message(&m))),
        Err(e) => {
            let err = req(format!("get link {name}"))(e);
            if err.errno() == Some(ENODEV) {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

async fn must_exist(h: &Handle, name: &str) -> Result<Link, NlError> {
    by_name(h, name).await?.ok_or_else(|| NlError::Unexpected {
        what: format!("link {name} vanished right after it was set up"),
    })
}

/// Bridge settings.
#[derive(Debug, Clone, Copy)]
pub struct BridgeSpec<'a> {
    /// Name.
    pub name: &'a str,
    /// MTU for a bridge created now.
    pub mtu: Option<u32>,
    /// Promiscuous mode.
    pub promisc: crate::config::Promisc,
}

/// Creates the bridge or adopts an existing one; brings it up.
pub async fn ensure_bridge(h: &Handle, spec: BridgeSpec<'_>) -> Result<Link, NlError> {
    let existing = by_name(h, spec.name).await?;
    if existing.is_none() {
        // A fixed address: a bridge without one takes the lowest MAC of its
        // ports and changes it whenever that port goes, which leaves every
        // pod with a stale MAC for its gateway.
        let mut b = LinkBridge::new(spec.name)
            .address(bridge_mac(spec.name).to_vec())
            .up();
        if let Some(mtu) = spec.mtu {
            b = b.mtu(mtu);
        }
        match h.link().add(b.build()).execute().await {
            Ok(()) => {}
            Err(e) => {
                let err = req(format!("create bridge {}", spec.name))(e);
                // A concurrent ADD created it first: adopt it.
                if err.errno() != Some(EEXIST) {
                    return Err(err);
                }
            }
        }
    }
    let link = must_exist(h, spec.name).await?;
    if link.kind.as_deref() != Some("bridge") {
        return Err(NlError::Unexpected {
            what: format!(
                "bridge: {:?} exists and is a {} link, not a bridge",
                spec.name,
                link.kind.as_deref().unwrap_or("plain")
            ),
        });
    }
    let want_promisc = spec.promisc == crate::config::Promisc::On;
    if !link.up || want_promisc {
        let mut m = LinkUnspec::new_with_index(link.index).up();
        if want_promisc {
            m = m.promiscuous(true);
        }
        h.link()
            .set(m.build())
            .execute()
            .await
            .map_err(req(format!("set bridge {} up", spec.name)))?;
    }
    Ok(link)
}

/// Creates the link `name` as a home for a node-local address (such as
/// the node DNS server's), or adopts an existing one, and brings it up: a
/// dummy link, or — on kernels built without the dummy driver, as this
/// project's test machines — a bridge without ports, which holds a local
/// address just as well. A link of that name of another kind is an error.
pub async fn ensure_dummy(h: &Handle, name: &str) -> Result<Link, NlError> {
    if by_name(h, name).await?.is_none() {
        let dummy = h
            .link()
            .add(LinkDummy::new(name).up().build())
            .execute()
            .await;
        let made = match dummy {
            Err(e) => {
                let err = req(format!("create dummy link {name}"))(e);
                match err.errno() {
                    Some(libc::EOPNOTSUPP) => {
                        tracing::debug!(
                            link = name,
                            "no dummy driver: a bridge without ports instead"
                        );
                        h.link()
                            .add(LinkBridge::new(name).up().build())
                            .execute()
                            .await
                            .map_err(req(format!("create bridge {name} (no dummy driver)")))
                    }
                    _ => Err(err),
                }
            }
            ok => ok.map_err(req(format!("create dummy link {name}"))),
        };
        if let Err(err) = made
            && err.errno() != Some(EEXIST)
        {
            return Err(err);
        }
    }
    let link = must_exist(h, name).await?;
    if !matches!(link.kind.as_deref(), Some("dummy" | "bridge")) {
        return Err(NlError::Unexpected {
            what: format!(
                "{name:?} exists and is a {} link, not a dummy or bridge",
                link.kind.as_deref().unwrap_or("plain")
            ),
        });
    }
    if !link.up {
        set_up(h, &link).await?;
    }
    Ok(link)
}

/// The veth pair to create.
#[derive(Debug, Clone, Copy)]
pub struct VethSpec<'a> {
    /// Host-side name.
    pub host: &'a str,
    /// Container-side name (`CNI_IFNAME`).
    pub container: &'a str,
    /// The container's namespace.
    pub netns: &'a std::fs::File,
    /// MTU of both ends.
    pub mtu: Option<u32>,
    /// Hardware address of the container end (kernel-chosen when absent).
    pub mac: Option<crate::mac::Mac>,
    /// Bridge index the host end is attached to.
    pub bridge: u32,
}

/// Creates the pair in one request: host end up and attached to the bridge,
/// container end created directly inside the container's namespace.
pub async fn create_veth(h: &Handle, spec: VethSpec<'_>) -> Result<(), NlError> {
    let mut peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(spec.container.to_string())
        .setns_by_fd(spec.netns.as_raw_fd());
    let mut host = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(spec.host.to_string())
        .controller(spec.bridge)
        .up();
    if let Some(mtu) = spec.mtu {
        peer = peer.mtu(mtu);
        host = host.mtu(mtu);
    }
    if let Some(mac) = spec.mac {
        peer = peer.address(mac.0.to_vec());
    }
    let msg = host
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
        .build();
    h.link().add(msg).execute().await.map_err(req(format!(
        "create veth {} (peer {} in container)",
        spec.host, spec.container
    )))
}

/// Sets hairpin mode on a bridge port.
pub async fn set_hairpin(h: &Handle, port: &Link) -> Result<(), NlError> {
    let msg = LinkBridgePort::new(port.index)
        .append_info_data(InfoBridgePort::HairpinMode(true))
        .build();
    h.link()
        .set_port(msg)
        .execute()
        .await
        .map_err(req(format!("set hairpin mode on {}", port.name)))
}

/// Brings a link up.
pub async fn set_up(h: &Handle, link: &Link) -> Result<(), NlError> {
    h.link()
        .set(LinkUnspec::new_with_index(link.index).up().build())
        .execute()
        .await
        .map_err(req(format!("set {} up", link.name)))
}

/// Deletes the link called `name`; `Ok(false)` when there was none.
pub async fn delete_by_name(h: &Handle, name: &str) -> Result<bool, NlError> {
    let Some(link) = by_name(h, name).await? else {
        return Ok(false);
    };
    match h.link().del(link.index).execute().await {
        Ok(()) => Ok(true),
        Err(e) => {
            let err = req(format!("delete link {name}"))(e);
            if err.errno() == Some(ENODEV) {
                Ok(false)
            } else {
                Err(err)
            }
        }
    }
}

/// A stable, locally administered unicast MAC for a bridge, derived from
/// its name (FNV-1a), so every ADD that creates it picks the same one.
pub fn bridge_mac(name: &str) -> [u8; 6] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let x = h.to_be_bytes();
    // 0x02: locally administered, unicast.
    [0x02, x[0], x[1], x[2], x[3], x[4]]
}

/// Whether bridge port `index` is forwarding: one RTM_GETLINK for that
/// link, whose link info carries its bridge-port state.
pub async fn port_forwarding(h: &Handle, index: u32) -> Result<bool, NlError> {
    use rtnetlink::packet_route::link::{BridgePortState, InfoPortData};

    let mut s = h.link().get().match_index(index).execute();
    let mut forwarding = false;
    while let Some(m) = s
        .try_next()
        .await
        .map_err(req(format!("state of bridge port {index}")))?
    {
        for attr in &m.attributes {
            let LinkAttribute::LinkInfo(infos) = attr else {
                continue;
            };
            for info in infos {
                if let LinkInfo::PortData(InfoPortData::BridgePort(port)) = info {
                    forwarding |=
                        port.contains(&InfoBridgePort::State(BridgePortState::Forwarding));
                }
            }
        }
    }
    Ok(forwarding)
}

/// Sets a link's hardware address to the one it already has. With
/// `arp_notify` on, the kernel answers the address change with a gratuitous
/// ARP for every IPv4 address of the link: no packet socket needed (closing
/// one waits for an RCU grace period, ~10 ms).
pub async fn reannounce(h: &Handle, index: u32, mac: [u8; 6]) -> Result<(), NlError> {
    let msg = LinkUnspec::new_with_index(index)
        .address(mac.to_vec())
        .build();
    h.link()
        .set(msg)
        .execute()
        .await
        .map_err(req(format!("re-set the address of link {index}")))
}
