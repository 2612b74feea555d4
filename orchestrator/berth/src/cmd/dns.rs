//! `berth dns`: the cluster DNS server alone, from a static file.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::Context as _;
use berth_dns::{
    DEFAULT_DOMAIN, DEFAULT_TTL, Handler, HealthServer, Metrics, Server, StaticSource, Zone,
    ZoneConfig, zone_channel,
};
use clap::Args;

#[derive(Debug, Args)]
pub struct DnsArgs {
    /// YAML file of services, endpoints and pods (schema: dns/README.md).
    #[arg(long = "static", value_name = "FILE")]
    pub file: PathBuf,
    /// Address to serve on (UDP and TCP).
    #[arg(long, default_value = "127.0.0.1:53")]
    pub listen: SocketAddr,
    /// Cluster domain.
    #[arg(long, default_value = DEFAULT_DOMAIN)]
    pub domain: String,
    /// TTL of the cluster zone's records, in seconds.
    #[arg(long, default_value_t = DEFAULT_TTL)]
    pub ttl: u32,
    /// Answer `name.<ns>.svc.<domain>` from a known pod with the first name
    /// of its search path that exists (like CoreDNS autopath).
    #[arg(long)]
    pub autopath: bool,
    /// Serve /healthz, /readyz and Prometheus /metrics over HTTP here.
    #[arg(long, value_name = "IP:PORT")]
    pub metrics_listen: Option<SocketAddr>,
    /// UDP worker tasks (each with its own answer cache); default: the
    /// number of CPUs this process may run on.
    #[arg(long)]
    pub workers: Option<usize>,
}

pub fn run(a: DnsArgs) -> anyhow::Result<()> {
    // Everything is read and checked before the sockets are bound.
    let source = StaticSource::from_file(&a.file)?;
    let config = ZoneConfig {
        domain: a.domain,
        ttl: a.ttl,
    };
    let zone = Zone::build(&source, &config)?;
    let workers = a
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let metrics = Arc::new(Metrics::default());
    let (publisher, zones) = zone_channel();
    publisher.publish(zone);
    metrics.set_ready(true);
    let handler = Handler::new(zones)
        .with_autopath(a.autopath)
        .with_metrics(metrics);
    rt.block_on(async move {
        let server = Server::bind(a.listen, handler)
            .await?
            .with_udp_workers(workers);
        if let Some(addr) = a.metrics_listen {
            let health = HealthServer::bind(addr, server.handler().clone()).await?;
            println!("berth dns: metrics on http://{}", health.local_addr()?);
            tokio::spawn(health.run());
        }
        println!(
            "berth dns: serving {} on {}",
            config.domain,
            server.local_addr()
        );
        server.run().await?;
        anyhow::Ok(())
    })
}
