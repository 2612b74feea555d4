//! Real-world manifests, written as users write them, read with Kubernetes'
//! defaults applied; and everything read survives a round trip through
//! the JSON the store keeps and the YAML `get -o yaml` prints.

use std::path::{Path, PathBuf};

use berth_api::container::{Protocol, PullPolicy};
use berth_api::deployment::DeploymentStrategyType;
use berth_api::lease::NODE_LEASE_NAMESPACE;
use berth_api::manifest::{self, Document, ParseOptions};
use berth_api::pod::{DnsPolicy, RestartPolicy};
use berth_api::probe::ProbeHandler;
use berth_api::service::{IpFamilyPolicy, ServiceType, SessionAffinity};
use berth_api::volume::{StorageMedium, VolumeSource};
use berth_api::{
    Deployment, IntOrString, Kind, Lease, Object, ReplicaSet, Resource, Service, Taint,
    TaintEffect, Toleration, TolerationOperator,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/manifests")
        .join(name)
}

fn read(name: &str) -> Vec<Document> {
    manifest::read_path(&fixture(name), &ParseOptions::default())
        .unwrap_or_else(|e| panic!("{name}:\n{e}"))
}

fn deployment(doc: &Document) -> &Deployment {
    match &doc.object {
        Object::Deployment(d) => d,
        other => panic!("expected a Deployment, got {:?}", other.kind()),
    }
}

fn service(doc: &Document) -> &Service {
    match &doc.object {
        Object::Service(s) => s,
        other => panic!("expected a Service, got {:?}", other.kind()),
    }
}

/// parse → JSON → parse, and parse → YAML → parse, give the same objects.
fn assert_round_trips(docs: &[Document]) {
    for doc in docs {
        let json = doc.object.to_json().unwrap();
        let back = Object::from_json(&json).unwrap_or_else(|e| panic!("{}: {e}", doc.origin));
        assert_eq!(back, doc.object, "JSON round trip of {}", doc.origin);
        // The stored form is already defaulted and valid.
        let mut again = back.clone();
        again.apply_defaults();
        assert_eq!(
            again, doc.object,
            "defaulting is idempotent for {}",
            doc.origin
        );
        again.validate().unwrap();

        let yaml = doc.object.to_yaml().unwrap();
        let reread = manifest::parse_str(&yaml, "out.yaml", &ParseOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}\n{yaml}", doc.origin));
        assert_eq!(reread.len(), 1);
        assert_eq!(
            reread[0].object, doc.object,
            "YAML round trip of {}:\n{yaml}",
            doc.origin
        );
    }
}

#[test]
fn nginx_deployment_and_service_from_the_docs() {
    let docs = read("nginx.yaml");
    assert_eq!(docs.len(), 2);
    assert_round_trips(&docs);

    let d = deployment(&docs[0]);
    assert_eq!(
        docs[0].origin.to_string(),
        format!("{} document 1", fixture("nginx.yaml").display())
    );
    assert_eq!(d.key().to_string(), "Deployment default/nginx-deployment");
    assert_eq!(d.spec.replicas, 3);
    assert_eq!(d.spec.revision_history_limit, 10);
    assert_eq!(d.spec.progress_deadline_seconds, 600);
    assert_eq!(d.spec.strategy.type_, DeploymentStrategyType::RollingUpdate);
    let ru = d.spec.strategy.rolling_update.as_ref().unwrap();
    assert_eq!(ru.max_surge, IntOrString::from("25%"));
    assert_eq!(ru.max_unavailable, IntOrString::from("25%"));
    assert!(d.spec.selector.matches(&d.spec.template.metadata.labels));
    let pod = &d.spec.template.spec;
    assert_eq!(pod.restart_policy, RestartPolicy::Always);
    assert_eq!(pod.termination_grace_period_seconds, 30);
    assert_eq!(pod.dns_policy, DnsPolicy::ClusterFirst);
    let c = &pod.containers[0];
    assert_eq!(c.image_pull_policy, Some(PullPolicy::IfNotPresent));
    assert_eq!(c.ports[0].container_port, 80);
    assert_eq!(c.ports[0].protocol, Protocol::Tcp);

    let s = service(&docs[1]);
    assert_eq!(s.key().to_string(), "Service default/nginx-service");
    assert_eq!(s.spec.type_, ServiceType::ClusterIP);
    assert_eq!(s.spec.session_affinity, SessionAffinity::None);
    assert_eq!(s.spec.ip_family_policy, Some(IpFamilyPolicy::SingleStack));
    assert_eq!(s.spec.ports[0].target_port, Some(IntOrString::Int(80)));
    assert!(docs.iter().all(|d| d.warnings.is_empty()));
}

