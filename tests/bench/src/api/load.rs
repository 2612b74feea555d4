//! The load: Services and EndpointSlices created with a few concurrent
//! clients (each call timed), then updates watched by many watchers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use berth_client::proto::watch_event::Type;
use berth_client::proto::{WatchRequest, WriteRequest};
use berth_client::{ApiClient, ClientConfig, connect};

/// Parallel clients creating objects.
pub const WRITERS: usize = 8;
/// Endpoints per EndpointSlice (the Kubernetes maximum).
pub const PER_SLICE: usize = 100;

/// A Service without a clusterIP: the server allocates one, as it would
/// for a user.
fn service(i: usize, generation: usize) -> Vec<u8> {
    format!(
        r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"svc-{i}","labels":{{"gen":"{generation}"}}}},"spec":{{"ports":[{{"name":"http","port":80}}]}}}}"#
    )
    .into_bytes()
}

fn slice(i: usize) -> Vec<u8> {
    let endpoints: Vec<String> = (0..PER_SLICE)
        .map(|e| {
            let n = i * PER_SLICE + e;
            format!(
                r#"{{"addresses":["10.{}.{}.{}"],"conditions":{{"ready":true}}}}"#,
                200 + n / 65536,
                (n / 256) % 256,
                n % 256
            )
        })
        .collect();
    format!(
        r#"{{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{{"name":"svc-{i}-x","labels":{{"kubernetes.io/service-name":"svc-{i}"}}}},"addressType":"IPv4","ports":[{{"name":"http","port":8080,"protocol":"TCP"}}],"endpoints":[{}]}}"#,
        endpoints.join(",")
    )
    .into_bytes()
}

/// Creates `n` objects made by `make`, `WRITERS` at a time; each call's
/// latency.
async fn create_all(
    config: &ClientConfig,
    n: usize,
    make: fn(usize) -> Vec<u8>,
) -> anyhow::Result<Vec<Duration>> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (config, next) = (config.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut api = connect(&config).await?;
            let mut took = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(took);
                }
                let object_json = make(i);
                let t = Instant::now();
                api.create(WriteRequest { object_json })
                    .await
                    .with_context(|| format!("creating object {i}"))?;
                took.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

pub async fn create_services(config: &ClientConfig, n: usize) -> anyhow::Result<Vec<Duration>> {
    create_all(config, n, |i| service(i, 0)).await
}

pub async fn create_slices(config: &ClientConfig, n: usize) -> anyhow::Result<Vec<Duration>> {
    create_all(config, n, slice).await
}

/// `watchers` watches on Services; `updates` applies one at a time (each
/// waits until every watcher saw it): the delay from the start of the call
/// to each watcher's receipt of the event.
pub async fn watch_latency(
    config: &ClientConfig,
    watchers: usize,
    updates: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut api: ApiClient = connect(config).await?;
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let rv0 = api
        .list(berth_client::proto::ListRequest {
            kind: "Service".into(),
            namespace: "default".into(),
            label_selector: "gen=none".into(),
        })
        .await?
        .into_inner()
        .resource_version;
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let seen_tx = seen_tx.clone();
        let mut api = connect(config).await?;
        let mut stream = api
            .watch(WatchRequest {
                kind: "Service".into(),
                namespace: "default".into(),
                resource_version: rv0,
            })
            .await?
            .into_inner();
        tasks.push(tokio::spawn(async move {
            while let Ok(Some(e)) = stream.message().await {
                let now = Instant::now();
                if Type::try_from(e.r#type) == Ok(Type::Modified) {
                    let _ = seen_tx.send((e.resource_version, now));
                }
            }
        }));
    }
    drop(seen_tx);
    let mut samples = Vec::with_capacity(watchers * updates);
    for u in 0..updates {
        let i = u % 100;
        let current = api
            .get(berth_client::proto::ObjectKey {
                kind: "Service".into(),
                namespace: "default".into(),
                name: format!("svc-{i}"),
            })
            .await?
            .into_inner();
        let mut obj: serde_json::Value = serde_json::from_slice(&current.object_json)?;
        obj["metadata"]["labels"]["gen"] = serde_json::Value::String(format!("{}", u + 1));
        let object_json = serde_json::to_vec(&obj)?;
        let t = Instant::now();
        let reply = api.update(WriteRequest { object_json }).await?.into_inner();
        let v: serde_json::Value = serde_json::from_slice(&reply.object_json)?;
        let rv: u64 = v["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .context("update reply without resourceVersion")?;
        let mut got = 0;
        while got < watchers {
            match tokio::time::timeout(Duration::from_secs(30), seen_rx.recv()).await {
                Ok(Some((r, at))) if r == rv => {
                    samples.push(at - t);
                    got += 1;
                }
                Ok(Some(_)) => {}
                _ => anyhow::bail!("watchers did not see update {u} (revision {rv})"),
            }
        }
    }
    for t in tasks {
        t.abort();
    }
    Ok(samples)
}
