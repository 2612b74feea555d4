//! The network of `berth bench lb --cluster`: two nodes with the pod
//! network of a Berth cluster between them, in namespaces.
//!
//! ```text
//!   node-1 (netns, bridge .254)              node-2 (netns, bridge .254)
//!   ├ client pod     10.244.101.1            ├ backend pods 10.244.102.1..K
//!   ├ control pod    10.244.101.2            │
//!   └ backend pods   10.244.101.3..          │
//!        └──── underlay veth 192.168.94.1 ─ 192.168.94.2 ────┘
//!   host-gw routes: each node routes the other's pod CIDR via its address
//! ```
//!
//! Pods route by default via their node's bridge address, as berth-cni's
//! pods do; each backend pod runs a [`TcpEcho`] on port 8080.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context as _;
use berth_test_support::{Lan, TcpEcho, Veth};

use crate::topo::{BACKEND_PORT, View, set_sysctl};

/// Pod CIDRs of the two nodes (inside the cluster CIDR the peers' rules
/// treat as pods).
pub const NODE_PODS: [&str; 2] = ["10.244.101.0/24", "10.244.102.0/24"];
/// Each node's bridge address (the pods' gateway).
const GATEWAY: [&str; 2] = ["10.244.101.254", "10.244.102.254"];
/// The underlay link's addresses.
const UNDERLAY: [&str; 2] = ["192.168.94.1", "192.168.94.2"];
/// The client pods on node 1 before its backends.
const CLIENT_PODS: usize = 2;

/// Where the backends of a run are, relative to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    SameNode,
    CrossNode,
}

impl Placement {
    pub const ALL: [Placement; 2] = [Placement::SameNode, Placement::CrossNode];

    /// `"placement"` of the JSON rows.
    pub fn name(self) -> &'static str {
        match self {
            Placement::SameNode => "same-node",
            Placement::CrossNode => "cross-node",
        }
    }
}

/// Two nodes, their pods and echo servers. Fields drop in order: servers,
/// the underlay link, then the nodes' namespaces.
#[derive(Debug)]
pub struct ClusterTopo {
    same: Vec<TcpEcho>,
    cross: Vec<TcpEcho>,
    _underlay: Veth,
    node1: Lan,
    node2: Lan,
}

impl ClusterTopo {
    /// Node 1 with the client, the control client and `k` backends; node
    /// 2 with `k` backends; routed to each other.
    pub fn new(k: usize) -> anyhow::Result<ClusterTopo> {
        anyhow::ensure!(k >= 1, "at least one backend is needed");
        let node1 = Lan::new(CLIENT_PODS + k, NODE_PODS[0], None).context("node 1's pods")?;
        let node2 = Lan::new(k, NODE_PODS[1], None).context("node 2's pods")?;
        let underlay =
            Veth::new(node1.router(), Some(node2.router())).context("the underlay link")?;
        underlay.add_addr_a(&format!("{}/30", UNDERLAY[0]))?;
        underlay.add_addr_b(&format!("{}/30", UNDERLAY[1]))?;
        for (i, node) in [&node1, &node2].into_iter().enumerate() {
            let ns = node.router();
            let plen = node.v4_prefix_len();
            ns.ip(&[
                "addr",
                "add",
                &format!("{}/{plen}", GATEWAY[i]),
                "dev",
                node.bridge_name(),
            ])?;
            // host-gw: the other node's pod CIDR via its underlay address.
            ns.ip(&["route", "add", NODE_PODS[1 - i], "via", UNDERLAY[1 - i]])?;
            ns.enable_ip_forward()?;
            for h in node.hosts() {
                h.netns
                    .ip(&["route", "replace", "default", "via", GATEWAY[i]])
                    .with_context(|| format!("default route of pod {}", h.ipv4))?;
            }
        }
        let echoes = |hosts: &[berth_test_support::Host], tag: &str| {
            hosts
                .iter()
                .enumerate()
                .map(|(j, h)| {
                    let bind = SocketAddr::new(IpAddr::V4(h.ipv4), BACKEND_PORT);
                    TcpEcho::start(&h.netns, bind, &format!("{tag}-{}", j + 1))
                        .with_context(|| format!("starting the echo server on {bind}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()
        };
        let same = echoes(&node1.hosts()[CLIENT_PODS..], "node-1-backend")?;
        let cross = echoes(node2.hosts(), "node-2-backend")?;
        for h in &node1.hosts()[..CLIENT_PODS] {
            set_sysctl(&h.netns, "net/ipv4/ip_local_port_range", "1024 65535")?;
        }
        Ok(ClusterTopo {
            same,
            cross,
            _underlay: underlay,
            node1,
            node2,
        })
    }

    /// The clients on node 1 and the backends of `placement`.
    pub fn view(&self, placement: Placement) -> View<'_> {
        View {
            client: &self.node1.host(0).netns,
            control: &self.node1.host(1).netns,
            echoes: match placement {
                Placement::SameNode => &self.same,
                Placement::CrossNode => &self.cross,
            },
        }
    }

    /// The nodes' namespaces (for the report).
    pub fn describe(&self) -> String {
        format!(
            "node-1 netns {} (pods {}), node-2 netns {} (pods {}), host-gw over a veth",
            self.node1.router().name(),
            NODE_PODS[0],
            self.node2.router().name(),
            NODE_PODS[1]
        )
    }
}
