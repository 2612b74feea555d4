//! The API server in-process over real TLS with the embedded store: CRUD,
//! compare-and-swap, watch and resume, validation errors, authorisation,
//! and a restart that keeps everything.

use berth_client::proto::watch_event::Type;
use berth_client::proto::{DeleteRequest, ListRequest, ObjectKey, WatchRequest, WriteRequest};
use berth_client::{ApiClient, ClientConfig, connect};
use common::{HANG, start};
use tonic::Code;

mod common;

fn service(name: &str, extra: &str) -> WriteRequest {
    let json = format!(
        r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"{name}","labels":{{"app":"{name}"}}{extra}}},"spec":{{"ports":[{{"name":"http","port":80}}]}}}}"#
    );
    WriteRequest {
        object_json: json.into_bytes(),
    }
}

fn key(kind: &str, name: &str) -> ObjectKey {
    ObjectKey {
        kind: kind.into(),
        namespace: "default".into(),
        name: name.into(),
    }
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

async fn client(c: &ClientConfig) -> ApiClient {
    connect(c).await.unwrap()
}

#[tokio::test]
async fn crud_cas_watch_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let mut api = client(&server.admin).await;

    let created = json(
        &api.create(service("web", ""))
            .await
            .unwrap()
            .into_inner()
            .object_json,
    );
    let rv1 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!created["metadata"]["uid"].as_str().unwrap().is_empty());
    assert_eq!(
        created["spec"]["ports"][0]["targetPort"], 80,
        "defaults applied"
    );
    let again = api.create(service("web", "")).await.unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
    assert_eq!(again.message(), "services \"web\" already exists");

    let got = json(
        &api.get(key("Service", "web"))
            .await
            .unwrap()
            .into_inner()
            .object_json,
    );
    assert_eq!(got["metadata"]["resourceVersion"], rv1.as_str());

    // Watch from the creation, then change and delete.
    let mut watch = api
        .watch(WatchRequest {
            kind: "svc".into(),
            namespace: "default".into(),
            resource_version: rv1.parse().unwrap(),
        })
        .await
        .unwrap()
        .into_inner();
    let updated = api
        .update(service("web", &format!(r#","resourceVersion":"{rv1}""#)))
        .await
        .unwrap();
    let rv2 = json(&updated.into_inner().object_json)["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let stale = api
        .update(service("web", &format!(r#","resourceVersion":"{rv1}""#)))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");
    assert!(
        stale.message().contains("the object has been modified"),
        "{stale:?}"
    );
    api.apply(service("db", "")).await.unwrap();
    api.apply(service("db", "")).await.unwrap();

    let list = api
        .list(ListRequest {
            kind: "services".into(),
            namespace: "default".into(),
            label_selector: "app=db".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.items_json.len(), 1);
    assert_eq!(json(&list.items_json[0])["metadata"]["name"], "db");
    lists_by_set_based_selectors(&api).await;

    api.delete(DeleteRequest {
        key: Some(key("Service", "web")),
        resource_version: 0,
        grace_period_seconds: None,
    })
    .await
    .unwrap();
    let gone = api.get(key("Service", "web")).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    let mut seen = Vec::new();
    while seen.len() < 4 {
        let e = tokio::time::timeout(HANG, watch.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let name = json(&e.object_json)["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_owned();
        seen.push((Type::try_from(e.r#type).unwrap(), name, e.resource_version));
    }
    let kinds: Vec<_> = seen.iter().map(|(t, n, _)| (*t, n.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (Type::Modified, "web"),
            (Type::Added, "db"),
            (Type::Modified, "db"),
            (Type::Deleted, "web")
        ]
    );
    assert_eq!(seen[0].2.to_string(), rv2);

    // Restart: the same CA and tokens, the same objects.
    let admin = server.admin.clone();
    server.stop().await;
    let server = start(dir.path()).await;
    assert_eq!(server.admin.token, admin.token);
    let mut api = client(&server.admin).await;
    let db = json(
        &api.get(key("Service", "db"))
            .await
            .unwrap()
            .into_inner()
            .object_json,
    );
    assert_eq!(db["metadata"]["name"], "db");
    server.stop().await;
}

/// Lists of the Services `web` and `db` (labelled `app=NAME`) by set-based
/// selectors; a bad one is refused with the parser's message.
async fn lists_by_set_based_selectors(api: &ApiClient) {
    let names = |selector: &str| {
        let mut api = api.clone();
        let request = ListRequest {
            kind: "services".into(),
            namespace: "default".into(),
            label_selector: selector.into(),
        };
        async move {
            let list = api.list(request).await?.into_inner();
            let mut names: Vec<String> = list
                .items_json
                .iter()
                .map(|i| json(i)["metadata"]["name"].as_str().unwrap().to_owned())
                .collect();
            names.sort();
            Ok::<_, tonic::Status>(names)
        }
    };
    assert_eq!(names("app in (db,web)").await.unwrap(), ["db", "web"]);
    assert_eq!(names("app notin (web),app").await.unwrap(), ["db"]);
    assert_eq!(names("!app").await.unwrap(), Vec::<String>::new());
    let bad = names("app in db").await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    assert!(
        bad.message().contains(r#"found "db", expected "(""#),
        "{bad:?}"
    );
}

#[tokio::test]
async fn bad_objects_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let mut api = client(&server.admin).await;
    let bad = WriteRequest {
        object_json: br#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":-1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}"#.to_vec(),
    };
    let e = api.create(bad).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("spec.replicas: Invalid value: -1"),
        "{e:?}"
    );
    let unknown = WriteRequest {
        object_json: br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"},"spec":{"clusterIP":"10.96.0.9","bogus":1}}"#.to_vec(),
    };
    let e = api.create(unknown).await.unwrap_err();
    assert!(e.message().contains("bogus"), "{e:?}");
    server.stop().await;
}

#[tokio::test]
async fn credentials_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let mut wrong = server.admin.clone();
    wrong.token = "not-a-token".into();
    let e = client(&wrong)
        .await
        .get(key("Service", "x"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");

    // No token at all: a raw client without the interceptor.
    let tls = tonic::transport::ClientTlsConfig::new().ca_certificate(
        tonic::transport::Certificate::from_pem(&server.admin.certificate_authority),
    );
    let channel = tonic::transport::Endpoint::from_shared(server.admin.server.clone())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut bare = berth_client::proto::api_client::ApiClient::new(channel);
    let e = bare.get(key("Service", "x")).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");

    // The bootstrap token only gets a node credential: reading or writing
    // anything else is refused, naming that rule.
    let mut bootstrap = server.admin.clone();
    bootstrap.token = server.bootstrap_token.clone();
    let mut as_bootstrap = client(&bootstrap).await;
    let e = as_bootstrap.create(service("web", "")).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert_eq!(
        e.message(),
        "the bootstrap token may not create services \"default/web\": a bootstrap token may \
         only be exchanged for a node credential (IssueNodeCredential)"
    );
    let e = as_bootstrap
        .list(ListRequest {
            kind: "Service".into(),
            ..ListRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    server.stop().await;
}
