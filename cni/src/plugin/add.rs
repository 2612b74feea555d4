//! ADD: reserve addresses, wire bridge + veth, configure the container end.
//! A failure half-way removes what this invocation created.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use rtnetlink::Handle;

use super::PluginError;
use super::chain;
use super::undo::{Stage, Undo, undo};
use crate::config::{GatewayMode, Hairpin, NetConf};
use crate::env::Attachment;
use crate::ipam::{Allocation, Ipam, Owner};
use crate::mac::Mac;
use crate::net::{self, BridgeSpec, Netlink, NlError, VethSpec, addr, link, masq, sysctl};
use crate::result::{CniResult, Interface, IpConfig, RouteOut};

/// Index of the container interface in the result's `interfaces`.
const CONTAINER_IFACE: usize = 2;

pub(super) fn add(conf: &NetConf, att: &Attachment) -> Result<CniResult, PluginError> {
    let path = att.netns.as_deref().ok_or(crate::env::EnvError::Missing {
        var: "CNI_NETNS",
        command: "ADD",
    })?;
    let mac = match conf.mac {
        Some(m) => Some(m),
        None => att.mac_arg()?,
    };
    let prev = conf
        .prev_result
        .as_ref()
        .map(chain::parse_prev)
        .transpose()?;
    let netns = net::open_netns(path)?;
    let nl = Netlink::open()?;
    let container = nl.open_in(&netns, path)?;
    let ipam = Ipam::open(&conf.ipam, &conf.name)?;
    let owner = Owner::new(&att.container_id, &att.ifname);
    let allocs = ipam.allocate(&owner)?;
    let host_veth = net::host_veth_name(&conf.name, &att.container_id, &att.ifname);
    let tag = masq::tag(&conf.name, &att.container_id, &att.ifname);
    let wiring = Wiring {
        conf,
        att,
        netns: &netns,
        host_veth: &host_veth,
        allocs: &allocs,
        mac,
    };
    let mut stage = Stage::Reserved;
    let outcome = nl
        .block_on(wiring.run(nl.host(), container, &mut stage))
        .and_then(|done| {
            if conf.ip_masq {
                stage = Stage::MasqAttempted;
                masq::add(&tag, &masq_targets(&allocs, &conf.non_masq))?;
            }
            Ok(done)
        });
    match outcome {
        Ok((result, announce)) => {
            announce.send(&nl, &netns, path);
            Ok(chain::merge(prev, result))
        }
        Err(e) => {
            let steps = Steps {
                nl: &nl,
                host_veth: &host_veth,
                tag: &tag,
                ipam: &ipam,
                owner: &owner,
            };
            Err(undo(e, stage, &steps))
        }
    }
}

/// What the gratuitous ARP needs: the host end's bridge port, the container
/// interface and its IPv4 addresses.
struct Announce {
    port: u32,
    index: u32,
    mac: Option<[u8; 6]>,
    ips: Vec<Ipv4Addr>,
}

impl Announce {
    /// Waits (briefly) for the bridge port to forward, then announces the
    /// addresses. Best effort, as in the reference plugin: a failure is
    /// logged, ADD still succeeds.
    fn send(&self, nl: &Netlink, netns: &std::fs::File, path: &std::path::Path) {
        let Some(mac) = self.mac else { return };
        if self.ips.is_empty() {
            return;
        }
        let start = Instant::now();
        loop {
            match nl.block_on(link::port_forwarding(&nl.host(), self.port)) {
                Ok(true) => break,
                Ok(false) if start.elapsed() < PORT_WAIT => {
                    std::thread::sleep(Duration::from_micros(500));
                }
                Ok(false) => {
                    tracing::debug!(
                        port = self.port,
                        "bridge port not forwarding yet; announcing anyway"
                    );
                    break;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "bridge port state unknown; announcing anyway");
                    break;
                }
            }
        }
        // arp_notify is on for the pod interface: re-setting its address
        // makes the kernel send the gratuitous ARP.
        let sent = nl
            .open_in(netns, path)
            .and_then(|pod| nl.block_on(link::reannounce(&pod, self.index, mac)));
        if let Err(e) = sent {
            tracing::warn!(error = %e, "gratuitous ARP not sent");
        }
    }
}

/// How long ADD waits for the new bridge port to forward before sending the
/// gratuitous ARP (the kernel needs well under a millisecond without STP).
const PORT_WAIT: Duration = Duration::from_millis(100);

/// One masquerade rule per address: traffic from it leaving its subnet
/// and the `nonMasqueradeCIDRs`.
fn masq_targets(allocs: &[Allocation], except: &[IpNet]) -> Vec<masq::Target> {
    allocs
        .iter()
        .map(|a| masq::Target {
            ip: a.ip,
            subnet: IpNet::new(a.ip, a.prefix_len)
                .unwrap_or_else(|_| IpNet::from(a.ip))
                .trunc(),
            except: except.to_vec(),
        })
        .collect()
}

/// The real clean-up steps.
struct Steps<'a> {
    nl: &'a Netlink,
    host_veth: &'a str,
    tag: &'a str,
    ipam: &'a Ipam<'a>,
    owner: &'a Owner,
}

impl Undo for Steps<'_> {
    fn delete_veth(&self) -> Result<(), PluginError> {
        self.nl
            .block_on(link::delete_by_name(&self.nl.host(), self.host_veth))?;
        Ok(())
    }

    fn remove_masq(&self) -> Result<(), PluginError> {
        masq::remove(self.tag)?;
        Ok(())
    }

    fn release(&self) -> Result<(), PluginError> {
        self.ipam.release(self.owner)?;
        Ok(())
    }
}

struct Wiring<'a> {
    conf: &'a NetConf,
    att: &'a Attachment,
    netns: &'a std::fs::File,
    host_veth: &'a str,
    allocs: &'a [Allocation],
    mac: Option<Mac>,
}

impl Wiring<'_> {
    async fn run(
        &self,
        host: Handle,
        container: Handle,
        stage: &mut Stage,
    ) -> Result<(CniResult, Announce), PluginError> {
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
                mac: self.mac,
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
        // Gratuitous ARP: with arp_notify the kernel announces the
        // interface's IPv4 addresses when it comes up (and on carrier up), so
        // neighbours drop stale entries for a reused address. Addresses go
        // on before the link is brought up for that reason.
        if self.allocs.iter().any(|a| a.ip.is_ipv4())
            && let Some(path) = self.att.netns.as_deref()
        {
            sysctl::set_in(
                self.netns,
                path,
                &format!("net/ipv4/conf/{ifname}/arp_notify"),
                "1",
            )?;
        }
        for a in self.allocs {
            addr::add(&container, cont_link.index, a.ip, a.prefix_len, ifname).await?;
        }
        link::set_up(&container, &cont_link).await?;
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
        let announce = Announce {
            port: host_link.index,
            index: cont_link.index,
            mac: cont_link.mac.parse::<Mac>().ok().map(|m| m.0),
            ips: self
                .allocs
                .iter()
                .filter_map(|a| match a.ip {
                    IpAddr::V4(ip) => Some(ip),
                    IpAddr::V6(_) => None,
                })
                .collect(),
        };
        let result = CniResult {
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
        };
        Ok((result, announce))
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
