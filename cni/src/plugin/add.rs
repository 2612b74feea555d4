//! ADD: reserve addresses, wire bridge + veth, configure the container end.
//! A failure half-way removes what this invocation created.

use std::net::IpAddr;

use ipnet::IpNet;
use rtnetlink::Handle;

use super::PluginError;
use crate::config::{GatewayMode, Hairpin, NetConf};
use crate::env::Attachment;
use crate::ipam::{Allocation, Ipam, Owner};
use crate::net::{self, BridgeSpec, Netlink, NlError, VethSpec, addr, link};
use crate::result::{CniResult, Interface, IpConfig, RouteOut};

/// Index of the container interface in the result's `interfaces`.
const CONTAINER_IFACE: usize = 2;

pub(super) fn add(conf: &NetConf, att: &Attachment) -> Result<CniResult, PluginError> {
    let path = att.netns.as_deref().ok_or(crate::env::EnvError::Missing {
        var: "CNI_NETNS",
        command: "ADD",
    })?;
    let netns = net::open_netns(path)?;
    let nl = Netlink::open()?;
    let container = nl.open_in(&netns, path)?;
    let ipam = Ipam::open(&conf.ipam, &conf.name)?;
    let owner = Owner::new(&att.container_id, &att.ifname);
    let allocs = ipam.allocate(&owner)?;
    let host_veth = net::host_veth_name(&conf.name, &att.container_id, &att.ifname);
    let wiring = Wiring {
        conf,
        att,
        netns: &netns,
        host_veth: &host_veth,
        allocs: &allocs,
    };
    let mut stage = Stage::Reserved;
    match nl.block_on(wiring.run(nl.host(), container, &mut stage)) {
        Ok(result) => Ok(result),
        Err(e) => {
            tracing::warn!(error = %e, "ADD failed; removing what it created");
            let mut cleanup = Vec::new();
            if stage == Stage::VethAttempted
                && let Err(c) = nl.block_on(link::delete_by_name(&nl.host(), &host_veth))
            {
                cleanup.push(c.to_string());
            }
            if let Err(c) = ipam.release(&owner) {
                cleanup.push(c.to_string());
            }
            if cleanup.is_empty() {
                Err(e)
            } else {
                Err(PluginError::CleanupFailed {
                    source: Box::new(e),
                    cleanup: cleanup.join("; "),
                })
            }
        }
    }
}

/// How far ADD got, for the clean-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Addresses reserved, nothing created in the kernel yet.
    Reserved,
    /// The veth pair may exist.
    VethAttempted,
}

struct Wiring<'a> {
    conf: &'a NetConf,
    att: &'a Attachment,
    netns: &'a std::fs::File,
    host_veth: &'a str,
    allocs: &'a [Allocation],
}

impl Wiring<'_> {
    async fn run(
        &self,
        host: Handle,
        container: Handle,
        stage: &mut Stage,
    ) -> Result<CniResult, PluginError> {
        let conf = self.conf;
        let bridge = link::ensure_bridge(
            &host,
            BridgeSpec {
                name: &conf.bridge,
                mtu: conf.mtu,
                promisc: conf.promisc,
            },
        )
        .await?;
        if conf.gateway != GatewayMode::None {
            for a in self.allocs {
                addr::add(&host, bridge.index, a.gateway, a.prefix_len, &bridge.name).await?;
            }
        }
        *stage = Stage::VethAttempted;
        link::create_veth(
            &host,
            VethSpec {
                host: self.host_veth,
                container: &self.att.ifname,
                netns: self.netns,
                mtu: conf.mtu,
                bridge: bridge.index,
            },
        )
        .await?;
        let host_link = found(
            link::by_name(&host, self.host_veth).await?,
            self.host_veth,
            "host",
        )?;
        if conf.hairpin == Hairpin::On {
            link::set_hairpin(&host, &host_link).await?;
        }
        let ifname = &self.att.ifname;
        let cont_link = found(
            link::by_name(&container, ifname).await?,
            ifname,
            "container",
        )?;
        link::set_up(&container, &cont_link).await?;
        for a in self.allocs {
            addr::add(&container, cont_link.index, a.ip, a.prefix_len, ifname).await?;
        }
        let routes = self.routes();
        for r in &routes {
            let gw = r.gw.or_else(|| self.gateway_for(r.dst.addr()));
            addr::add_route(&container, r.dst, gw, cont_link.index).await?;
        }
        // The bridge's MAC may change when its first port is added: read it last.
        let bridge = found(
            link::by_name(&host, &conf.bridge).await?,
            &conf.bridge,
            "bridge",
        )?;
        Ok(CniResult {
            cni_version: String::new(),
            interfaces: vec![
                Interface {
                    name: bridge.name,
                    mac: bridge.mac,
                    sandbox: None,
                },
                Interface {
                    name: host_link.name,
                    mac: host_link.mac,
                    sandbox: None,
                },
                Interface {
                    name: cont_link.name,
                    mac: cont_link.mac,
                    sandbox: self.att.netns.as_ref().map(|p| p.display().to_string()),
                },
            ],
            ips: self
                .allocs
                .iter()
                .map(|a| IpConfig {
                    version: None,
                    address: IpNet::new(a.ip, a.prefix_len).unwrap_or_else(|_| IpNet::from(a.ip)),
                    gateway: Some(a.gateway),
                    interface: Some(CONTAINER_IFACE),
                })
                .collect(),
            routes,
            dns: conf.dns.clone(),
        })
    }

    /// `ipam.routes`, plus default routes via the gateways when
    /// `isDefaultGateway` is set.
    fn routes(&self) -> Vec<RouteOut> {
        let mut routes: Vec<RouteOut> = self
            .conf
            .ipam
            .routes
            .iter()
            .map(|r| RouteOut {
                dst: r.dst,
                gw: r.gw,
            })
            .collect();
        if self.conf.gateway == GatewayMode::DefaultRoute {
            for a in self.allocs {
                let dst = IpNet::new(unspecified_like(a.gateway), 0)
                    .unwrap_or_else(|_| IpNet::from(a.gateway));
                if !routes.iter().any(|r| r.dst == dst) {
                    routes.push(RouteOut {
                        dst,
                        gw: Some(a.gateway),
                    });
                }
            }
        }
        routes
    }

    fn gateway_for(&self, dst: IpAddr) -> Option<IpAddr> {
        self.allocs
            .iter()
            .find(|a| a.ip.is_ipv4() == dst.is_ipv4())
            .map(|a| a.gateway)
    }
}

fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

fn found(l: Option<link::Link>, name: &str, side: &str) -> Result<link::Link, PluginError> {
    l.ok_or_else(|| {
        PluginError::from(NlError::Unexpected {
            what: format!("{side} link {name} missing right after creation"),
        })
    })
}
