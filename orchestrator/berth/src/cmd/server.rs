//! `berth server`: the API server (embedded store by default).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use berth_control::api::Lifetimes;
use berth_control::bootstrap::{DEFAULT_LISTEN, ServerSettings};
use berth_control::cluster_dns::ClusterDns;
use berth_control::controllers::Settings;
use berth_control::serve::{BoundServer, Datastore};
use clap::Args;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// State: store, CA, tokens, admin.conf, node-token.
    #[arg(long, default_value = "/var/lib/berth/server")]
    pub data_dir: PathBuf,
    /// Address of the API (gRPC over TLS).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Another name or address for the server certificate (repeatable).
    #[arg(long = "tls-san", value_name = "NAME|IP")]
    pub tls_sans: Vec<String>,
    /// `embedded` (default) or `etcd://HOST:PORT[,HOST:PORT...]`.
    #[arg(long, default_value = "embedded")]
    pub datastore: Datastore,
    /// Run the API server only: no controllers, no scheduler.
    #[arg(long)]
    pub disable_controllers: bool,
    /// A node whose lease is not renewed for this long becomes NotReady.
    #[arg(long, default_value = "40s", value_parser = super::duration::positive)]
    pub node_monitor_grace_period: Duration,
    /// How often node health is checked.
    #[arg(long, default_value = "5s", value_parser = super::duration::positive)]
    pub node_monitor_period: Duration,
    /// Pods of a NotReady node are deleted (and recreated elsewhere) after this long.
    #[arg(long, default_value = "5m", value_parser = super::duration::positive)]
    pub pod_eviction_timeout: Duration,
    /// The cluster's pod CIDRs, one per family; each node gets a block.
    #[arg(long, default_value = "10.244.0.0/16,fd00:10:244::/56")]
    pub cluster_cidr: String,
    /// Prefix length of a node's IPv4 block.
    #[arg(long = "node-cidr-mask-size-ipv4", default_value_t = 24)]
    pub node_cidr_mask_v4: u8,
    /// Prefix length of a node's IPv6 block.
    #[arg(long = "node-cidr-mask-size-ipv6", default_value_t = 64)]
    pub node_cidr_mask_v6: u8,
    /// The cluster DNS Service's address (`kube-system/kube-dns`, made
    /// when missing; what the agents write in pods' resolv.conf).
    #[arg(long, default_value = "10.96.0.10")]
    pub cluster_dns: std::net::IpAddr,
    /// The node-local address of each node's DNS process: the kube-dns
    /// Service's endpoint.
    #[arg(long, default_value = "169.254.20.10")]
    pub node_local_dns: std::net::IpAddr,
    /// Do not make the kube-dns Service.
    #[arg(long)]
    pub no_cluster_dns: bool,
    /// How long a node credential lives (agents rotate theirs at two
    /// thirds of it): `24h`, `90m`, `300` (seconds).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = super::duration::positive)]
    pub node_credential_ttl: Duration,
    /// How long the bootstrap token (`<data-dir>/node-token`) lives from
    /// when it was written; a server starting with an expired one writes a
    /// new one (`0`: it never expires).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = super::duration::parse)]
    pub bootstrap_token_ttl: Duration,
    /// Workers per controller.
    #[arg(long, default_value_t = 4)]
    pub controller_workers: usize,
}

impl ServerArgs {
    /// The controllers' settings, checked.
    fn controllers(&self) -> anyhow::Result<Option<Settings>> {
        if self.disable_controllers {
            return Ok(None);
        }
        let s = Settings {
            node_monitor_grace_period: self.node_monitor_grace_period,
            node_monitor_period: self.node_monitor_period,
            pod_eviction_timeout: self.pod_eviction_timeout,
            cluster_cidrs: Settings::parse_cluster_cidrs(&self.cluster_cidr)?,
            node_cidr_mask_v4: self.node_cidr_mask_v4,
            node_cidr_mask_v6: self.node_cidr_mask_v6,
            workers: self.controller_workers,
        };
        s.validate()?;
        Ok(Some(s))
    }
}

pub fn run(a: ServerArgs) -> anyhow::Result<()> {
    // Every setting is checked before anything is bound or written.
    let controllers = a.controllers()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let settings = ServerSettings {
            data_dir: a.data_dir,
            listen: a.listen,
            tls_sans: a.tls_sans,
        };
        let server = BoundServer::bind(&settings, &a.datastore)
            .await?
            .with_lifetimes(Lifetimes {
                node_credential: a.node_credential_ttl,
                bootstrap_token: Some(a.bootstrap_token_ttl).filter(|d| !d.is_zero()),
            })?
            .with_controllers(controllers)
            .with_cluster_dns((!a.no_cluster_dns).then_some(ClusterDns {
                service_ip: a.cluster_dns,
                node_local: a.node_local_dns,
            }));
        println!(
            "berth server: serving on https://{} (credentials: {}, bootstrap token: {})",
            server.local_addr()?,
            server.prepared().admin_conf.display(),
            settings.data_dir.join("node-token").display()
        );
        server.run(shutdown_signal()).await?;
        println!("berth server: stopped");
        anyhow::Ok(())
    })
}

/// SIGINT or SIGTERM.
pub(super) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}