#[test]
fn application_with_config_secret_env_and_volumes() {
    let docs = read("webapp.yaml");
    let kinds: Vec<Kind> = docs.iter().map(|d| d.object.kind()).collect();
    assert_eq!(
        kinds,
        [
            Kind::ConfigMap,
            Kind::Secret,
            Kind::Deployment,
            Kind::Service
        ]
    );
    // The leading `---` starts the first document.
    assert_eq!(docs[0].origin.document, 1);
    assert_eq!(docs[3].origin.document, 4);
    assert_round_trips(&docs);

    let Object::ConfigMap(cm) = &docs[0].object else {
        unreachable!()
    };
    assert!(cm.data["nginx.conf"].contains("listen 8080;"));
    let Object::Secret(secret) = &docs[1].object else {
        unreachable!()
    };
    assert_eq!(secret.type_, "Opaque");
    assert_eq!(secret.get("DB_PASSWORD"), Some(&b"s3cr3t"[..]));
    assert_eq!(
        secret.get("API_TOKEN"),
        Some(&b"token-123"[..]),
        "stringData is merged into data"
    );
    assert!(secret.string_data.is_empty());
    assert!(
        !format!("{secret:?}").contains("s3cr3t"),
        "Debug hides secret values"
    );

    let d = deployment(&docs[2]);
    assert_eq!(d.metadata.namespace, "shop");
    let ru = d.spec.strategy.rolling_update.as_ref().unwrap();
    assert_eq!(
        (ru.max_surge.clone(), ru.max_unavailable.clone()),
        (IntOrString::Int(1), IntOrString::Int(0))
    );
    let pod = &d.spec.template.spec;
    let web = pod.container("web").unwrap();
    assert_eq!(web.env.len(), 4);
    assert_eq!(
        web.env[2]
            .value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap()
            .api_version,
        "v1"
    );
    assert_eq!(web.env_from[0].prefix, "CFG_");
    assert_eq!(web.resources.cpu_request_milli(), 100);
    assert_eq!(web.resources.limits["cpu"].milli_value(), 500);
    assert_eq!(web.resources.limits["memory"].value(), 128 << 20);
    let ready = web.readiness_probe.as_ref().unwrap();
    assert!(
        matches!(ready.handler(), Some(ProbeHandler::HttpGet(h)) if h.port == IntOrString::from("http"))
    );
    assert_eq!(
        (
            ready.period_seconds,
            ready.timeout_seconds,
            ready.success_threshold,
            ready.failure_threshold
        ),
        (5, 1, 1, 3)
    );
    let live = web.liveness_probe.as_ref().unwrap();
    assert_eq!((live.period_seconds, live.failure_threshold), (10, 5));
    let sidecar = pod.container("sidecar").unwrap();
    assert_eq!(
        sidecar.image_pull_policy,
        Some(PullPolicy::Always),
        "no tag means :latest"
    );
    assert_eq!(pod.termination_grace_period_seconds, 10);

    let volumes: Vec<_> = pod.volumes.iter().map(|v| v.source().unwrap()).collect();
    let VolumeSource::ConfigMap(c) = volumes[0] else {
        panic!()
    };
    assert_eq!(c.default_mode, Some(0o644));
    let VolumeSource::Secret(s) = volumes[1] else {
        panic!()
    };
    assert_eq!(s.default_mode, Some(0o400), "YAML 0400 is octal");
    let VolumeSource::EmptyDir(e) = volumes[2] else {
        panic!()
    };
    assert_eq!(e.medium, StorageMedium::Memory);

    let svc = service(&docs[3]);
    assert_eq!(svc.spec.client_ip_timeout_seconds(), Some(10_800));
    assert_eq!(
        svc.spec.ports[0].target_port,
        Some(IntOrString::from("http"))
    );
    assert_eq!(svc.spec.port_named("metrics").unwrap().app_protocol, "http");
}

