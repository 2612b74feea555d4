//! `berth bench api`: the API server under load, embedded store vs etcd in
//! the same run: create N Services and M endpoints (in EndpointSlices of
//! 100), mutating-call latency, watch latency (update → event at each of W
//! watchers), the server's RSS afterwards, then controller latency: a
//! Deployment of R replicas created → each pod bound, with N fake nodes.

mod load;
mod procs;
mod schedule;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use berth_client::ClientConfig;
use serde::Serialize;

use crate::stats::percentiles;

/// Defaults of the issue: 10,000 services, 100,000 endpoints, 100 watchers.
pub const DEFAULT_SERVICES: usize = 10_000;
pub const DEFAULT_ENDPOINTS: usize = 100_000;
pub const DEFAULT_WATCHERS: usize = 100;
pub const DEFAULT_UPDATES: usize = 200;
/// Fake nodes and Deployment replicas of the `schedule` row.
pub const DEFAULT_NODES: usize = 100;
pub const DEFAULT_REPLICAS: usize = 100;

/// What to run.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub services: usize,
    pub endpoints: usize,
    pub watchers: usize,
    pub updates: usize,
    /// Fake nodes registered for the `schedule` row.
    pub nodes: usize,
    /// Replicas of the Deployment whose pods' binding is timed.
    pub replicas: usize,
    /// Whether the servers run their controllers (the default).
    pub controllers: bool,
    /// `embedded`, `etcd`, or both.
    pub stores: Vec<String>,
    pub json: Option<PathBuf>,
}

/// One JSON row (the schema).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Row {
    Latency {
        store: String,
        metric: &'static str,
        p50_ms: f64,
        p99_ms: f64,
        samples: usize,
    },
    Schedule {
        store: String,
        metric: &'static str,
        p50_ms: f64,
        p99_ms: f64,
        nodes: usize,
        pods: usize,
    },
    Value {
        store: String,
        metric: &'static str,
        value: f64,
    },
}

fn ms(d: f64) -> f64 {
    (d / 1000.0 * 1000.0).round() / 1000.0
}

fn latency(store: &str, metric: &'static str, samples: &mut [Duration]) -> anyhow::Result<Row> {
    let n = samples.len();
    let p = percentiles(samples).context("no samples")?;
    Ok(Row::Latency {
        store: store.to_owned(),
        metric,
        p50_ms: ms(p.p50_us),
        p99_ms: ms(p.p99_us),
        samples: n,
    })
}

async fn one_store(store: &str, cfg: &ApiConfig) -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let (_etcd, datastore) = match store {
        "embedded" => (None, "embedded".to_owned()),
        "etcd" => {
            let (p, url) = procs::etcd(&dir.path().join("etcd"))?;
            (Some(p), url)
        }
        other => anyhow::bail!("--stores: invalid value {other:?}: embedded or etcd"),
    };
    let (server, admin) =
        procs::berth_server(&dir.path().join("server"), &datastore, cfg.controllers)?;
    let config = ClientConfig::load(&admin)?;
    eprintln!("[{store}] creating {} services ...", cfg.services);
    let mut mutate = load::create_services(&config, cfg.services).await?;
    let slices = cfg.endpoints.div_ceil(load::PER_SLICE);
    eprintln!(
        "[{store}] creating {slices} EndpointSlices ({} endpoints) ...",
        slices * load::PER_SLICE
    );
    mutate.extend(load::create_slices(&config, slices.min(cfg.services)).await?);
    eprintln!(
        "[{store}] {} watchers, {} updates ...",
        cfg.watchers, cfg.updates
    );
    let mut watch = load::watch_latency(&config, cfg.watchers, cfg.updates).await?;
    let rss = procs::rss_mb(server.pid())?;
    let mut rows = vec![
        latency(store, "mutate", &mut mutate)?,
        latency(store, "watch", &mut watch)?,
        Row::Value {
            store: store.to_owned(),
            metric: "rss_mb",
            value: (rss * 10.0).round() / 10.0,
        },
    ];
    if cfg.controllers && cfg.nodes > 0 && cfg.replicas > 0 {
        eprintln!(
            "[{store}] {} fake nodes, Deployment of {} replicas ...",
            cfg.nodes, cfg.replicas
        );
        let mut bind = schedule::schedule_latency(&config, cfg.nodes, cfg.replicas).await?;
        let p = percentiles(&mut bind).context("no pods bound")?;
        rows.push(Row::Schedule {
            store: store.to_owned(),
            metric: "schedule",
            p50_ms: ms(p.p50_us),
            p99_ms: ms(p.p99_us),
            nodes: cfg.nodes,
            pods: bind.len(),
        });
    }
    // The fake nodes are gone; the server goes before etcd.
    drop(server);
    Ok(rows)
}

/// Runs the benchmark, prints a table, writes JSON.
pub fn run(cfg: &ApiConfig) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    for store in &cfg.stores {
        rows.extend(rt.block_on(one_store(store, cfg))?);
    }
    println!(
        "berth bench api: {} services, {} endpoints in slices of {}, {} writers, {} watchers x {} updates, \
         {} fake nodes x {} replicas",
        cfg.services,
        cfg.endpoints,
        load::PER_SLICE,
        load::WRITERS,
        cfg.watchers,
        cfg.updates,
        cfg.nodes,
        cfg.replicas
    );
    println!(
        "{:<10} {:<8} {:>10} {:>10} {:>9}",
        "store", "metric", "p50 ms", "p99 ms", "samples"
    );
    for r in &rows {
        match r {
            Row::Latency {
                store,
                metric,
                p50_ms,
                p99_ms,
                samples,
            } => {
                println!("{store:<10} {metric:<8} {p50_ms:>10.3} {p99_ms:>10.3} {samples:>9}")
            }
            Row::Schedule {
                store,
                metric,
                p50_ms,
                p99_ms,
                nodes,
                pods,
            } => {
                println!(
                    "{store:<10} {metric:<8} {p50_ms:>10.3} {p99_ms:>10.3} {pods:>9} pods bound on {nodes} nodes"
                )
            }
            Row::Value {
                store,
                metric,
                value,
            } => {
                println!("{store:<10} {metric:<8} {value:>10.1} MiB")
            }
        }
    }
    println!("targets: mutate p99 < 10 ms (embedded), watch p99 < 10 ms, server RSS < 150 MB");
    if let Some(path) = &cfg.json {
        let doc = serde_json::json!({
            "rows": rows,
            "settings": {
                "services": cfg.services, "endpoints": cfg.endpoints,
                "per_slice": load::PER_SLICE, "writers": load::WRITERS,
                "watchers": cfg.watchers, "updates": cfg.updates,
                "nodes": cfg.nodes, "replicas": cfg.replicas, "controllers": cfg.controllers,
                "etcd": etcd_version(),
                "kernel": crate::sysinfo::kernel_release(),
            }
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn etcd_version() -> String {
    std::process::Command::new("etcd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "not installed".into())
}
