//! Pod networking across nodes (flannel's job): each node's pod CIDR is
//! routed to it, directly when the nodes share a link (host-gw) and over a
//! VXLAN overlay otherwise, set up from the Node objects.
//!
//! - [`plan`]: the pure decision — routes, the VXLAN device and the
//!   peers' VTEPs — from this node and the others (unit-tested);
//! - [`links::NodeLinks`]: the root-only boundary, [`netlink::NetlinkLinks`] in the
//!   node's network namespace or [`links::FakeLinks`];
//! - [`PodNet`]: a Node cache (list + watch) and one level-triggered,
//!   idempotent reconcile of the whole plan on every change and every
//!   [`RESYNC`], never two at once.

pub mod links;
pub mod netlink;
pub mod plan;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::Node;
use berth_client::Client;
use berth_client::cache::Reflector;
use ipnet::IpNet;
use tokio::sync::Notify;

pub use links::{FakeLinks, NodeLinks, PodNetError};
pub use plan::{Family, Mode, NodeNet, Plan};

/// Every node is reconciled this often even without a change: repairs
/// what someone else removed, and the routes the kernel drops with the
/// underlay link when it goes down (a flap restores them within this).
/// A reconcile that finds nothing to change reads the links, addresses,
/// neighbours and routes (a few netlink dumps, no process) and writes
/// nothing.
pub const RESYNC: Duration = Duration::from_secs(10);
/// First pause after a failed reconcile (doubling to [`RESYNC`]).
const RETRY_MIN: Duration = Duration::from_millis(200);

/// This node's settings.
#[derive(Debug, Clone)]
pub struct PodNetConfig {
    /// The Node's name.
    pub node_name: String,
    /// Its IPv4 address on the underlay (`InternalIP`), if it has one.
    pub node_ip4: Option<Ipv4Addr>,
    /// Its IPv6 address on the underlay (`InternalIP`), if it has one.
    pub node_ip6: Option<Ipv6Addr>,
    /// How peers are reached.
    pub mode: Mode,
}

impl PodNetConfig {
    /// The address the underlay is found by: the IPv4 one, else the IPv6.
    pub fn underlay_ip(&self) -> Option<IpAddr> {
        self.node_ip4
            .map(IpAddr::V4)
            .or(self.node_ip6.map(IpAddr::V6))
    }
}

/// What a Node says about its pod network: its `InternalIP`s and pod
/// CIDRs, one of each family at most (`None` until it has a pod CIDR and an
/// address).
pub fn node_net(node: &Node) -> Option<NodeNet> {
    let mut n = NodeNet {
        name: node.metadata.name.clone(),
        ..NodeNet::default()
    };
    for ip in node.internal_ips().filter_map(|a| a.parse::<IpAddr>().ok()) {
        match ip {
            IpAddr::V4(v4) => n.ip4 = n.ip4.or(Some(v4)),
            IpAddr::V6(v6) => n.ip6 = n.ip6.or(Some(v6)),
        }
    }
    let cidrs = node
        .spec
        .pod_cidrs
        .iter()
        .chain(std::iter::once(&node.spec.pod_cidr));
    for cidr in cidrs.filter_map(|c| c.parse::<IpNet>().ok()) {
        match cidr.trunc() {
            IpNet::V4(v4) => n.cidr4 = n.cidr4.or(Some(v4)),
            IpNet::V6(v6) => n.cidr6 = n.cidr6.or(Some(v6)),
        }
    }
    let has_ip = n.ip4.is_some() || n.ip6.is_some();
    let has_cidr = n.cidr4.is_some() || n.cidr6.is_some();
    (has_ip && has_cidr).then_some(n)
}

/// One reconcile: the plan for `nodes`, applied. `Ok(None)` while this
/// node has no pod CIDR yet.
pub fn reconcile(
    cfg: &PodNetConfig,
    nodes: &[Arc<Node>],
    links: &mut dyn NodeLinks,
) -> Result<Option<Plan>, PodNetError> {
    let all: Vec<NodeNet> = nodes.iter().filter_map(|n| node_net(n)).collect();
    let Some(local) = all.iter().find(|n| n.name == cfg.node_name) else {
        return Ok(None);
    };
    // This node's addresses are what it was started with.
    let local = NodeNet {
        ip4: cfg.node_ip4,
        ip6: cfg.node_ip6,
        ..local.clone()
    };
    let Some(ip) = cfg.underlay_ip() else {
        return Ok(None);
    };
    let underlay = links.underlay(ip)?;
    let p = plan::plan(&local, &underlay, &all, cfg.mode);
    links.apply(&p)?;
    Ok(Some(p))
}

/// The running pod network.
#[derive(Debug)]
pub struct PodNet {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    applied: Arc<Mutex<Option<Plan>>>,
}