#[test]
fn headless_service_reads_and_statefulset_is_rejected_clearly() {
    let err =
        manifest::read_path(&fixture("statefulset.yaml"), &ParseOptions::default()).unwrap_err();
    assert_eq!(err.errors().len(), 1);
    assert_eq!(
        err.to_string(),
        format!(
            "{} document 2 (StatefulSet default/web): no matches for kind \"StatefulSet\" in version \"apps/v1\" \
             (Berth serves Namespace, Node, Pod, Deployment, ReplicaSet, Service, EndpointSlice, ConfigMap, Secret, Event, Lease)",
            fixture("statefulset.yaml").display()
        )
    );

    let text = std::fs::read_to_string(fixture("statefulset.yaml")).unwrap();
    let headless = text.split("\n---\n").next().unwrap();
    let docs = manifest::parse_str(headless, "svc.yaml", &ParseOptions::default()).unwrap();
    let s = service(&docs[0]);
    assert!(s.spec.is_headless());
    assert_eq!(s.spec.cluster_ips, ["None"]);
    assert_eq!(s.spec.ip_family_policy, Some(IpFamilyPolicy::SingleStack));
    assert_round_trips(&docs);

    let selectorless = headless.replace("  selector:\n    app: nginx", "");
    let docs = manifest::parse_str(&selectorless, "svc.yaml", &ParseOptions::default()).unwrap();
    assert_eq!(
        service(&docs[0]).spec.ip_family_policy,
        Some(IpFamilyPolicy::RequireDualStack)
    );
}

#[test]
fn kind_list() {
    let docs = read("list.yaml");
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].object.key().to_string(), "Namespace tools");
    assert_eq!(docs[1].object.key().to_string(), "Pod tools/debug");
    assert_eq!(docs[1].origin.item, Some(1));
    assert!(
        docs[1]
            .origin
            .to_string()
            .ends_with("list.yaml document 1 items[1]")
    );
    let Object::Pod(pod) = &docs[1].object else {
        unreachable!()
    };
    assert_eq!(pod.spec.restart_policy, RestartPolicy::Never);
    assert_eq!(
        (pod.spec.hostname.as_str(), pod.spec.subdomain.as_str()),
        ("debug", "tools")
    );
    assert_round_trips(&docs);

    // Typed lists, as the API returns them, may leave out apiVersion and kind.
    let typed = r#"{"apiVersion": "v1", "kind": "ConfigMapList", "items": [
        {"metadata": {"name": "a"}, "data": {"k": "v"}},
        {"metadata": {"name": "b", "namespace": "x"}}]}"#;
    let docs = manifest::parse_str(typed, "cms.json", &ParseOptions::default()).unwrap();
    let keys: Vec<String> = docs.iter().map(|d| d.object.key().to_string()).collect();
    assert_eq!(keys, ["ConfigMap default/a", "ConfigMap x/b"]);
}

#[test]
fn json_stream_nodeport_and_external_name() {
    let docs = read("echo.json");
    assert_eq!(docs.len(), 2);
    assert_round_trips(&docs);
    let echo = service(&docs[0]);
    assert_eq!(echo.spec.type_, ServiceType::NodePort);
    assert_eq!(echo.spec.ports[0].protocol, Protocol::Udp);
    assert_eq!(echo.spec.ports[1].node_port, 30080);
    assert_eq!(
        docs[0].warnings,
        [
            "Berth allocates the node ports of a NodePort Service but its data plane does not serve them yet; the cluster IP is served"
        ]
    );
    let cond = echo.data_plane_condition().unwrap();
    assert_eq!(
        (
            cond.type_.as_str(),
            cond.status.as_str(),
            cond.reason.as_str()
        ),
        ("DataPlaneServed", "False", "NodePortNotServed")
    );
    let mut with_status = echo.clone();
    let t = "2024-05-01T00:00:00Z".parse().unwrap();
    with_status.set_data_plane_condition(t);
    with_status.set_data_plane_condition("2024-05-02T00:00:00Z".parse().unwrap());
    assert_eq!(with_status.status.conditions.len(), 1);
    assert_eq!(
        with_status.status.conditions[0].last_transition_time,
        Some(t)
    );
    with_status.spec.type_ = ServiceType::ClusterIP;
    with_status.set_data_plane_condition(t);
    assert!(with_status.status.conditions.is_empty());

    let db = service(&docs[1]);
    assert_eq!(db.spec.type_, ServiceType::ExternalName);
    assert_eq!(
        db.spec.ip_family_policy, None,
        "ExternalName Services have no IP families"
    );
    assert!(docs[1].warnings.is_empty());
}

