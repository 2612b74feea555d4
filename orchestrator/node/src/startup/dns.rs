//! Phase 5, the node's DNS process: a `berth dns` process of its own on a
//! node-local address, so that neither an agent restart nor a crash
//! interrupts name lookups.
//!
//! It listens on `--dns-address` (169.254.20.10, as NodeLocal DNSCache) on
//! the dummy link `--dns-interface`; `berth server` makes the
//! `kube-system/kube-dns` Service (10.96.0.10) whose endpoint is that
//! address, so a pod's query to the cluster DNS VIP reaches its own node's
//! DNS process through the socket load balancer. A restarted agent finds
//! the process by its pid file and command line and keeps it.

use std::net::SocketAddr;
use std::time::Duration;

use crate::daemon::Daemon;
use crate::daemon::Started;

use super::config::{NodeConfig, NodeDnsSettings};
use super::error::StartError;

/// How often the agent looks whether the DNS process still runs.
const DNS_CHECK: Duration = Duration::from_secs(1);

/// The node DNS daemon: `berth dns` with the node's credentials on
/// `dns.address`:53.
pub fn dns_daemon(config: &NodeConfig, dns: &NodeDnsSettings) -> Daemon {
    let c = &config.credentials;
    let mut args: Vec<String> = vec![
        "dns".into(),
        "--server".into(),
        c.server.clone(),
        // The node's credential, never the bootstrap token nor the
        // admin's; the process reads the file again when it is rotated.
        "--token-file".into(),
        config
            .data_dir
            .join(super::credential::CREDENTIAL_FILE)
            .display()
            .to_string(),
        "--ca-file".into(),
        c.ca_path().display().to_string(),
        "--listen".into(),
        SocketAddr::new(dns.address, 53).to_string(),
        "--domain".into(),
        config.agent.cluster_domain.clone(),
    ];
    if dns.upstreams.is_empty() {
        args.push("--no-upstream".into());
    }
    for u in &dns.upstreams {
        args.push(format!("--upstream={u}"));
    }
    if let Some(m) = dns.metrics_listen {
        args.push(format!("--metrics-listen={m}"));
    }
    Daemon::new(
        "dns",
        &config.berth_binary,
        args,
        config.run_dir.join("dns.pid"),
        config.data_dir.join("dns.log"),
    )
}

/// Gives the node its DNS address and starts (or adopts) the DNS process,
/// then keeps it running: a task that starts it again if it exits. `None`
/// with `--no-dns`.
pub(super) async fn start(
    config: &NodeConfig,
) -> Result<Option<tokio::task::JoinHandle<()>>, StartError> {
    let Some(dns) = &config.dns else {
        println!("berth agent: --no-dns: no DNS process on this node");
        return Ok(None);
    };
    let (iface, ip) = (dns.interface.clone(), dns.address);
    tokio::task::spawn_blocking(move || berth_cni::net::ensure_local_address(&iface, ip))
        .await
        .map_err(|source| StartError::Task {
            what: "giving the node its DNS address",
            source,
        })?
        .map_err(|source| StartError::DnsAddress {
            address: dns.address,
            interface: dns.interface.clone(),
            source: Box::new(source),
        })?;
    let daemon = dns_daemon(config, dns);
    let started = daemon.start().map_err(|source| StartError::DnsProcess {
        source: Box::new(source),
    })?;
    match started {
        Started::New(pid) => println!(
            "berth agent: DNS on {}:53 started (pid {pid}, log {})",
            dns.address,
            daemon.log().display()
        ),
        Started::Adopted(pid) => println!(
            "berth agent: DNS on {}:53 already running (pid {pid}): kept",
            dns.address
        ),
    }
    Ok(Some(tokio::spawn(keep_running(daemon))))
}

/// Starts the DNS process again whenever it is found gone.
async fn keep_running(daemon: Daemon) {
    loop {
        tokio::time::sleep(DNS_CHECK).await;
        if daemon.running().is_some() {
            continue;
        }
        match daemon.start() {
            Ok(s) => tracing::warn!(
                pid = s.pid(),
                "the node's DNS process had exited: started again"
            ),
            Err(e) => {
                tracing::error!(error = %berth_api::error_chain(&e), "starting the node's DNS process")
            }
        }
    }
}
