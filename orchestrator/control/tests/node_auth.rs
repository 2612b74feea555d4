//! Per-node credentials, the node authorizer and NodeRestriction, through
//! a real server over TLS: every verb, refused and allowed, by the token
//! that asks.

mod common;

use std::time::{Duration, Instant};

use berth_api::{ConfigMap, Kind, Lease, Node, Object, Pod, Secret, Service};
use berth_client::{Client, ClientConfig, ClientError, DeleteOptions};
use berth_control::api::Lifetimes;
use common::{HANG, Running, start, start_full};
use serde_json::json;
use tonic::Code;

fn object<R: TryFrom<Object>>(v: serde_json::Value) -> R {
    let o = Object::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    R::try_from(o).unwrap_or_else(|_| panic!("wrong kind"))
}

fn node(name: &str, labels: serde_json::Value) -> Node {
    object(
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}),
    )
}

fn lease(name: &str) -> Lease {
    object(
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name}}),
    )
}

/// A pod bound to `node` reading Secret `secret` and ConfigMap `cm`.
fn pod(name: &str, node: &str, secret: &str, cm: &str) -> Pod {
    object(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox",
            "env": [{"name": "C", "valueFrom": {"configMapKeyRef": {"name": cm, "key": "k"}}}]}],
            "volumes": [{"name": "s", "secret": {"secretName": secret}}]}}),
    )
}

fn secret(name: &str) -> Secret {
    object(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
        "stringData": {"k": "v"}}),
    )
}

fn config_map(name: &str) -> ConfigMap {
    object(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
        "data": {"k": "v"}}),
    )
}

async fn as_token(server: &Running, token: &str) -> Client {
    let conf = ClientConfig {
        token: token.to_owned(),
        ..server.admin.clone()
    };
    Client::remote(berth_client::connect(&conf).await.unwrap())
}

/// The call was refused with `code`, its message holding `text`.
#[track_caller]
fn refused<T: std::fmt::Debug>(r: Result<T, ClientError>, code: Code, text: &str) {
    let e = r.expect_err("refused");
    assert_eq!(e.code(), Some(code), "{e}");
    assert!(e.to_string().contains(text), "{text:?} in {e}");
}

const NOT_OWN_NODE: &str = "node authorizer: a node may only create and update its own Node";
const NOT_OWN_LEASE: &str = "node authorizer: a node may only get, create and update its own Lease";
const NOT_BOUND: &str = "node authorizer: a node may only update the status of pods bound to it";
const NOT_REFERENCED: &str = "node authorizer: a node may only get the Secrets and ConfigMaps";
const BOOTSTRAP_ONLY: &str = "a bootstrap token may only be exchanged for a node credential";

#[tokio::test]
async fn the_bootstrap_token_only_exchanges_itself() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let b = as_token(&server, &server.bootstrap_token).await;
    let denied = Code::PermissionDenied;
    refused(
        b.get::<Service>("default", "x").await,
        denied,
        BOOTSTRAP_ONLY,
    );
    refused(b.list::<Pod>("", "").await, denied, BOOTSTRAP_ONLY);
    refused(
        b.watch::<Pod>("", 0).await.map(|_| ()),
        denied,
        BOOTSTRAP_ONLY,
    );
    refused(
        b.create(&node("n1", json!({}))).await,
        denied,
        BOOTSTRAP_ONLY,
    );
    refused(
        b.apply(&node("n1", json!({}))).await,
        denied,
        BOOTSTRAP_ONLY,
    );
    refused(
        b.update(&node("n1", json!({}))).await,
        denied,
        BOOTSTRAP_ONLY,
    );
    refused(
        b.update_status(&node("n1", json!({}))).await,
        denied,
        BOOTSTRAP_ONLY,
    );
    refused(
        b.bind("default", "p", "n1", 0).await,
        denied,
        BOOTSTRAP_ONLY,
    );
    let opts = DeleteOptions::default();
    refused(
        b.delete(Kind::Pod, "default", "p", opts).await,
        denied,
        BOOTSTRAP_ONLY,
    );
    refused(b.revoke_node_credential("n1").await, denied, BOOTSTRAP_ONLY);
    refused(b.rotate_bootstrap_token(0).await, denied, BOOTSTRAP_ONLY);
    // The exchange: a credential naming the node; a bad name is named.
    let c = b.issue_node_credential("n1").await.unwrap();
    assert!(c.token.starts_with("n1~"), "{}", c.token);
    refused(
        b.issue_node_credential("Not_A_Name").await,
        Code::InvalidArgument,
        "node: Invalid value: \"Not_A_Name\"",
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_tokens_are_refused_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let unauth = Code::Unauthenticated;
    let c = as_token(&server, "0123abcd").await;
    refused(
        c.get::<Service>("default", "x").await,
        unauth,
        "invalid token",
    );
    let c = as_token(&server, "n1~").await;
    refused(
        c.get::<Service>("default", "x").await,
        unauth,
        "malformed bearer token: a node credential is NODE~SECRET",
    );
    let c = as_token(&server, "n1~not-hex!").await;
    refused(
        c.get::<Service>("default", "x").await,
        unauth,
        "malformed bearer token: the secret of a node credential is hexadecimal",
    );
    let c = as_token(&server, "n1~00ff").await;
    refused(
        c.get::<Service>("default", "x").await,
        unauth,
        "the credential of node \"n1\" is revoked (or was never issued)",
    );
    server.stop().await;
}

