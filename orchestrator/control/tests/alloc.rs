//! Service cluster IPs and node ports: unique over 10,000 services
//! and across a restart, asked-for ones honoured or refused by name,
//! released on delete, kept by a re-apply, never leaked by a failed create.

use std::collections::HashSet;

use berth_client::proto::{DeleteRequest, ObjectKey, WriteRequest};
use berth_client::{ApiClient, connect};
use common::start;

mod common;

/// Services created before and after the restart.
const BEFORE: usize = 9500;
const AFTER: usize = 500;

fn svc(name: &str, spec: &str) -> WriteRequest {
    WriteRequest {
        object_json: format!(
            r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"{name}"}},"spec":{spec}}}"#
        )
        .into_bytes(),
    }
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

async fn create_many(api: &ApiClient, prefix: &str, n: usize) -> Vec<String> {
    let mut tasks = Vec::new();
    for w in 0..8 {
        let mut api = api.clone();
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut ips = Vec::new();
            for i in (w..n).step_by(8) {
                let r = api
                    .create(svc(&format!("{prefix}-{i}"), r#"{"ports":[{"port":80}]}"#))
                    .await
                    .unwrap();
                ips.push(
                    json(&r.into_inner().object_json)["spec"]["clusterIP"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
            ips
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_ips_are_unique_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let api = connect(&server.admin).await.unwrap();
    let mut ips = create_many(&api, "a", BEFORE).await;
    server.stop().await;
    let server = start(dir.path()).await;
    let api = connect(&server.admin).await.unwrap();
    ips.extend(create_many(&api, "b", AFTER).await);
    let unique: HashSet<&String> = ips.iter().collect();
    assert_eq!(unique.len(), BEFORE + AFTER, "a cluster IP was given twice");
    for ip in &ips {
        let ip: std::net::Ipv4Addr = ip.parse().unwrap();
        let o = ip.octets();
        assert!(
            o[0] == 10 && (96..112).contains(&o[1]),
            "{ip} outside 10.96.0.0/12"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn asked_released_kept_and_never_leaked() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let mut api = connect(&server.admin).await.unwrap();

    let r = api
        .create(svc(
            "dns",
            r#"{"clusterIP":"10.96.0.10","ports":[{"port":53,"protocol":"UDP"}]}"#,
        ))
        .await
        .unwrap();
    assert_eq!(
        json(&r.into_inner().object_json)["spec"]["clusterIP"],
        "10.96.0.10"
    );
    let e = api
        .create(svc(
            "other",
            r#"{"clusterIP":"10.96.0.10","ports":[{"port":53}]}"#,
        ))
        .await
        .unwrap_err();
    assert!(
        e.message().contains(
            r#"spec.clusterIP: Invalid value: "10.96.0.10": provided IP is already allocated"#
        ),
        "{e:?}"
    );
    let e = api
        .create(svc(
            "out",
            r#"{"clusterIP":"192.168.1.1","ports":[{"port":53}]}"#,
        ))
        .await
        .unwrap_err();
    assert!(
        e.message().contains("not in the valid range 10.96.0.0/12"),
        "{e:?}"
    );

    // Re-applying the manifest without the clusterIP keeps the allocated one.
    let r = api
        .create(svc("web", r#"{"ports":[{"port":80}]}"#))
        .await
        .unwrap();
    let ip = json(&r.into_inner().object_json)["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api
        .apply(svc(
            "web",
            r#"{"ports":[{"name":"a","port":80},{"name":"b","port":81}]}"#,
        ))
        .await
        .unwrap();
    assert_eq!(
        json(&r.into_inner().object_json)["spec"]["clusterIP"],
        ip.as_str()
    );

    // NodePort and LoadBalancer: ports in range; a NodePort is served (no
    // condition), a LoadBalancer says no load balancer is provisioned.
    let r = api
        .create(svc("np", r#"{"type":"NodePort","ports":[{"name":"a","port":80},{"name":"b","port":81,"nodePort":30080}]}"#))
        .await
        .unwrap();
    let np = json(&r.into_inner().object_json);
    let p0 = np["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&p0), "{p0}");
    assert_eq!(np["spec"]["ports"][1]["nodePort"], 30080);
    assert!(
        !np["status"].to_string().contains("DataPlaneServed"),
        "{np}"
    );

    // A LoadBalancer with externalTrafficPolicy Local gets a health-check
    // node port, in the range, released with it.
    let r = api
        .create(svc(
            "lb",
            r#"{"type":"LoadBalancer","externalTrafficPolicy":"Local","ports":[{"port":80}]}"#,
        ))
        .await
        .unwrap();
    let lb = json(&r.into_inner().object_json);
    let hc = lb["spec"]["healthCheckNodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&hc), "{lb}");
    assert!(
        lb["status"].to_string().contains("LoadBalancerNotServed"),
        "{lb}"
    );

    // Bad exposure is refused naming the field, and allocates nothing: an
    // external IP in the service range, a node port out of range, a node
    // port given twice, Local on a Service nothing reaches from outside.
    for (spec, want) in [
        (
            r#"{"clusterIP":"10.96.8.8","externalIPs":["10.96.0.5"],"ports":[{"port":80}]}"#,
            r#"spec.externalIPs[0]: Invalid value: "10.96.0.5": may not be in the service IP range 10.96.0.0/12"#,
        ),
        (
            r#"{"type":"NodePort","clusterIP":"10.96.8.8","ports":[{"port":80,"nodePort":40000}]}"#,
            "spec.ports[0].nodePort",
        ),
        (
            r#"{"type":"NodePort","clusterIP":"10.96.8.8","ports":[{"name":"a","port":80,"nodePort":30111},{"name":"b","port":81,"nodePort":30111}]}"#,
            "spec.ports[1].nodePort: Duplicate value",
        ),
        (
            r#"{"clusterIP":"10.96.8.8","externalTrafficPolicy":"Local","ports":[{"port":80}]}"#,
            "spec.externalTrafficPolicy: Invalid value",
        ),
    ] {
        let e = api.create(svc("bad", spec)).await.unwrap_err();
        assert!(e.message().contains(want), "{spec}: {e:?}");
    }
    // 10.96.8.8 was never kept by the refused ones.
    api.create(svc(
        "free",
        r#"{"clusterIP":"10.96.8.8","ports":[{"port":80}]}"#,
    ))
    .await
    .unwrap();

    // A create that fails half-way (taken node port) leaks nothing: the
    // clusterIP it asked for is free afterwards.
    let e = api
        .create(svc(
            "half",
            r#"{"type":"NodePort","clusterIP":"10.96.7.7","ports":[{"port":80,"nodePort":30080}]}"#,
        ))
        .await
        .unwrap_err();
    assert!(
        e.message().contains(
            r#"spec.ports[0].nodePort: Invalid value: "30080": provided port is already allocated"#
        ),
        "{e:?}"
    );
    api.create(svc(
        "whole",
        r#"{"clusterIP":"10.96.7.7","ports":[{"port":80}]}"#,
    ))
    .await
    .unwrap();

    // Delete releases the address and the ports.
    api.delete(DeleteRequest {
        key: Some(ObjectKey {
            kind: "Service".into(),
            namespace: "default".into(),
            name: "np".into(),
        }),
        resource_version: 0,
        grace_period_seconds: None,
    })
    .await
    .unwrap();
    api.create(svc(
        "np2",
        r#"{"type":"NodePort","ports":[{"port":80,"nodePort":30080}]}"#,
    ))
    .await
    .unwrap();
    api.delete(DeleteRequest {
        key: Some(ObjectKey {
            kind: "Service".into(),
            namespace: "default".into(),
            name: "dns".into(),
        }),
        resource_version: 0,
        grace_period_seconds: None,
    })
    .await
    .unwrap();
    api.create(svc(
        "dns2",
        r#"{"clusterIP":"10.96.0.10","ports":[{"port":53}]}"#,
    ))
    .await
    .unwrap();
    server.stop().await;
}
