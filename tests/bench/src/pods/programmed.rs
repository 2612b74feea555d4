//! `service_programmed`: a Service created → the first successful TCP
//! connection through its VIP. The node's service proxy (berth-node's
//! `Proxy`, as `berth agent` runs it) programs the eBPF data plane, pinned
//! under a bpffs directory of the run's own and attached at the cgroup-v2
//! root; one backend pod (httpd, no probe) answers. Each Service is
//! created, then a connect to its clusterIP is tried every millisecond
//! (each attempt bounded by [`ATTEMPT`]) until one succeeds; then the
//! Service is deleted before the next. The connections come from the
//! benchmark process on the host, not from inside a pod: the socket hooks
//! are the same for both (the root cgroup covers the pods' cgroups).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use berth_api::manifest::{ParseOptions, parse_str};
use berth_api::{Kind, Pod, Service};
use berth_client::DeleteOptions;
use berth_node::proxy::{DataplaneSettings, Proxy, kernel};

use super::world::{NAMESPACE, World};
use super::{Probe, measure, progress};
use crate::interrupt;

/// Only catches hangs.
const HANG: Duration = Duration::from_secs(60);
/// One connect attempt's bound.
const ATTEMPT: Duration = Duration::from_millis(100);
/// Pause between attempts.
const RETRY: Duration = Duration::from_millis(1);
/// The backend pod.
const BACKEND: &str = "bench-svc-backend";

/// The bpffs directory of a run.
pub fn bpffs() -> PathBuf {
    PathBuf::from(format!(
        "/sys/fs/bpf/{}{}",
        berth_test_support::cleanup::BENCH_PODS_BPFFS_PREFIX,
        std::process::id()
    ))
}

fn service(name: &str) -> anyhow::Result<Service> {
    let yaml = format!(
        r#"apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {NAMESPACE}}}
spec:
  selector: {{app: berth-bench-pods, probe: none}}
  ports: [{{port: 80, targetPort: 8080}}]
"#
    );
    let mut docs = parse_str(&yaml, "bench-svc.yaml", &ParseOptions::default())?;
    let doc = docs.pop().context("no document in the Service manifest")?;
    Service::try_from(doc.object).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The backend pod, created and waited for until Ready with an address.
async fn backend(world: &World) -> anyhow::Result<String> {
    let admin = world.admin();
    admin
        .create(&measure::manifest(BACKEND, Probe::None)?)
        .await?;
    let t = Instant::now();
    loop {
        interrupt::check()?;
        if let Some(p) = admin.get::<Pod>(NAMESPACE, BACKEND).await?
            && p.is_ready()
            && !p.status.pod_ip.is_empty()
        {
            return Ok(p.status.pod_ip);
        }
        if t.elapsed() > HANG {
            bail!("the backend pod {BACKEND} was not Ready within {HANG:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Tries until a connection to `vip` succeeds; the time from `t0`.
async fn first_connection(vip: SocketAddr, t0: Instant) -> anyhow::Result<Duration> {
    loop {
        if let Ok(Ok(_)) = tokio::time::timeout(ATTEMPT, tokio::net::TcpStream::connect(vip)).await
        {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > HANG {
            bail!("no connection through {vip} within {HANG:?}");
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Measures `n` Services; the data plane is removed again whatever happens.
pub async fn run(world: &World, n: usize) -> anyhow::Result<Vec<Duration>> {
    let bpffs = bpffs();
    let settings = DataplaneSettings {
        bpffs: bpffs.clone(),
        ..DataplaneSettings::default()
    };
    let lb = tokio::task::spawn_blocking(move || kernel::attach(&settings))
        .await?
        .map_err(|e| anyhow::anyhow!(berth_api::error_chain(&e)))?;
    let proxy = Proxy::start(world.admin().clone(), lb, Default::default());
    let measured = async {
        proxy.ready().await;
        let pod_ip = backend(world).await?;
        progress(format_args!(
            "service_programmed: {n} Services on backend {BACKEND} ({pod_ip})"
        ));
        let mut samples = Vec::with_capacity(n);
        for i in 0..n {
            interrupt::check()?;
            let name = format!("bench-svc-{i}");
            let t0 = Instant::now();
            let svc = world.admin().create(&service(&name)?).await?;
            let vip: SocketAddr = format!("{}:80", svc.spec.cluster_ip)
                .parse()
                .with_context(|| format!("the clusterIP {:?}", svc.spec.cluster_ip))?;
            samples.push(first_connection(vip, t0).await?);
            world
                .admin()
                .delete(Kind::Service, NAMESPACE, &name, DeleteOptions::default())
                .await?;
        }
        anyhow::Ok(samples)
    }
    .await;
    let _ = world
        .admin()
        .delete(Kind::Pod, NAMESPACE, BACKEND, DeleteOptions::default())
        .await;
    proxy.stop().await;
    remove(&bpffs);
    measured
}

/// Unpins the data plane (its programs detach).
pub fn remove(bpffs: &Path) {
    if bpffs.exists()
        && let Err(e) = berth_dataplane::kernel::down(bpffs)
    {
        eprintln!(
            "[bench] removing the data plane at {}: {e}",
            bpffs.display()
        );
    }
}