/// A server with nodes `node-a` and `node-b` joined (their credentials
/// exchanged for the bootstrap token), and as the admin: secrets `s-a`
/// and `s-b`, configmaps `cm-node-a` and `cm-node-b`, pods `p-a` and
/// `p-b` bound to each and reading its node's.
struct TwoNodes {
    server: Running,
    _dir: tempfile::TempDir,
    admin: Client,
    a: Client,
    b: Client,
}

const DENIED: Code = Code::PermissionDenied;

impl TwoNodes {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = start(dir.path()).await;
        let admin = Client::remote(berth_client::connect(&server.admin).await.unwrap());
        let boot = as_token(&server, &server.bootstrap_token).await;
        let mut joined = Vec::new();
        for n in ["node-a", "node-b"] {
            let token = boot.issue_node_credential(n).await.unwrap().token;
            let c = as_token(&server, &token).await;
            c.create(&node(n, json!({"team": "x"}))).await.unwrap();
            admin
                .create(&secret(&format!("s-{}", &n[5..])))
                .await
                .unwrap();
            admin.create(&config_map(&format!("cm-{n}"))).await.unwrap();
            let p = pod(
                &format!("p-{}", &n[5..]),
                n,
                &format!("s-{}", &n[5..]),
                &format!("cm-{n}"),
            );
            admin.create(&p).await.unwrap();
            joined.push(c);
        }
        let b = joined.pop().unwrap();
        let a = joined.pop().unwrap();
        Self {
            server,
            _dir: dir,
            admin,
            a,
            b,
        }
    }
}

#[tokio::test]
async fn a_node_changes_its_own_node_and_lease_only() {
    let t = TwoNodes::start().await;
    let (a, b, denied) = (&t.a, &t.b, DENIED);
    // Its Node: created, status updated; not another node's.
    refused(
        a.create(&node("node-c", json!({}))).await,
        denied,
        NOT_OWN_NODE,
    );
    let mut na = a.get::<Node>("", "node-a").await.unwrap().unwrap();
    na.status.node_info.kernel_version = "6.18".into();
    let mut na = a.update_status(&na).await.unwrap();
    let mut nb = a.get::<Node>("", "node-b").await.unwrap().unwrap();
    nb.status.node_info.kernel_version = "evil".into();
    refused(a.update_status(&nb).await, denied, NOT_OWN_NODE);
    refused(a.update(&nb).await, denied, NOT_OWN_NODE);
    refused(
        a.delete(Kind::Node, "", "node-a", DeleteOptions::default())
            .await,
        denied,
        NOT_OWN_NODE,
    );
    // NodeRestriction: labels under node-restriction.kubernetes.io/.
    na.metadata.labels.insert(
        "node-restriction.kubernetes.io/trusted".into(),
        "yes".into(),
    );
    refused(
        a.update(&na).await,
        denied,
        "NodeRestriction: a node may not set or change labels under node-restriction.kubernetes.io/",
    );
    na.metadata
        .labels
        .remove("node-restriction.kubernetes.io/trusted");
    na.metadata.labels.insert("team".into(), "y".into());
    a.update(&na).await.unwrap();

    // Its Lease.
    a.create(&lease("node-a")).await.unwrap();
    let mut la = a
        .get::<Lease>("kube-node-lease", "node-a")
        .await
        .unwrap()
        .unwrap();
    la.spec.lease_transitions = Some(1);
    a.update(&la).await.unwrap();
    b.create(&lease("node-b")).await.unwrap();
    refused(
        a.get::<Lease>("kube-node-lease", "node-b").await,
        denied,
        NOT_OWN_LEASE,
    );
    refused(a.create(&lease("node-c")).await, denied, NOT_OWN_LEASE);
    refused(
        a.list::<Lease>("kube-node-lease", "").await,
        denied,
        NOT_OWN_LEASE,
    );

    t.server.stop().await;
}

