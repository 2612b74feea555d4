//! Phase 1, joining: connect with the node's credentials, register the
//! Node, and wait until the server gives it its pod CIDRs.

use std::time::{Duration, Instant};

use berth_client::{Client, ClientConfig};

use super::error::StartError;
use crate::agent::{self, AgentConfig};

/// How long the agent waits for the server to give the node a pod CIDR.
pub const POD_CIDR_TIMEOUT: Duration = Duration::from_secs(60);

/// The runtime the Node reports while it registers.
const REGISTER_RUNTIME: &str = "containerd";

/// Connects, registers the Node and returns the client and its pod CIDRs.
pub(super) async fn join(
    credentials: &ClientConfig,
    cfg: &AgentConfig,
) -> Result<(Client, Vec<String>), StartError> {
    let node = &cfg.node_name;
    let client = Client::remote(berth_client::connect(credentials).await.map_err(|source| {
        StartError::Connect {
            node: node.clone(),
            source: Box::new(source),
        }
    })?);
    // The node first: the server gives it its pod CIDR.
    agent::register(&client, cfg, REGISTER_RUNTIME)
        .await
        .map_err(|source| StartError::Agent {
            node: node.clone(),
            source: Box::new(source),
        })?;
    let deadline = Instant::now() + POD_CIDR_TIMEOUT;
    loop {
        let found = client
            .get::<berth_api::Node>("", node)
            .await
            .map_err(|source| StartError::ReadNode {
                node: node.clone(),
                source: Box::new(source),
            })?
            .ok_or_else(|| StartError::NodeVanished { node: node.clone() })?;
        if !found.spec.pod_cidrs.is_empty() {
            return Ok((client, found.spec.pod_cidrs));
        }
        if Instant::now() > deadline {
            return Err(StartError::NoPodCidr {
                node: node.clone(),
                timeout: POD_CIDR_TIMEOUT,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