#[test]
fn kubectl_create_dry_run_output() {
    let docs = read("kubectl-create.yaml");
    let d = deployment(&docs[0]);
    assert_eq!(d.metadata.creation_timestamp, None);
    assert!(
        d.spec.strategy.rolling_update.is_some(),
        "strategy: {{}} is defaulted"
    );
    assert_eq!(
        d.spec.template.spec.containers[0].image_pull_policy,
        Some(PullPolicy::Always)
    );
    assert_round_trips(&docs);
}

#[test]
fn kubectl_get_output_from_a_kubernetes_cluster() {
    let docs = read("kubectl-get.yaml");
    let s = service(&docs[0]);
    assert_eq!(s.metadata.uid, "5a1b7a3e-43f0-4d49-9d52-0c8a0f5e0b3b");
    assert_eq!(s.metadata.resource_version, "231");
    assert_eq!(
        s.metadata.creation_timestamp.unwrap().to_string(),
        "2024-05-02T09:14:31Z"
    );
    assert_eq!(s.spec.cluster_ip, "10.96.0.10");
    assert_eq!(s.spec.ports.len(), 3);
    assert!(docs[0].warnings.is_empty(), "{:?}", docs[0].warnings);
    assert_round_trips(&docs);
}

#[test]
fn kubectl_get_deployment_with_status_and_server_fields() {
    let docs = read("kubectl-get-deployment.yaml");
    let d = deployment(&docs[0]);
    assert_eq!(d.metadata.generation, 1);
    assert_eq!(d.status.ready_replicas, 2);
    assert_eq!(d.status.conditions[0].type_, "Available");
    let pod = &d.spec.template.spec;
    assert_eq!(pod.dns_policy, DnsPolicy::Default);
    assert_eq!(
        pod.containers[0]
            .liveness_probe
            .as_ref()
            .unwrap()
            .timeout_seconds,
        5
    );
    assert_eq!(
        pod.tolerations,
        [
            Toleration {
                key: "CriticalAddonsOnly".to_owned(),
                operator: TolerationOperator::Exists,
                ..Toleration::default()
            },
            Toleration {
                key: "node-role.kubernetes.io/control-plane".to_owned(),
                effect: Some(TaintEffect::NoSchedule),
                ..Toleration::default()
            },
        ]
    );
    assert_eq!(
        docs[0].warnings,
        [
            "spec.template.spec.serviceAccountName: ignored: Berth has no service accounts",
            "spec.template.spec.serviceAccount: ignored: Berth has no service accounts",
            "spec.template.spec.priorityClassName: ignored: Berth has no pod priorities",
            "spec.template.spec.containers[0].securityContext: ignored: Berth does not apply security contexts",
        ]
    );
    assert_round_trips(&docs);
    // The status is the server's: it can be dropped before a create.
    let mut o = docs[0].object.clone();
    o.clear_status();
    assert!(!o.to_yaml().unwrap().contains("status"));
}

#[test]
fn updates_keep_what_may_not_change() {
    let docs = read("webapp.yaml");
    for doc in &docs {
        doc.object.validate_update(&doc.object).unwrap();
    }
    let old = deployment(&docs[2]).clone();
    let mut new = old.clone();
    new.spec.replicas = 5;
    new.spec.template.spec.containers[0].image = "registry.local/shop/web:1.2.4".to_owned();
    new.validate_update(&old).unwrap();
    new.spec
        .selector
        .match_labels
        .insert("track".to_owned(), "stable".to_owned());
    new.spec
        .template
        .metadata
        .labels
        .insert("track".to_owned(), "stable".to_owned());
    assert!(
        new.validate_update(&old)
            .unwrap_err()
            .to_string()
            .starts_with("spec.selector: Invalid value: ")
    );
    assert!(
        new.validate_update(&old)
            .unwrap_err()
            .to_string()
            .ends_with(": field is immutable")
    );

    let Object::Service(svc) = &docs[3].object else {
        unreachable!()
    };
    let mut old = svc.clone();
    old.spec.cluster_ip = "10.96.0.20".to_owned();
    let mut new = old.clone();
    new.spec.cluster_ip = "10.96.0.21".to_owned();
    assert_eq!(
        new.validate_update(&old).unwrap_err().to_string(),
        "spec.clusterIP: Invalid value: \"10.96.0.21\": field is immutable"
    );

    let Object::ConfigMap(cm) = &docs[0].object else {
        unreachable!()
    };
    let mut old = cm.clone();
    old.immutable = Some(true);
    let mut new = old.clone();
    new.data.insert("LOG_LEVEL".to_owned(), "debug".to_owned());
    assert_eq!(
        new.validate_update(&old).unwrap_err().to_string(),
        "data: Forbidden: field is immutable when `immutable` is set"
    );

    let pod_docs = read("list.yaml");
    let Object::Pod(old) = &pod_docs[1].object else {
        unreachable!()
    };
    let mut new = old.clone();
    new.spec.node_name = "node-1".to_owned();
    new.validate_update(old).unwrap();
    let mut moved = new.clone();
    moved.spec.node_name = "node-2".to_owned();
    assert!(moved.validate_update(&new).is_err());
    assert_eq!(
        pod_docs[0]
            .object
            .validate_update(&pod_docs[1].object)
            .unwrap_err()
            .to_string(),
        "kind: Invalid value: \"Namespace\": field is immutable (was Pod)"
    );
    let mut renamed = new.clone();
    renamed.metadata.name = "other".to_owned();
    assert_eq!(
        renamed.validate_update(&new).unwrap_err().to_string(),
        "metadata.name: Invalid value: \"other\": field is immutable"
    );
}