#[tokio::test]
async fn a_node_writes_only_the_status_and_the_deletion_of_its_pods() {
    let t = TwoNodes::start().await;
    let (a, admin, denied) = (&t.a, &t.admin, DENIED);
    // Pods: read all; the status of its own; no spec, no binding, no create.
    assert_eq!(a.list::<Pod>("", "").await.unwrap().items.len(), 2);
    let _watch = a.watch::<Pod>("", 0).await.unwrap();
    let mut pa = a.get::<Pod>("default", "p-a").await.unwrap().unwrap();
    pa.status.message = "running".into();
    let mut pa = a.update_status(&pa).await.unwrap();
    let mut pb = a.get::<Pod>("default", "p-b").await.unwrap().unwrap();
    pb.status.message = "evil".into();
    refused(a.update_status(&pb).await, denied, NOT_BOUND);
    pa.metadata.labels.insert("x".into(), "y".into());
    let spec = "NodeRestriction: a node may not create pods or change their spec";
    refused(a.update(&pa).await, denied, spec);
    refused(a.apply(&pa).await, denied, spec);
    refused(
        a.create(&pod("p-new", "node-a", "s-a", "cm-node-a")).await,
        denied,
        spec,
    );
    refused(
        a.bind("default", "p-b", "node-a", 0).await,
        denied,
        "NodeRestriction: a node may not bind pods",
    );

    // Deleting pods: its own, once terminating.
    let when_done = "a node may only delete pods bound to it once they are terminating or finished";
    refused(
        a.delete(Kind::Pod, "default", "p-a", DeleteOptions::default())
            .await,
        denied,
        when_done,
    );
    admin
        .delete(Kind::Pod, "default", "p-a", DeleteOptions::default())
        .await
        .unwrap();
    admin
        .delete(Kind::Pod, "default", "p-b", DeleteOptions::default())
        .await
        .unwrap();
    refused(
        a.delete(Kind::Pod, "default", "p-b", DeleteOptions::default())
            .await,
        denied,
        when_done,
    );
    let now = DeleteOptions {
        grace_period_seconds: Some(0),
        ..DeleteOptions::default()
    };
    a.delete(Kind::Pod, "default", "p-a", now).await.unwrap();

    t.server.stop().await;
}

#[tokio::test]
async fn a_node_reads_what_its_pods_reference_and_writes_events() {
    let t = TwoNodes::start().await;
    let (a, denied) = (&t.a, DENIED);
    // Secrets and ConfigMaps: those its pods reference.
    a.get::<Secret>("default", "s-a").await.unwrap().unwrap();
    a.get::<ConfigMap>("default", "cm-node-a")
        .await
        .unwrap()
        .unwrap();
    refused(
        a.get::<Secret>("default", "s-b").await,
        denied,
        NOT_REFERENCED,
    );
    refused(
        a.get::<ConfigMap>("default", "cm-node-b").await,
        denied,
        NOT_REFERENCED,
    );
    refused(a.list::<Secret>("", "").await, denied, NOT_REFERENCED);
    refused(
        a.watch::<Secret>("", 0).await.map(|_| ()),
        denied,
        NOT_REFERENCED,
    );

    // Services: read only; other kinds: nothing.
    a.list::<Service>("", "").await.unwrap();
    let svc: Service = object(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}));
    refused(
        a.create(&svc).await,
        denied,
        "a node may only get, list and watch Services",
    );
    refused(
        a.list::<berth_api::Deployment>("", "").await,
        denied,
        "nodes have no access to this kind",
    );

    // Events: created.
    let ev: berth_api::Event = object(json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "e1"}, "involvedObject": {"kind": "Node", "name": "node-a"},
        "reason": "Started", "message": "m", "type": "Normal"}));
    a.create(&ev).await.unwrap();

    t.server.stop().await;
}

