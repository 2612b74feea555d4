//! `berth dns`: the cluster DNS server alone, from a static file.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::Context as _;
use berth_dns::{DEFAULT_DOMAIN, DEFAULT_TTL, Server, StaticSource, Zone, ZoneConfig};
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
}

pub fn run(a: DnsArgs) -> anyhow::Result<()> {
    // Everything is read and checked before the sockets are bound.
    let source = StaticSource::from_file(&a.file)?;
    let config = ZoneConfig {
        domain: a.domain,
        ttl: a.ttl,
    };
    let zone = Arc::new(Zone::build(&source, &config)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let server = Server::bind(a.listen, zone).await?;
        println!(
            "berth dns: serving {} on {}",
            config.domain,
            server.local_addr()
        );
        server.run().await?;
        anyhow::Ok(())
    })
}
