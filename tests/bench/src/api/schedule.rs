//! Controller latency: N fake nodes (in this process), a Deployment of R
//! replicas created, and the delay from the create call to each of its
//! pods' first watch event with `spec.nodeName` set (Deployment →
//! ReplicaSet → Pod → scheduler → bind, all inside `berth server`).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use berth_api::manifest::{ParseOptions, parse_str};
use berth_api::{Deployment, Kind, Node, Pod};
use berth_client::typed::Change;
use berth_client::{Client, ClientConfig, DeleteOptions, connect};
use berth_control::testing::{FakeNode, FakeNodeOptions};
use futures_util::StreamExt as _;

/// The Deployment created (namespace `default`, label `app=<it>`).
pub const DEPLOYMENT: &str = "bench-sched";
/// How often the fake nodes renew their leases (and resync their pods):
/// slower than the tests' default to keep the load they add low.
const LEASE_PERIOD: Duration = Duration::from_secs(2);
/// How long the nodes may take to be Ready with pod CIDRs.
const NODES_TIMEOUT: Duration = Duration::from_secs(60);
/// How long every pod may take to be bound (only catches a hang).
const BIND_TIMEOUT: Duration = Duration::from_secs(120);

fn node_name(i: usize) -> String {
    format!("bench-node-{i}")
}

fn deployment(replicas: usize) -> anyhow::Result<Deployment> {
    let yaml = format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {DEPLOYMENT}
  namespace: default
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {DEPLOYMENT}
  template:
    metadata:
      labels:
        app: {DEPLOYMENT}
    spec:
      containers:
      - name: app
        image: busybox
"
    );
    let mut docs = parse_str(&yaml, "bench-sched.yaml", &ParseOptions::default())?;
    let doc = docs
        .pop()
        .context("no document in the Deployment manifest")?;
    Deployment::try_from(doc.object).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Polls until every one of `names` is Ready and has pod CIDRs.
async fn wait_nodes_ready(client: &Client, names: &HashSet<String>) -> anyhow::Result<()> {
    let deadline = Instant::now() + NODES_TIMEOUT;
    loop {
        let nodes = client.list::<Node>("", "").await?.items;
        let ready = nodes
            .iter()
            .filter(|n| names.contains(&n.metadata.name))
            .filter(|n| n.is_ready() && !n.spec.pod_cidrs.is_empty())
            .count();
        if ready == names.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{ready} of {} fake nodes Ready with pod CIDRs after {NODES_TIMEOUT:?}",
                names.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Per-pod bind latency of a Deployment of `replicas` on `nodes` fake nodes.
pub async fn schedule_latency(
    config: &ClientConfig,
    nodes: usize,
    replicas: usize,
) -> anyhow::Result<Vec<Duration>> {
    let client = Client::remote(connect(config).await?);
    let started = Instant::now();
    let opts = FakeNodeOptions {
        lease_period: LEASE_PERIOD,
        ..FakeNodeOptions::default()
    };
    let fakes = futures_util::future::try_join_all((0..nodes).map(|i| {
        let (client, opts) = (client.clone(), opts.clone());
        async move {
            let name = node_name(i);
            FakeNode::start(client, &name, opts)
                .await
                .with_context(|| format!("starting fake node {name}"))
        }
    }))
    .await?;
    let names: HashSet<String> = (0..nodes).map(node_name).collect();
    wait_nodes_ready(&client, &names).await?;
    eprintln!(
        "  {nodes} nodes Ready with pod CIDRs in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Watch pods (every namespace) from now on; stamp each event on
    // arrival, in a task of its own so the create call does not delay it.
    let rv = client.list::<Pod>("", "").await?.resource_version;
    let mut stream = client.watch::<Pod>("", rv).await?;
    // (pod, bound, arrival)
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, bool, Instant)>();
    let watcher = tokio::spawn(async move {
        while let Some(ev) = stream.next().await {
            let now = Instant::now();
            let Ok((Change::Applied(pod), _)) = ev else {
                if let Err(e) = ev {
                    tracing::warn!(error = %e, "bench schedule: pod watch");
                    return;
                }
                continue;
            };
            let ours = pod.metadata.namespace == "default"
                && pod.metadata.labels.get("app").map(String::as_str) == Some(DEPLOYMENT);
            let is_bound = !pod.spec.node_name.is_empty();
            if ours && tx.send((pod.metadata.name, is_bound, now)).is_err() {
                return;
            }
        }
    });

    let deploy = deployment(replicas)?;
    let t0 = Instant::now();
    client
        .create(&deploy)
        .await
        .context("creating Deployment bench-sched")?;
    let deadline = tokio::time::Instant::now() + BIND_TIMEOUT;
    let mut bound = HashSet::with_capacity(replicas);
    let mut seen = HashSet::with_capacity(replicas);
    let mut samples = Vec::with_capacity(replicas);
    // When the last pod was first seen (created, by the ReplicaSet
    // controller), to tell the controllers' share from the scheduler's.
    let mut last_created = Duration::ZERO;
    while bound.len() < replicas {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((pod, is_bound, at))) => {
                let since = at.saturating_duration_since(t0);
                if seen.insert(pod.clone()) {
                    last_created = last_created.max(since);
                }
                if is_bound && bound.insert(pod) {
                    samples.push(since);
                }
            }
            Ok(None) => bail!(
                "the pod watch ended with {} of {replicas} pods bound",
                bound.len()
            ),
            Err(_) => bail!(
                "{} of {replicas} pods bound to {nodes} nodes after {BIND_TIMEOUT:?}",
                bound.len()
            ),
        }
    }
    watcher.abort();
    eprintln!(
        "  last pod created {:.0} ms, last bound {:.0} ms after the Deployment",
        last_created.as_secs_f64() * 1e3,
        samples
            .iter()
            .max()
            .unwrap_or(&Duration::ZERO)
            .as_secs_f64()
            * 1e3
    );
    // Its controllers delete the ReplicaSet and the pods; the fake nodes
    // (dropped next) need not see that through.
    client
        .delete(
            Kind::Deployment,
            "default",
            DEPLOYMENT,
            DeleteOptions::default(),
        )
        .await
        .context("deleting Deployment bench-sched")?;
    drop(fakes);
    Ok(samples)
}