#[test]
fn directory_sorted_and_recursive() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, src: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::copy(fixture(src), path).unwrap();
    };
    write("b-app.yml", "nginx.yaml");
    write("a-services.json", "echo.json");
    write("c-notes.txt", "nginx.yaml");
    write("nested/list.yaml", "list.yaml");
    std::fs::write(dir.path().join("README.md"), "# not a manifest\n").unwrap();

    let docs = manifest::read_path(dir.path(), &ParseOptions::default()).unwrap();
    let names: Vec<&str> = docs.iter().map(|d| d.object.name()).collect();
    assert_eq!(names, ["echo", "db", "nginx-deployment", "nginx-service"]);

    let opts = ParseOptions {
        recursive: true,
        ..ParseOptions::default()
    };
    let docs = manifest::read(dir.path().to_str().unwrap(), &opts).unwrap();
    assert_eq!(docs.len(), 6);
    assert!(docs[5].origin.source.ends_with("nested/list.yaml"));
}

#[test]
fn namespace_option_fills_in_and_checks() {
    let opts = ParseOptions {
        namespace: Some("staging".to_owned()),
        ..ParseOptions::default()
    };
    let docs = manifest::read_path(&fixture("nginx.yaml"), &opts).unwrap();
    assert!(docs.iter().all(|d| d.object.namespace() == Some("staging")));

    let err = manifest::read_path(&fixture("webapp.yaml"), &opts).unwrap_err();
    assert_eq!(err.errors().len(), 4);
    assert!(
        err.to_string().lines().next().unwrap().ends_with(
            "webapp.yaml document 1 (ConfigMap shop/web-config): the namespace from the provided object \"shop\" does not match the namespace \"staging\". You must pass '--namespace=shop' to perform this operation."
        ),
        "{err}"
    );

    // Cluster-scoped objects never get one.
    let docs = manifest::parse_str(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, namespace: y}\n",
        "ns.yaml",
        &opts,
    )
    .unwrap();
    assert_eq!(docs[0].object.namespace(), None);
    assert_eq!(docs[0].object.metadata().namespace, "");
}

#[test]
fn yaml_output_looks_like_kubectl() {
    let docs = read("nginx.yaml");
    let yaml = docs[1].object.to_yaml().unwrap();
    assert_eq!(
        yaml,
        "\
apiVersion: v1
kind: Service
metadata:
  name: nginx-service
  namespace: default
spec:
  type: ClusterIP
  selector:
    app: nginx
  ports:
  - protocol: TCP
    port: 80
    targetPort: 80
  ipFamilyPolicy: SingleStack
  sessionAffinity: None
"
    );
    let json = docs[1].object.to_json_pretty().unwrap();
    assert!(
        json.starts_with("{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"Service\",\n"),
        "{json}"
    );

    let list = berth_api::output::to_yaml(&berth_api::output::List {
        items: &[docs[0].object.clone(), docs[1].object.clone()],
    })
    .unwrap();
    assert!(
        list.starts_with(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n"
        ),
        "{list}"
    );
    let back = manifest::parse_str(&list, "list.yaml", &ParseOptions::default()).unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back[0].object, docs[0].object);
}

