//! The agent with the real thing: an in-process `berth server` (embedded
//! store, controllers), a containerd of the test's own (own root, state,
//! socket) whose CRI calls the real `berth-cni`, runc, and locally built
//! images. A pod's httpd becomes Running and Ready and answers on its IP;
//! deleting it leaves no sandbox, no veth and no reserved address; a
//! missing image gives ErrImageNeverPull; readiness and liveness probes
//! act; a killed agent's pods keep running and are adopted with the same
//! container ids, and a pod deleted while it was down is cleaned up.
//!
//! Needs root and the Debian packages containerd, runc, busybox-static and
//! containernetworking-plugins (for CNI `loopback`).

mod support;

use anyhow::{Context as _, ensure};
use berth_api::Kind;
use berth_client::DeleteOptions;
use berth_node::runtime::Runtime as _;

use support::{World, berth_bin, http_get, pod_manifest, ready, reserved, veths_on, wait};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_runs_answers_and_leaves_nothing_when_deleted() -> anyhow::Result<()> {
    let w = World::start("a", "10.244.221.0/24").await?;
    let result = async {
        let agent = w.agent().await?;
        let probe = "    readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}";
        w.admin.create(&pod_manifest("web", &w.node, probe)).await?;
        wait("the pod Running and Ready", || async {
            w.pod("web").await.is_some_and(|p| ready(&p))
        })
        .await?;
        let p = w.pod("web").await.context("pod")?;
        let ip = p.status.pod_ip.clone();
        ensure!(
            ip.starts_with("10.244.221."),
            "pod IP {ip} not from the node's CIDR"
        );
        let body = http_get(&ip, 8080)?;
        ensure!(body.contains("hello-from-web"), "unexpected answer: {body}");
        ensure!(
            veths_on(&w.bridge) == 1,
            "expected one veth on {}",
            w.bridge
        );
        // berth logs and berth exec, with the real CLI.
        let conf = w.dir.join("admin.conf");
        w.admin_conf.save(&conf)?;
        let berth = berth_bin()?;
        let cli = |args: &[&str]| {
            std::process::Command::new(&berth)
                .arg("--config")
                .arg(&conf)
                .arg(args[0])
                .arg("--address")
                .arg(&w.socket)
                .args(&args[1..])
                .output()
        };
        let out = cli(&[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 7",
        ])?;
        ensure!(
            out.status.code() == Some(7),
            "exec exit code {:?}",
            out.status
        );
        ensure!(
            String::from_utf8_lossy(&out.stdout) == "out\n",
            "exec stdout {:?}",
            out.stdout
        );
        ensure!(
            String::from_utf8_lossy(&out.stderr).contains("err"),
            "exec stderr {:?}",
            out.stderr
        );
        let out = cli(&[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo logged-line >/proc/1/fd/1",
        ])?;
        ensure!(out.status.success(), "exec: {out:?}");
        wait("the line in berth logs", || async {
            cli(&["logs", "web"])
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("logged-line"))
        })
        .await?;
        ensure!(
            reserved(&w.reservations).len() == 1,
            "expected one reserved address"
        );
        // A missing image: ErrImageNeverPull, nothing pulled.
        let mut missing = pod_manifest("nope", &w.node, "");
        missing.spec.containers[0].image = "example.com/not-here:1".into();
        w.admin.create(&missing).await?;
        wait("ErrImageNeverPull", || async {
            w.pod("nope").await.is_some_and(|p| {
                p.status.container_statuses.first().is_some_and(|s| {
                    s.state
                        .waiting
                        .as_ref()
                        .is_some_and(|w| w.reason == "ErrImageNeverPull")
                })
            })
        })
        .await?;
        // Delete: graceful, then nothing is left.
        for name in ["web", "nope"] {
            w.admin
                .delete(Kind::Pod, "default", name, DeleteOptions::default())
                .await?;
        }
        wait("both pods gone from the API", || async {
            w.pod("web").await.is_none() && w.pod("nope").await.is_none()
        })
        .await?;
        let rt = w.runtime()?;
        ensure!(rt.list_sandboxes().await?.is_empty(), "sandboxes left");
        ensure!(veths_on(&w.bridge) == 0, "veths left on {}", w.bridge);
        ensure!(
            reserved(&w.reservations).is_empty(),
            "addresses left: {:?}",
            reserved(&w.reservations)
        );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_act_and_a_killed_agent_adopts_what_runs() -> anyhow::Result<()> {
    let w = World::start("b", "10.244.222.0/24").await?;
    let result = async {
        let agent = w.agent().await?;
        // Readiness against a port nobody listens on: never Ready.
        let unready = "    readinessProbe: {tcpSocket: {port: 9999}, periodSeconds: 1}";
        w.admin.create(&pod_manifest("unready", &w.node, unready)).await?;
        // Liveness that fails: restarted, with back-off.
        let dying = "    livenessProbe: {exec: {command: [sh, -c, 'exit 1']}, periodSeconds: 1, failureThreshold: 1}";
        w.admin.create(&pod_manifest("dying", &w.node, dying)).await?;
        w.admin.create(&pod_manifest("steady", &w.node, "")).await?;
        wait("steady Ready, unready running but not Ready", || async {
            let s = w.pod("steady").await;
            let u = w.pod("unready").await;
            s.is_some_and(|p| ready(&p))
                && u.is_some_and(|p| {
                    p.status.phase == berth_api::pod::PodPhase::Running
                        && !p.is_ready()
                        && p.status.container_statuses.first().is_some_and(|c| c.state.running.is_some())
                })
        })
        .await?;
        wait("dying restarted twice", || async {
            w.pod("dying").await.is_some_and(|p| {
                p.status.container_statuses.first().is_some_and(|c| c.restart_count >= 2)
            })
        })
        .await?;
        // Kill the agent (no stop, no cleanup), delete a pod meanwhile.
        let before = w.pod("steady").await.context("steady")?;
        let id_before = before.status.container_statuses[0].container_id.clone();
        drop(agent);
        w.admin
            .delete(Kind::Pod, "default", "unready", DeleteOptions::default())
            .await?;
        // Gone from the API at once: only the runtime still has it.
        let now = DeleteOptions {
            resource_version: 0,
            grace_period_seconds: Some(0),
        };
        w.admin.delete(Kind::Pod, "default", "dying", now).await?;
        // Still serving while no agent runs.
        http_get(&before.status.pod_ip, 8080)?;
        let agent = w.agent().await?;
        wait("unready cleaned up after the restart", || async { w.pod("unready").await.is_none() }).await?;
        let rt = w.runtime()?;
        wait("the sandboxes of unready and dying removed", || async {
            rt.list_sandboxes()
                .await
                .is_ok_and(|l| l.iter().all(|s| s.name == "steady"))
        })
        .await?;
        // Proof that the new agent reconciled steady too: it was queued
        // with every pod of the node at the first sync, before the
        // sandboxes above (queued by the relist after it) were removed;
        // nothing waits any more.
        wait("the restarted agent reconciled its pods", || async {
            agent.reconciled() >= 3 && agent.idle()
        })
        .await?;
        let after = w.pod("steady").await.context("steady")?;
        ensure!(
            after.status.container_statuses[0].container_id == id_before,
            "steady was restarted: {id_before} -> {}",
            after.status.container_statuses[0].container_id
        );
        ensure!(after.status.container_statuses[0].restart_count == 0);
        ensure!(ready(&after), "steady not ready after the agent restart");
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
