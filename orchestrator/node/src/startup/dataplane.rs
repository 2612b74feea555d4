//! Phase 4, the service proxy: the eBPF data plane attached (or adopted:
//! a restarted agent keeps the pinned maps and links, so service traffic
//! never stops) and the proxy synced with the API, before any pod starts.

use berth_client::Client;
use berth_dataplane::Lb;
use berth_dataplane::kernel::BpfMaps;

use super::error::StartError;
use crate::proxy::{DataplaneSettings, NodeView, Proxy, kernel};

/// Attaches the data plane and starts the proxy on it, unless `settings`
/// is `None` (`--no-dataplane`); returns once the start-up sync is done.
pub(super) async fn start(
    settings: Option<&DataplaneSettings>,
    client: &Client,
    node_name: &str,
    node_ips: &[std::net::IpAddr],
) -> Result<Option<Proxy<Lb<BpfMaps>>>, StartError> {
    let Some(settings) = settings.cloned() else {
        println!("berth agent: --no-dataplane: Services are not programmed on this node");
        return Ok(None);
    };
    let bpffs = settings.bpffs.clone();
    let node = NodeView {
        name: node_name.to_owned(),
        // Node ports are served on the node's addresses only where the
        // per-packet path runs (--nodeport-devices).
        addrs: if settings.nodeport.is_some() {
            node_ips.to_vec()
        } else {
            Vec::new()
        },
    };
    let follow = settings.clone();
    let lb = tokio::task::spawn_blocking(move || kernel::attach(&settings))
        .await
        .map_err(|source| StartError::Task {
            what: "attaching the data plane",
            source,
        })?
        .map_err(|source| StartError::Proxy { source })?;
    kernel::follow_nodeport_devices(&follow).map_err(|source| StartError::Proxy { source })?;
    let proxy = Proxy::start(client.clone(), lb, node);
    proxy.ready().await;
    println!(
        "berth agent: service proxy synced (bpffs {})",
        bpffs.display()
    );
    Ok(Some(proxy))
}