#[test]
fn typed_values_serialize_with_their_type_meta() {
    let docs = read("nginx.yaml");
    let d = deployment(&docs[0]).clone();
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["apiVersion"], "apps/v1");
    assert_eq!(json["kind"], "Deployment");
    assert!(json.get("status").is_none());
    let back: Deployment = serde_json::from_value(json).unwrap();
    assert_eq!(back, d);
    // A typed value deserializes without them too, but not with others.
    let mut bare = serde_json::to_value(&d).unwrap();
    bare.as_object_mut().unwrap().remove("kind");
    assert_eq!(
        serde_json::from_value::<Deployment>(bare.clone()).unwrap(),
        d
    );
    bare["kind"] = "Service".into();
    assert!(serde_json::from_value::<Deployment>(bare).is_err());
    // Objects deserialize through Object too.
    let objects: Vec<Object> =
        serde_json::from_str(&serde_json::to_string(&[Object::from(d.clone())]).unwrap()).unwrap();
    assert_eq!(Deployment::try_from(objects[0].clone()).unwrap(), d);
    assert_eq!(d.key().path(), "deployments/default/nginx-deployment");
}

#[test]
fn kubectl_get_replicaset_output() {
    let docs = read("kubectl-get-replicaset.yaml");
    assert_eq!(docs.len(), 1);
    assert!(docs[0].warnings.is_empty(), "{:?}", docs[0].warnings);
    assert_round_trips(&docs);
    let rs: ReplicaSet = docs[0].object.clone().try_into().unwrap();
    assert_eq!(
        rs.key().to_string(),
        "ReplicaSet kube-system/coredns-7db6d8ff4d"
    );
    assert_eq!(
        rs.key().path(),
        "replicasets/kube-system/coredns-7db6d8ff4d"
    );
    assert_eq!(rs.spec.replicas, 2);
    assert_eq!(rs.spec.min_ready_seconds, 0);
    assert!(rs.spec.selector.matches(&rs.spec.template.metadata.labels));
    let owner = rs.metadata.controller().unwrap();
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Deployment", "coredns")
    );
    let pod = &rs.spec.template.spec;
    assert_eq!(pod.dns_policy, DnsPolicy::Default);
    assert_eq!(pod.tolerations.len(), 2);
    assert_eq!(
        (
            rs.status.replicas,
            rs.status.fully_labeled_replicas,
            rs.status.ready_replicas,
            rs.status.available_replicas,
            rs.status.observed_generation
        ),
        (2, 2, 2, 2, 1)
    );

    // Written as kubectl writes it, status last; the status is the server's.
    let yaml = docs[0].object.to_yaml().unwrap();
    assert!(
        yaml.starts_with("apiVersion: apps/v1\nkind: ReplicaSet\n"),
        "{yaml}"
    );
    assert!(
        yaml.ends_with(
            "status:\n  replicas: 2\n  fullyLabeledReplicas: 2\n  readyReplicas: 2\n  availableReplicas: 2\n  observedGeneration: 1\n"
        ),
        "{yaml}"
    );
    let mut o = docs[0].object.clone();
    o.clear_status();
    assert!(!o.to_yaml().unwrap().contains("status"));

    // A minimal one gets the defaults.
    let minimal = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web}\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - {name: web, image: nginx}\n";
    let docs = manifest::parse_str(minimal, "rs.yaml", &ParseOptions::default()).unwrap();
    let Object::ReplicaSet(rs) = &docs[0].object else {
        panic!("{:?}", docs[0].object.kind())
    };
    assert_eq!(rs.metadata.namespace, "default");
    assert_eq!(rs.spec.replicas, 1);
    let pod = &rs.spec.template.spec;
    assert_eq!(pod.restart_policy, RestartPolicy::Always);
    assert_eq!(
        pod.containers[0].image_pull_policy,
        Some(PullPolicy::Always)
    );
    assert_round_trips(&docs);
}

