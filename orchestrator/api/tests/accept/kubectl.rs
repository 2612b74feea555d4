//! What kubectl prints and sends, updates, directories, namespaces, YAML.

use super::*;

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
