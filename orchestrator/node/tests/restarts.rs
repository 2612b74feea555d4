//! The agent when what it depends on restarts, with the real thing (as
//! `agent.rs`: an in-process `berth server`, a containerd of the test's
//! own, runc, berth-cni):
//!
//! - containerd killed with SIGKILL while pods run: the supervisor
//!   (`Containerd::supervise`, as `berth agent` runs it) starts it again;
//!   the pods keep answering on their IPs meanwhile, keep their container
//!   ids and stay Running and Ready; the agent works through the new
//!   containerd (a pod deleted afterwards is torn down, a new one starts).
//! - the API server stopped while pods run: they keep answering; the
//!   server started again on the same data dir and port; the agent
//!   renews its lease, sees new pods and deletions again; no pod restarted.
//!
//! Needs root and the Debian packages containerd, runc, busybox-static and
//! containernetworking-plugins (for CNI `loopback`).

mod support;

use std::time::Duration;

use anyhow::{Context as _, ensure};
use berth_api::lease::NODE_LEASE_NAMESPACE;
use berth_api::{Kind, Lease, Pod, Time};
use berth_client::DeleteOptions;
use berth_node::containerd::Supervised;
use berth_node::runtime::Runtime as _;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use support::{World, http_get, pod_manifest, ready, wait};

/// How long the pods are watched answering while containerd or the server
/// is down (the agent's lease period in these tests is 2 s: at least one
/// renewal fails).
const DOWN_FOR: Duration = Duration::from_secs(4);
const PROBE: &str = "    readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}";

/// A status's container id without its `containerd://` scheme.
fn runtime_id(id: &str) -> &str {
    id.split_once("://").map_or(id, |(_, i)| i)
}

/// A pod's (container id, restart count, IP), checked Running and Ready.
fn running(p: &Pod) -> anyhow::Result<(String, i32, String)> {
    ensure!(
        ready(p),
        "pod {} not Running and Ready: {:?}",
        p.metadata.name,
        p.status
    );
    let c = p
        .status
        .container_statuses
        .first()
        .context("no container status")?;
    Ok((
        c.container_id.clone(),
        c.restart_count,
        p.status.pod_ip.clone(),
    ))
}

/// Starts pods `one` (readiness probe) and `two` (none) and waits until
/// both run and are Ready; returns what [`running`] says of each.
async fn two_pods(w: &World) -> anyhow::Result<Vec<(String, i32, String)>> {
    w.admin.create(&pod_manifest("one", &w.node, PROBE)).await?;
    w.admin.create(&pod_manifest("two", &w.node, "")).await?;
    wait("pods one and two Running and Ready", || async {
        let (a, b) = (w.pod("one").await, w.pod("two").await);
        a.is_some_and(|p| ready(&p)) && b.is_some_and(|p| ready(&p))
    })
    .await?;
    let mut out = Vec::new();
    for name in ["one", "two"] {
        let p = w.pod(name).await.context("pod")?;
        let r = running(&p)?;
        ensure!(r.1 == 0, "pod {name} restarted already");
        // A pod without a readiness probe is Ready when its container
        // starts, a moment before httpd listens: wait for its answer.
        let want = format!("hello-from-{name}");
        wait(&format!("pod {name} answering on {}", r.2), || async {
            http_get(&r.2, 8080).is_ok_and(|body| body.contains(&want))
        })
        .await?;
        out.push(r);
    }
    Ok(out)
}

