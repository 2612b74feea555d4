//! Phase 6, the pod network across nodes: the other nodes' pod CIDRs
//! routed (host-gw or VXLAN) as the Node objects say.

use berth_client::Client;

use super::config::NodeConfig;
use crate::podnet::{self, PodNet, PodNetConfig, netlink::NetlinkLinks};

/// Starts routing the other nodes' pod CIDRs, unless `--pod-network none`.
pub(super) fn start(config: &NodeConfig, client: &Client, node_name: &str) -> Option<PodNet> {
    let mode = config.pod_network.0?;
    let cfg = PodNetConfig {
        node_name: node_name.to_string(),
        node_ip4: config.node_ips.v4(),
        node_ip6: config.node_ips.v6(),
        mode,
    };
    println!(
        "berth agent: pod network across nodes: {mode:?} (resync {:?})",
        podnet::RESYNC
    );
    Some(PodNet::start(client.clone(), cfg, NetlinkLinks))
}