#[tokio::test]
async fn a_node_rotates_its_own_credential_and_revocation_counts_at_once() {
    let t = TwoNodes::start().await;
    let (a, b, admin, denied, server) = (&t.a, &t.b, &t.admin, DENIED, &t.server);
    // Credentials: its own rotated (the old one still works a little),
    // not another node's.
    refused(
        a.issue_node_credential("node-b").await,
        denied,
        "a node may only rotate its own credential",
    );
    let rotated = a.issue_node_credential("node-a").await.unwrap();
    a.get::<Node>("", "node-a").await.unwrap();
    as_token(server, &rotated.token)
        .await
        .get::<Node>("", "node-a")
        .await
        .unwrap();

    // Revoked: refused at once, a watch it holds included; deleting the
    // Node revokes too.
    let mut held = a.watch::<Pod>("", 0).await.unwrap();
    let mut held_b = b.watch::<Node>("", 0).await.unwrap();
    assert_eq!(admin.revoke_node_credential("node-a").await.unwrap(), 2);
    let ended = ends_refused(&mut held).await;
    assert!(
        ended.contains("the credential of node \"node-a\" is revoked"),
        "{ended}"
    );
    refused(
        a.get::<Node>("", "node-a").await,
        Code::Unauthenticated,
        "the credential of node \"node-a\" is revoked",
    );
    admin
        .delete(Kind::Node, "", "node-b", DeleteOptions::default())
        .await
        .unwrap();
    refused(
        b.list::<Pod>("", "").await,
        Code::Unauthenticated,
        "the credential of node \"node-b\" is revoked",
    );
    let ended = ends_refused(&mut held_b).await;
    assert!(
        ended.contains("the credential of node \"node-b\" is revoked"),
        "{ended}"
    );
    t.server.stop().await;
}

/// Reads `watch` (its events so far) until it ends with an error; that
/// error, UNAUTHENTICATED.
async fn ends_refused<R>(watch: &mut berth_client::typed::TypedStream<R>) -> String {
    use tokio_stream::StreamExt as _;
    loop {
        match tokio::time::timeout(HANG, watch.next()).await {
            Err(_) => panic!("the watch did not end within {HANG:?}"),
            Ok(None) => panic!("the watch ended without an error"),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => {
                assert_eq!(e.code(), Some(Code::Unauthenticated), "{e}");
                return e.to_string();
            }
        }
    }
}

/// Polls `f` until it is refused (expiry is a matter of time; [`HANG`]
/// only catches a hang).
async fn until_refused<F, Fut, T>(mut f: F) -> ClientError
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let deadline = Instant::now() + HANG;
    loop {
        if let Err(e) = f().await {
            return e;
        }
        assert!(Instant::now() < deadline, "still accepted after {HANG:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn credentials_and_bootstrap_tokens_expire_and_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let lifetimes = Lifetimes {
        node_credential: Duration::from_secs(2),
        bootstrap_token: Some(Duration::from_secs(3600)),
    };
    let server = start_full(dir.path(), None, lifetimes).await;
    let admin = Client::remote(berth_client::connect(&server.admin).await.unwrap());
    let boot = as_token(&server, &server.bootstrap_token).await;
    let issued = boot.issue_node_credential("n1").await.unwrap();
    let n1 = as_token(&server, &issued.token).await;
    n1.list::<Pod>("", "").await.unwrap();
    let e = until_refused(|| n1.list::<Pod>("", "")).await;
    assert_eq!(e.code(), Some(Code::Unauthenticated), "{e}");
    assert!(
        e.to_string()
            .contains("the credential of node \"n1\" expired at"),
        "{e}"
    );

    // The admin rotates the bootstrap token: the old one is refused, the
    // new one (short-lived here) works, then expires.
    let new = admin.rotate_bootstrap_token(1).await.unwrap();
    assert_ne!(new.token, server.bootstrap_token);
    refused(
        boot.issue_node_credential("n1").await,
        Code::Unauthenticated,
        "invalid token",
    );
    let boot2 = as_token(&server, &new.token).await;
    let e = until_refused(|| boot2.issue_node_credential("n2")).await;
    assert!(
        e.to_string().contains("the bootstrap token expired at"),
        "{e}"
    );
    server.stop().await;
}