/// Both pods answer on their IPs for [`DOWN_FOR`].
async fn keep_answering(before: &[(String, i32, String)]) -> anyhow::Result<()> {
    let until = tokio::time::Instant::now() + DOWN_FOR;
    while tokio::time::Instant::now() < until {
        for (name, (_, _, ip)) in ["one", "two"].iter().zip(before) {
            let body = http_get(ip, 8080).with_context(|| format!("pod {name} at {ip}"))?;
            ensure!(
                body.contains(&format!("hello-from-{name}")),
                "pod {name}: {body}"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// After the restart: `two` deleted and torn down, `three` started, `one`
/// still the same container, Ready, not restarted.
async fn agent_still_works(w: &World, one_before: &(String, i32, String)) -> anyhow::Result<()> {
    w.admin
        .delete(Kind::Pod, "default", "two", DeleteOptions::default())
        .await?;
    w.admin
        .create(&pod_manifest("three", &w.node, PROBE))
        .await?;
    wait("pod three Running and Ready", || async {
        w.pod("three").await.is_some_and(|p| ready(&p))
    })
    .await?;
    let three = running(&w.pod("three").await.context("three")?)?;
    ensure!(http_get(&three.2, 8080)?.contains("hello-from-three"));
    wait("pod two gone from the API", || async {
        w.pod("two").await.is_none()
    })
    .await?;
    let rt = w.runtime()?;
    wait("pod two's sandbox removed", || async {
        rt.list_sandboxes()
            .await
            .is_ok_and(|l| l.iter().all(|s| s.name != "two"))
    })
    .await?;
    let one = running(&w.pod("one").await.context("one")?)?;
    ensure!(
        one.0 == one_before.0,
        "pod one's container changed: {} -> {}",
        one_before.0,
        one.0
    );
    ensure!(one.1 == 0, "pod one restarted {} times", one.1);
    ensure!(http_get(&one.2, 8080)?.contains("hello-from-one"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_containerd_is_restarted_and_the_pods_carry_on() -> anyhow::Result<()> {
    let mut w = World::start("c", "10.244.225.0/24").await?;
    let containerd = w.containerd.take().context("containerd")?;
    let pid = containerd.pid().context("containerd's pid")?;
    // Supervised as `berth agent` does it; given back at the end.
    let supervised = Supervised::spawn(containerd);
    let result = async {
        let agent = w.agent().await?;
        let before = two_pods(&w).await?;
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL)?;
        // Gone (reaped by the supervisor, which then restarts it).
        wait("containerd killed and reaped", || async {
            kill(Pid::from_raw(pid as i32), None).is_err()
        })
        .await?;
        keep_answering(&before).await?;
        let rt = w.runtime()?;
        wait("the restarted containerd answering", || async {
            rt.ready().await.unwrap_or(false)
        })
        .await?;
        // The containers survived containerd: same ids, still running.
        let listed = rt.list_containers(None).await?;
        for (name, (id, _, _)) in ["one", "two"].iter().zip(&before) {
            ensure!(
                listed.iter().any(|c| runtime_id(id) == c.id
                    && c.state == berth_node::runtime::ContainerState::Running),
                "pod {name}'s container {id} not running after the restart: {listed:?}"
            );
        }
        // The API still says Running and Ready, for the same containers.
        for (name, b) in ["one", "two"].iter().zip(&before) {
            let now = running(&w.pod(name).await.context("pod")?)?;
            ensure!(
                now.0 == b.0 && now.1 == 0,
                "pod {name} restarted: {b:?} -> {now:?}"
            );
        }
        agent_still_works(&w, &before[0]).await?;
        agent.stop().await;
        anyhow::Ok(())
    }
    .await;
    let containerd = supervised.stop().await?;
    let restarts = containerd.restarts();
    w.containerd = Some(containerd);
    if result.is_err() {
        eprintln!("containerd log:\n{}", w.containerd_log());
    }
    w.stop().await?;
    result?;
    ensure!(restarts >= 1, "the supervisor did not restart containerd");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_keep_running_while_the_server_is_down() -> anyhow::Result<()> {
    let mut w = World::start("d", "10.244.226.0/24").await?;
    let result = async {
        let agent = w.agent().await?;
        let before = two_pods(&w).await?;
        w.stop_server().await;
        keep_answering(&before).await?;
        let rt = w.runtime()?;
        let listed = rt.list_containers(None).await?;
        for (name, (id, _, _)) in ["one", "two"].iter().zip(&before) {
            ensure!(
                listed.iter().any(|c| runtime_id(id) == c.id
                    && c.state == berth_node::runtime::ContainerState::Running),
                "pod {name}'s container {id} stopped while the server was down"
            );
        }
        // Back on the same data dir and port: the agent reconnects.
        w.start_server().await?;
        let back = Time::now().unix_seconds();
        wait("the node's lease renewed by the agent", || async {
            w.admin
                .get::<Lease>(NODE_LEASE_NAMESPACE, &w.node)
                .await
                .ok()
                .flatten()
                .and_then(|l| l.spec.renew_time)
                .is_some_and(|t| t.unix_seconds() > back)
        })
        .await?;
        for (name, b) in ["one", "two"].iter().zip(&before) {
            let now = running(&w.pod(name).await.context("pod")?)?;
            ensure!(
                now.0 == b.0 && now.1 == 0,
                "pod {name} restarted: {b:?} -> {now:?}"
            );
        }
        agent_still_works(&w, &before[0]).await?;
        agent.stop().await;
        anyhow::Ok(())
    }
    .await;
    if result.is_err() {
        eprintln!("containerd log:\n{}", w.containerd_log());
    }
    w.stop().await?;
    result
}
