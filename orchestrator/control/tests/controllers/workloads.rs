//! Deployments, ReplicaSets and their pods.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use berth_api::{Deployment, Kind, Pod, ReplicaSet};
use berth_client::DeleteOptions;
use berth_client::typed::Change;
use berth_control::testing::FakeNodeOptions;
use tokio_stream::StreamExt as _;

use crate::support::{Cluster, deployment, wait};

async fn ready_count(c: &Cluster, app: &str) -> usize {
    c.live_pods(app)
        .await
        .iter()
        .filter(|p| p.is_ready())
        .count()
}

async fn deployment_available(c: &Cluster, name: &str, n: i32) -> bool {
    let d = c
        .client
        .get::<Deployment>("default", name)
        .await
        .unwrap()
        .unwrap();
    d.status.available_replicas == n
        && d.status.updated_replicas == n
        && d.status.replicas == n
        && d.status.observed_generation == d.metadata.generation
}

async fn scale(c: &Cluster, name: &str, replicas: i32) {
    loop {
        let mut d = c
            .client
            .get::<Deployment>("default", name)
            .await
            .unwrap()
            .unwrap();
        d.spec.replicas = replicas;
        match c.client.update(&d).await {
            Ok(_) => return,
            Err(e) if e.is_conflict() => continue,
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_scale_up_and_down() {
    let c = Cluster::start(&[
        ("n1", FakeNodeOptions::default()),
        ("n2", FakeNodeOptions::default()),
    ])
    .await;
    c.client.create(&deployment("web", 3, "")).await.unwrap();
    wait("3 ready pods", || async {
        ready_count(&c, "web").await == 3
    })
    .await;
    wait("deployment status 3/3", || {
        deployment_available(&c, "web", 3)
    })
    .await;
    // Spread over both nodes.
    let on: std::collections::BTreeSet<String> = c
        .live_pods("web")
        .await
        .into_iter()
        .map(|p| p.spec.node_name)
        .collect();
    assert_eq!(on.len(), 2, "pods not spread: {on:?}");
    scale(&c, "web", 5).await;
    wait("5 ready pods", || async {
        ready_count(&c, "web").await == 5
    })
    .await;
    wait("deployment status 5/5", || {
        deployment_available(&c, "web", 5)
    })
    .await;
    scale(&c, "web", 1).await;
    wait("1 pod left", || async {
        c.live_pods("web").await.len() == 1
    })
    .await;
    wait("deployment status 1/1", || {
        deployment_available(&c, "web", 1)
    })
    .await;
    // Scaling never made a second revision.
    let rs = c
        .client
        .list::<ReplicaSet>("default", "")
        .await
        .unwrap()
        .items;
    assert_eq!(rs.len(), 1, "{rs:?}");
    assert_eq!(rs[0].spec.replicas, 1);
    c.stop().await;
}

/// Counts, from the watch, the ready non-terminating pods and all
/// non-terminating pods after every event.
#[derive(Default)]
struct Availability {
    pods: BTreeMap<String, (bool, bool)>,
    min_ready: Option<usize>,
    max_total: usize,
}

impl Availability {
    fn see(&mut self, p: &Pod, gone: bool) {
        if gone {
            self.pods.remove(&p.metadata.name);
        } else {
            self.pods.insert(
                p.metadata.name.clone(),
                (p.is_ready(), p.metadata.is_deleting()),
            );
        }
        let live = self.pods.values().filter(|(_, deleting)| !deleting);
        let total = live.clone().count();
        let ready = live.filter(|(r, _)| *r).count();
        self.max_total = self.max_total.max(total);
        self.min_ready = Some(self.min_ready.map_or(ready, |m| m.min(ready)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_stays_within_max_surge_and_max_unavailable() {
    let nodes: Vec<_> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| (*n, FakeNodeOptions::default()))
        .collect();
    let c = Cluster::start(&nodes).await;
    let strategy =
        "  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 1}}";
    c.client
        .create(&deployment("api", 4, strategy))
        .await
        .unwrap();
    wait("4/4 available", || deployment_available(&c, "api", 4)).await;
    let list = c.client.list::<Pod>("default", "app=api").await.unwrap();
    let seen = Arc::new(Mutex::new(Availability::default()));
    for p in &list.items {
        seen.lock().unwrap().see(p, false);
    }
    seen.lock().unwrap().min_ready = None;
    let mut stream = c
        .client
        .watch::<Pod>("default", list.resource_version)
        .await
        .unwrap();
    let s2 = seen.clone();
    let watcher = tokio::spawn(async move {
        while let Some(Ok((change, _))) = stream.next().await {
            match change {
                Change::Applied(p) => s2.lock().unwrap().see(&p, false),
                Change::Deleted(p) => s2.lock().unwrap().see(&p, true),
            }
        }
    });
    let mut d = c
        .client
        .get::<Deployment>("default", "api")
        .await
        .unwrap()
        .unwrap();
    let old_rs = c
        .client
        .list::<ReplicaSet>("default", "")
        .await
        .unwrap()
        .items;
    d.spec
        .template
        .metadata
        .labels
        .insert("version".into(), "2".into());
    c.client.update(&d).await.unwrap();
    wait("the rollout to finish", || async {
        deployment_available(&c, "api", 4).await
            && c.live_pods("api")
                .await
                .iter()
                .all(|p| p.metadata.labels.contains_key("version"))
    })
    .await;
    watcher.abort();
    let (min_ready, max_total) = {
        let a = seen.lock().unwrap();
        (a.min_ready, a.max_total)
    };
    // maxUnavailable 1: at least 3 ready; maxSurge 1: at most 5 pods.
    assert!(min_ready.unwrap() >= 3, "ready dropped to {min_ready:?}");
    assert!(max_total <= 5, "{max_total} pods at once");
    // Two revisions now; the old one scaled to 0 and kept for rollback.
    let rs = c
        .client
        .list::<ReplicaSet>("default", "")
        .await
        .unwrap()
        .items;
    assert_eq!(rs.len(), 2);
    let old = rs
        .iter()
        .find(|r| r.metadata.name == old_rs[0].metadata.name)
        .unwrap();
    assert_eq!(old.spec.replicas, 0);
    let d = c
        .client
        .get::<Deployment>("default", "api")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        d.metadata.annotation("deployment.kubernetes.io/revision"),
        Some("2")
    );
    assert!(
        d.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Progressing" && c.reason == "NewReplicaSetAvailable")
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_deployment_deletes_its_replica_sets_and_pods() {
    let c = Cluster::start(&[("n1", FakeNodeOptions::default())]).await;
    c.client.create(&deployment("gone", 2, "")).await.unwrap();
    wait("2 ready pods", || async {
        ready_count(&c, "gone").await == 2
    })
    .await;
    c.client
        .delete(
            Kind::Deployment,
            "default",
            "gone",
            DeleteOptions::default(),
        )
        .await
        .unwrap();
    wait("no replica sets and no pods", || async {
        c.client
            .list::<ReplicaSet>("default", "")
            .await
            .unwrap()
            .items
            .is_empty()
            && c.client
                .list::<Pod>("default", "app=gone")
                .await
                .unwrap()
                .items
                .is_empty()
    })
    .await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_survives_a_user_apply_and_scale_events_are_written() {
    let c = Cluster::start(&[("n1", FakeNodeOptions::default())]).await;
    c.client.create(&deployment("kept", 2, "")).await.unwrap();
    wait("2/2", || deployment_available(&c, "kept", 2)).await;
    // A user re-applies the manifest (no status in it): the status stays.
    let applied = c.client.apply(&deployment("kept", 2, "")).await.unwrap();
    assert_eq!(applied.status.available_replicas, 2);
    wait("a ScalingReplicaSet event", || async {
        c.client
            .list::<berth_api::Event>("default", "")
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| e.reason == "ScalingReplicaSet" && e.involved_object.name == "kept")
    })
    .await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_changes_nothing_that_runs() {
    // Node leases keep their 40 s grace: the restart must not look like a
    // node failure.
    let mut c = crate::support::Cluster::start_with(
        &[("n1", FakeNodeOptions::default())],
        berth_control::controllers::Settings::default(),
    )
    .await;
    c.client.create(&deployment("steady", 3, "")).await.unwrap();
    wait("3/3", || deployment_available(&c, "steady", 3)).await;
    let names = |pods: Vec<Pod>| {
        let mut v: Vec<(String, String, String)> = pods
            .into_iter()
            .map(|p| {
                (
                    p.metadata.name,
                    p.metadata.resource_version,
                    p.spec.node_name,
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = names(c.client.list::<Pod>("default", "").await.unwrap().items);
    let rs_before = c
        .client
        .list::<ReplicaSet>("default", "")
        .await
        .unwrap()
        .items;
    c.restart_server().await;
    // Proof that the new controllers looked: each reconciled what exists
    // (the Deployment, its ReplicaSet, the node) and has nothing left.
    let progress = c.server.as_ref().unwrap().progress.clone();
    wait("every controller reconciled after the restart", || {
        let p = progress.clone();
        async move {
            let done: BTreeMap<_, _> = p.done().into_iter().collect();
            done["deployment"] >= 1 && done["replicaset"] >= 1 && done["nodes"] >= 1 && p.idle()
        }
    })
    .await;
    eprintln!("reconciles after the restart: {:?}", progress.done());
    let after = names(c.client.list::<Pod>("default", "").await.unwrap().items);
    assert_eq!(before, after, "pods were touched by the restart");
    let rs_after = c
        .client
        .list::<ReplicaSet>("default", "")
        .await
        .unwrap()
        .items;
    assert_eq!(
        rs_before
            .iter()
            .map(|r| &r.metadata.resource_version)
            .collect::<Vec<_>>(),
        rs_after
            .iter()
            .map(|r| &r.metadata.resource_version)
            .collect::<Vec<_>>()
    );
    assert!(deployment_available(&c, "steady", 3).await);
    c.stop().await;
}
