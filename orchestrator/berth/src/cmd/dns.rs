//! `berth dns`: the cluster DNS server, fed by the API server (list +
//! watch of Services, EndpointSlices and Pods: `--server` and
//! `--token-file`, as the node agent) or by a static file (`--static`).

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::Context as _;
use berth_dns::{
    DEFAULT_DOMAIN, DEFAULT_TTL, FileWatch, ForwardConfig, Forwarder, Handler, HealthServer,
    Metrics, Server, StaticSource, Zone, ZoneConfig, reload_static, upstreams_from_resolv_conf,
    zone_channel,
};
use berth_node::startup::{Credentials, parse_upstream};
use clap::Args;

#[derive(Debug, Args)]
pub struct DnsArgs {
    /// Kubernetes Service, EndpointSlice and Pod manifests (multi-document
    /// YAML or JSON, or `kind: List`), reloaded when the file changes.
    #[arg(
        long = "static",
        value_name = "FILE",
        required_unless_present = "server",
        conflicts_with = "server"
    )]
    pub file: Option<PathBuf>,
    /// Follow this API server (`https://HOST:PORT`) instead of a file.
    #[arg(long, requires = "token_file")]
    pub server: Option<String>,
    /// The token for `--server` (the node token will do: DNS only reads).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The cluster CA (default: `ca.crt` next to the token file).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
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
    /// Resolver for names outside the cluster zone, `IP` or `IP:PORT`
    /// (repeatable, tried in order). Default: the nameservers of
    /// --resolv-conf.
    #[arg(long = "upstream", value_name = "ADDR", value_parser = parse_upstream)]
    pub upstreams: Vec<SocketAddr>,
    /// Where the default upstreams come from.
    #[arg(long, value_name = "FILE", default_value = "/etc/resolv.conf")]
    pub resolv_conf: PathBuf,
    /// Do not forward: names outside the cluster zone are REFUSED.
    #[arg(long, conflicts_with = "upstreams")]
    pub no_upstream: bool,
    /// Answers kept by the forwarder's cache.
    #[arg(long, default_value_t = ForwardConfig::default().cache_capacity)]
    pub cache_size: usize,
    /// Queries outstanding at the upstreams before new ones are REFUSED.
    #[arg(long, default_value_t = ForwardConfig::default().max_in_flight)]
    pub max_concurrent: usize,
    /// UDP worker tasks (each with its own answer cache); default: the
    /// number of CPUs this process may run on.
    #[arg(long)]
    pub workers: Option<usize>,
}

/// Where the zone comes from.
enum Source {
    /// A file (watched from before it was read), checked whole before
    /// anything is bound.
    File(FileWatch, Box<StaticSource>),
    /// The API server.
    Api(berth_client::ClientConfig),
}

pub fn run(a: DnsArgs) -> anyhow::Result<()> {
    // Everything is read and checked before the sockets are bound.
    let source = match (&a.file, &a.server) {
        (Some(f), _) => {
            // Watched from before the read: no change after it is missed.
            let watch = FileWatch::new(f, berth_dns::DEFAULT_POLL);
            Source::File(watch, Box::new(StaticSource::from_file(f)?))
        }
        (None, Some(server)) => {
            let token = a
                .token_file
                .as_deref()
                .context("--token-file is required with --server")?;
            let credentials = Credentials {
                server: server.clone(),
                token_file: token.to_path_buf(),
                ca_file: a.ca_file.clone(),
            };
            Source::Api(credentials.load()?)
        }
        (None, None) => anyhow::bail!("either --static FILE or --server URL is required"),
    };
    let forward = if a.no_upstream {
        None
    } else {
        let upstreams = if a.upstreams.is_empty() {
            upstreams_from_resolv_conf(&a.resolv_conf)?
        } else {
            a.upstreams.clone()
        };
        Some(ForwardConfig {
            upstreams,
            cache_capacity: a.cache_size,
            max_in_flight: a.max_concurrent,
            ..ForwardConfig::default()
        })
    };
    if let Some(f) = &forward {
        f.validate()?;
    }
    let config = ZoneConfig {
        domain: a.domain,
        ttl: a.ttl,
    };
    let workers = a
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let (publisher, zones) = zone_channel();
    let what = match &source {
        Source::File(f, s) => {
            publisher.publish(Zone::build(s.as_ref(), &config)?);
            format!(
                "{} services from {}, reloaded on change",
                s.services.len(),
                f.path().display()
            )
        }
        Source::Api(c) => format!("from the API server {}", c.server),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let metrics = Arc::new(Metrics::default());
    let mut handler = Handler::new(zones)
        .with_autopath(a.autopath)
        .with_metrics(metrics.clone());
    rt.block_on(async move {
        if let Some(config) = forward {
            println!("berth dns: forwarding to {:?}", config.upstreams);
            handler = handler.with_upstream(Arc::new(Forwarder::new(config)?));
        } else {
            println!(
                "berth dns: no upstream: names outside {} are REFUSED",
                config.domain
            );
        }
        let server = Server::bind(a.listen, handler)
            .await?
            .with_udp_workers(workers);
        if let Some(addr) = a.metrics_listen {
            let health = HealthServer::bind(addr, server.handler().clone()).await?;
            println!("berth dns: metrics on http://{}", health.local_addr()?);
            tokio::spawn(health.run());
        }
        println!(
            "berth dns: serving {} ({what}) on {}",
            config.domain,
            server.local_addr()
        );
        match source {
            Source::File(watch, _) => {
                tokio::spawn(reload_static(watch, config.clone(), publisher, metrics));
            }
            Source::Api(client) => {
                // Until the first lists are in, queries get SERVFAIL (the
                // zone is not published): never a wrong NXDOMAIN.
                let (tx, rx) = tokio::sync::mpsc::channel(1024);
                tokio::spawn(async move {
                    berth_dnsfeed::ApiFeed::connect(&client).await.run(tx).await;
                });
                tokio::spawn(berth_dns::run_feed(rx, config.clone(), publisher, metrics));
            }
        }
        tokio::select! {
            r = server.run() => r?,
            () = super::server::shutdown_signal() => println!("berth dns: stopping"),
        }
        anyhow::Ok(())
    })
}