#[test]
fn node_and_leader_election_leases() {
    let docs = read("node-lease.yaml");
    assert_eq!(docs.len(), 2);
    assert!(docs.iter().all(|d| d.warnings.is_empty()));
    assert_round_trips(&docs);

    let node: Lease = docs[0].object.clone().try_into().unwrap();
    assert_eq!(node.key().to_string(), "Lease kube-node-lease/node-1");
    assert_eq!(node.metadata.namespace, NODE_LEASE_NAMESPACE);
    assert_eq!(node.spec.holder_identity, "node-1");
    assert_eq!(node.spec.lease_duration_seconds, Some(40));
    assert_eq!(node.spec.acquire_time, None);
    let renew = node.spec.renew_time.unwrap();
    assert_eq!(
        renew.subsec_nanos(),
        264_718_000,
        "the microseconds are kept"
    );
    assert_eq!(renew.to_string(), "2024-05-02T10:01:13.264718Z");

    let leader: Lease = docs[1].object.clone().try_into().unwrap();
    assert_eq!(leader.spec.lease_transitions, Some(3));
    assert_eq!(
        leader.spec.acquire_time.unwrap().to_string(),
        "2024-05-02T09:14:21Z"
    );
    let yaml = docs[1].object.to_yaml().unwrap();
    assert_eq!(
        yaml,
        "\
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: berth-scheduler
  namespace: kube-system
spec:
  holderIdentity: control-1_6f1c
  leaseDurationSeconds: 15
  acquireTime: 2024-05-02T09:14:21Z
  renewTime: 2024-05-02T10:01:12.5Z
  leaseTransitions: 3
"
    );
}

#[test]
fn pod_tolerations_and_node_taints() {
    let docs = read("tolerations.yaml");
    assert_eq!(docs.len(), 2);
    assert!(docs.iter().all(|d| d.warnings.is_empty()));
    assert_round_trips(&docs);
    let Object::Pod(pod) = &docs[0].object else {
        unreachable!()
    };
    let t = &pod.spec.tolerations;
    assert_eq!(t.len(), 4);
    assert_eq!(t[0].operator, TolerationOperator::Exists);
    assert_eq!(t[1].toleration_seconds, Some(300));
    assert_eq!(t[2].operator, TolerationOperator::Equal, "Equal by default");
    assert_eq!((t[2].value.as_str(), t[2].effect), ("agents", None));
    assert_eq!((t[3].key.as_str(), t[3].effect), ("", None));

    let Object::Node(node) = &docs[1].object else {
        unreachable!()
    };
    let taints: Vec<String> = node.spec.taints.iter().map(ToString::to_string).collect();
    assert_eq!(
        taints,
        [
            "node-role.kubernetes.io/control-plane:NoSchedule",
            "node.kubernetes.io/unreachable:NoExecute"
        ]
    );
    assert!(node.spec.taints[1].time_added.is_some());
    for taint in &node.spec.taints {
        assert!(t[0..2].iter().any(|t| t.tolerates(taint)), "{taint}");
    }
    let gpu = Taint {
        key: "dedicated".to_owned(),
        value: "gpu".to_owned(),
        effect: TaintEffect::NoSchedule,
        time_added: None,
    };
    assert!(!t[2].tolerates(&gpu));
    assert!(
        t[3].tolerates(&gpu),
        "empty key with Exists tolerates every taint"
    );

    // Tolerations may be added to a running pod, not changed.
    let old = pod.clone();
    let mut new = old.clone();
    new.spec.tolerations.push(Toleration {
        key: "extra".to_owned(),
        operator: TolerationOperator::Exists,
        ..Toleration::default()
    });
    new.spec.tolerations[1].toleration_seconds = Some(60);
    new.validate_update(&old).unwrap();
    let mut changed = old.clone();
    changed.spec.tolerations[2].value = "others".to_owned();
    assert_eq!(
        changed.validate_update(&old).unwrap_err().to_string(),
        "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
    );
}

#[test]
fn deletion_timestamp_and_grace_period_are_kept() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  deletionTimestamp: \"2024-05-02T10:00:30Z\"\n  deletionGracePeriodSeconds: 30\nspec:\n  containers:\n  - {name: c, image: busybox}\n";
    let docs = manifest::parse_str(yaml, "pod.yaml", &ParseOptions::default()).unwrap();
    assert!(docs[0].warnings.is_empty());
    let meta = docs[0].object.metadata();
    assert!(meta.is_deleting());
    assert_eq!(meta.deletion_grace_period_seconds, Some(30));
    assert_round_trips(&docs);
    let json = docs[0].object.to_json().unwrap();
    assert!(
        String::from_utf8(json).unwrap().contains(
            r#""deletionTimestamp":"2024-05-02T10:00:30Z","deletionGracePeriodSeconds":30"#
        )
    );
}
