//! Scheduling, endpoints, pod CIDRs and node failure.

use std::collections::BTreeSet;

use berth_api::endpointslice::LABEL_SERVICE_NAME;
use berth_api::meta::ConditionStatus;
use berth_api::{EndpointSlice, Event, Node, Pod, Service, Taint, TaintEffect};
use berth_control::controllers::nodes::TAINT_UNREACHABLE;
use berth_control::testing::FakeNodeOptions;

use crate::common::start_with;
use crate::support::{Cluster, deployment, fast, parse, wait};

fn pod(name: &str, extra_spec: &str) -> Pod {
    parse(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
{extra_spec}
  containers:
  - name: app
    image: busybox
    resources: {{requests: {{cpu: "2"}}}}
"#
    ))
}

fn scheduled_condition(p: &Pod) -> Option<(ConditionStatus, String, String)> {
    p.status
        .conditions
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .map(|c| (c.status, c.reason.clone(), c.message.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unschedulable_pod_is_explained_and_placed_when_room_appears() {
    let small = FakeNodeOptions {
        cpu: "1".into(),
        ..FakeNodeOptions::default()
    };
    let tainted = FakeNodeOptions {
        taints: vec![Taint {
            key: "dedicated".into(),
            value: "db".into(),
            effect: TaintEffect::NoSchedule,
            time_added: None,
        }],
        ..FakeNodeOptions::default()
    };
    let mut c = Cluster::start(&[("small", small), ("db", tainted)]).await;
    c.client.create(&pod("big", "")).await.unwrap();
    let want = "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint \
                {dedicated: db}.";
    wait("PodScheduled=False with the reasons", || async {
        let p = c
            .client
            .get::<Pod>("default", "big")
            .await
            .unwrap()
            .unwrap();
        scheduled_condition(&p)
            == Some((ConditionStatus::False, "Unschedulable".into(), want.into()))
    })
    .await;
    wait("a FailedScheduling event", || async {
        c.client
            .list::<Event>("default", "")
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| {
                e.reason == "FailedScheduling"
                    && e.involved_object.name == "big"
                    && e.message == want
            })
    })
    .await;
    // A pod asking for a label nobody has.
    c.client
        .create(&pod("picky", "  nodeSelector: {disk: ssd}"))
        .await
        .unwrap();
    // A pod tolerating the taint goes to the db node.
    c.client
        .create(&pod(
            "tolerant",
            "  tolerations: [{key: dedicated, operator: Equal, value: db, effect: NoSchedule}]",
        ))
        .await
        .unwrap();
    wait("tolerant bound to db", || async {
        let p = c
            .client
            .get::<Pod>("default", "tolerant")
            .await
            .unwrap()
            .unwrap();
        p.spec.node_name == "db"
    })
    .await;
    // Room appears: a node big enough, with the label.
    let mut labels = std::collections::BTreeMap::new();
    labels.insert("disk".to_string(), "ssd".to_string());
    c.add_node(
        "large",
        FakeNodeOptions {
            cpu: "8".into(),
            labels,
            ..FakeNodeOptions::default()
        },
    )
    .await;
    wait("big and picky bound to large", || async {
        let big = c
            .client
            .get::<Pod>("default", "big")
            .await
            .unwrap()
            .unwrap();
        let picky = c
            .client
            .get::<Pod>("default", "picky")
            .await
            .unwrap()
            .unwrap();
        big.spec.node_name == "large"
            && picky.spec.node_name == "large"
            && scheduled_condition(&big).is_some_and(|s| s.0 == ConditionStatus::True)
    })
    .await;
    c.stop().await;
}

fn web_service() -> Service {
    parse(
        r#"
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
"#,
    )
}

async fn slices(c: &Cluster, svc: &str) -> Vec<EndpointSlice> {
    c.client
        .list::<EndpointSlice>("default", &format!("{LABEL_SERVICE_NAME}={svc}"))
        .await
        .unwrap()
        .items
}

/// (pod name, ready, serving, terminating, port) of every endpoint.
async fn endpoints(c: &Cluster, svc: &str) -> BTreeSet<(String, bool, bool, bool, i32)> {
    slices(c, svc)
        .await
        .iter()
        .flat_map(|s| {
            let port = s.ports.first().and_then(|p| p.port).unwrap_or(0);
            s.endpoints.iter().map(move |e| {
                (
                    e.target_ref.as_ref().unwrap().name.clone(),
                    e.conditions.ready == Some(true),
                    e.conditions.serving == Some(true),
                    e.conditions.terminating == Some(true),
                    port,
                )
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_follow_readiness_and_fill_slices_of_100() {
    let c = Cluster::start(&[
        ("n1", FakeNodeOptions::default()),
        ("n2", FakeNodeOptions::default()),
    ])
    .await;
    c.client.create(&web_service()).await.unwrap();
    c.client.create(&deployment("web", 3, "")).await.unwrap();
    wait("3 ready endpoints on port 8080", || async {
        let e = endpoints(&c, "web").await;
        e.len() == 3 && e.iter().all(|e| e.1 && e.2 && !e.3 && e.4 == 8080)
    })
    .await;
    let pods = c.live_pods("web").await;
    let victim = &pods[0];
    c.node(&victim.spec.node_name)
        .set_ready("default", &victim.metadata.name, false);
    wait("the unready pod's endpoint not ready", || async {
        endpoints(&c, "web")
            .await
            .iter()
            .any(|e| e.0 == victim.metadata.name && !e.1 && !e.2)
    })
    .await;
    c.node(&victim.spec.node_name)
        .set_ready("default", &victim.metadata.name, true);
    wait("ready again", || async {
        let e = endpoints(&c, "web").await;
        e.len() == 3 && e.iter().all(|e| e.1)
    })
    .await;
    // 150 pods: two slices, none over 100, every endpoint once.
    // The controllers write its status meanwhile: read again on a conflict.
    loop {
        let mut d = c
            .client
            .get::<berth_api::Deployment>("default", "web")
            .await
            .unwrap()
            .unwrap();
        d.spec.replicas = 150;
        match c.client.update(&d).await {
            Err(e) if e.is_conflict() => continue,
            r => break r.map(|_| ()).unwrap(),
        }
    }
    wait("150 ready endpoints", || async {
        let e = endpoints(&c, "web").await;
        e.len() == 150 && e.iter().all(|e| e.1)
    })
    .await;
    let s = slices(&c, "web").await;
    assert!(
        s.iter().all(|s| s.endpoints.len() <= 100),
        "{:?}",
        s.iter().map(|s| s.endpoints.len()).collect::<Vec<_>>()
    );
    assert_eq!(s.iter().map(|s| s.endpoints.len()).sum::<usize>(), 150);
    // The Service goes: so do its slices.
    c.client
        .delete(
            berth_api::Kind::Service,
            "default",
            "web",
            Default::default(),
        )
        .await
        .unwrap();
    wait("no slices", || async { slices(&c, "web").await.is_empty() }).await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_nodes_pods_are_recreated_elsewhere_and_leave_the_endpoints() {
    let mut c = Cluster::start(&[
        ("n1", FakeNodeOptions::default()),
        ("n2", FakeNodeOptions::default()),
    ])
    .await;
    c.client.create(&web_service()).await.unwrap();
    c.client.create(&deployment("web", 4, "")).await.unwrap();
    wait("4 ready endpoints", || async {
        let e = endpoints(&c, "web").await;
        e.len() == 4 && e.iter().all(|e| e.1)
    })
    .await;
    let on_n1: Vec<String> = c
        .live_pods("web")
        .await
        .into_iter()
        .filter(|p| p.spec.node_name == "n1")
        .map(|p| p.metadata.name)
        .collect();
    assert!(!on_n1.is_empty(), "nothing was scheduled on n1");
    c.node_mut("n1").kill();
    wait("n1 NotReady and tainted unreachable", || async {
        let n = c.client.get::<Node>("", "n1").await.unwrap().unwrap();
        !n.is_ready() && n.spec.taints.iter().any(|t| t.key == TAINT_UNREACHABLE)
    })
    .await;
    wait(
        "every pod on n2, 4 ready, n1's gone from the endpoints",
        || async {
            let pods = c.live_pods("web").await;
            let e = endpoints(&c, "web").await;
            pods.len() == 4
                && pods
                    .iter()
                    .all(|p| p.spec.node_name == "n2" && p.is_ready())
                && e.iter().filter(|e| e.1).count() == 4
                && e.iter().all(|e| !on_n1.contains(&e.0))
        },
    )
    .await;
    assert!(
        c.client
            .list::<Event>("", "")
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| e.reason == "NodeNotReady"),
        "no NodeNotReady event"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_cidrs_are_distinct_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = BTreeSet::new();
    for round in 0..2 {
        let server = start_with(dir.path(), Some(fast())).await;
        let client =
            berth_client::Client::remote(berth_client::connect(&server.admin).await.unwrap());
        let mut fakes = Vec::new();
        for i in 0..3 {
            let name = format!("r{round}-n{i}");
            fakes.push(
                berth_control::testing::FakeNode::start(
                    client.clone(),
                    &name,
                    FakeNodeOptions::default(),
                )
                .await
                .unwrap(),
            );
        }
        wait("every node has pod CIDRs", || async {
            let nodes = client.list::<Node>("", "").await.unwrap().items;
            nodes.len() == 3 * (round + 1) && nodes.iter().all(|n| n.spec.pod_cidrs.len() == 2)
        })
        .await;
        for n in client.list::<Node>("", "").await.unwrap().items {
            if n.metadata.name.starts_with(&format!("r{round}-")) {
                for cidr in &n.spec.pod_cidrs {
                    assert!(seen.insert(cidr.clone()), "{cidr} handed out twice");
                }
                assert!(
                    n.spec.pod_cidrs[0].ends_with("/24") && n.spec.pod_cidrs[1].ends_with("/64")
                );
            }
        }
        drop(fakes);
        server.stop().await;
    }
    assert_eq!(seen.len(), 12);
}