impl PodNet {
    /// Follows the Nodes with `client` and keeps `links` as they say.
    /// Needs a tokio runtime.
    pub fn start<L: NodeLinks + 'static>(client: Client, cfg: PodNetConfig, links: L) -> PodNet {
        let mut nodes = Reflector::<Node>::new(client, "");
        let changed = Arc::new(Notify::new());
        let c = changed.clone();
        // Only what the plan reads: a Node's status heartbeats change
        // nothing here and cost no reconcile.
        nodes.on_change(move |n| {
            let net = |x: &Option<Arc<Node>>| x.as_deref().and_then(node_net);
            if net(&n.old) != net(&n.new) {
                c.notify_one();
            }
        });
        let cache = nodes.cache();
        let applied = Arc::new(Mutex::new(None));
        let out = applied.clone();
        let links = Arc::new(Mutex::new(links));
        let main = tokio::spawn(async move {
            cache.synced().await;
            let mut pause = RETRY_MIN;
            loop {
                let (cfg, list, links) = (cfg.clone(), cache.list(), links.clone());
                let r = tokio::task::spawn_blocking(move || {
                    let mut l = links.lock().unwrap_or_else(|e| e.into_inner());
                    reconcile(&cfg, &list, &mut *l)
                })
                .await;
                let wait = match r {
                    Ok(Ok(p)) => {
                        pause = RETRY_MIN;
                        if let Some(p) = &p {
                            for (peer, why) in &p.unreachable {
                                tracing::warn!(node = %peer, reason = %why, "no route to this node's pods");
                            }
                            tracing::debug!(
                                routes = p.routes.len(),
                                vxlan = p.vxlan.is_some(),
                                "pod network reconciled"
                            );
                        }
                        *out.lock().unwrap_or_else(|e| e.into_inner()) = p;
                        RESYNC
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %berth_api::error_chain(&e), "pod network not reconciled; retrying");
                        pause = (pause * 2).min(RESYNC);
                        pause
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "pod network reconcile panicked");
                        RESYNC
                    }
                };
                let _ = tokio::time::timeout(wait, changed.notified()).await;
            }
        });
        PodNet {
            tasks: vec![nodes.spawn(), main],
            applied,
        }
    }

    /// The plan last applied (`None` before the first, or while this node
    /// has no pod CIDR).
    pub fn applied(&self) -> Option<Plan> {
        self.applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops following the Nodes; routes and links stay as they are.
    pub fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::ObjectMeta;
    use berth_api::node::{NodeAddress, NodeAddressType};

    /// A Node with `ips` (comma separated) as its InternalIPs.
    fn node(name: &str, ips: &str, cidrs: &[&str]) -> Arc<Node> {
        let mut n = Node {
            metadata: ObjectMeta {
                name: name.into(),
                ..ObjectMeta::default()
            },
            ..Node::default()
        };
        n.spec.pod_cidrs = cidrs.iter().map(|c| c.to_string()).collect();
        n.status.addresses = ips
            .split(',')
            .map(|ip| NodeAddress {
                type_: NodeAddressType::InternalIP,
                address: ip.into(),
            })
            .collect();
        Arc::new(n)
    }

    fn cfg() -> PodNetConfig {
        PodNetConfig {
            node_name: "a".into(),
            node_ip4: Some("192.168.5.1".parse().expect("ip")),
            node_ip6: None,
            mode: Mode::Auto,
        }
    }

    fn fake() -> FakeLinks {
        FakeLinks {
            underlay: Some(plan::Underlay {
                dev: "eth0".into(),
                subnets: vec!["192.168.5.0/24".parse().expect("net")],
                mtu: 1500,
            }),
            applied: Vec::new(),
        }
    }

    #[test]
    fn nothing_is_applied_until_this_node_has_a_pod_cidr() {
        let mut links = fake();
        let nodes = [
            node("a", "192.168.5.1", &[]),
            node("b", "192.168.5.2", &["10.244.1.0/24"]),
        ];
        assert_eq!(reconcile(&cfg(), &nodes, &mut links).expect("ok"), None);
        assert!(links.applied.is_empty());
    }

    #[test]
    fn a_v4_node_routes_the_v4_cidr_of_a_dual_stack_peer_and_nodes_without_an_ip_are_skipped() {
        let mut links = fake();
        let nodes = [
            node("a", "192.168.5.1", &["10.244.0.0/24"]),
            node("b", "192.168.5.2", &["fd00:10:244:1::/64", "10.244.1.0/24"]),
            node("c", "not-an-ip", &["10.244.2.0/24"]),
        ];
        let p = reconcile(&cfg(), &nodes, &mut links)
            .expect("ok")
            .expect("plan");
        assert_eq!(links.applied, vec![p.clone()]);
        assert_eq!(p.routes.len(), 1);
        assert_eq!(p.routes[0].dst.to_string(), "10.244.1.0/24");
    }

    #[test]
    fn dual_stack_nodes_route_both_families_by_their_two_internal_ips() {
        let mut links = FakeLinks {
            underlay: Some(plan::Underlay {
                dev: "eth0".into(),
                subnets: vec![
                    "192.168.5.0/24".parse().expect("net"),
                    "fd00:5::/64".parse().expect("net"),
                ],
                mtu: 1500,
            }),
            applied: Vec::new(),
        };
        let nodes = [
            node(
                "a",
                "192.168.5.1,fd00:5::1",
                &["10.244.0.0/24", "fd00:10:244::/64"],
            ),
            node(
                "b",
                "fd00:5::2,192.168.5.2",
                &["fd00:10:244:1::/64", "10.244.1.0/24"],
            ),
        ];
        let cfg = PodNetConfig {
            node_ip6: Some("fd00:5::1".parse().expect("ip")),
            ..cfg()
        };
        let p = reconcile(&cfg, &nodes, &mut links)
            .expect("ok")
            .expect("plan");
        let routes: Vec<String> = p
            .routes
            .iter()
            .map(|r| format!("{} via {}", r.dst, r.via))
            .collect();
        assert_eq!(
            routes,
            [
                "10.244.1.0/24 via 192.168.5.2",
                "fd00:10:244:1::/64 via fd00:5::2"
            ]
        );
    }

    #[test]
    fn a_missing_underlay_is_an_error_naming_the_ip() {
        let mut links = FakeLinks::default();
        let nodes = [node("a", "192.168.5.1", &["10.244.0.0/24"])];
        let e = reconcile(&cfg(), &nodes, &mut links).expect_err("no underlay");
        assert!(e.to_string().contains("192.168.5.1"), "{e}");
    }
}
