//! Manifests as users write them.

use super::*;

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
    // A NodePort is served: no warning, no condition.
    assert!(docs[0].warnings.is_empty(), "{:?}", docs[0].warnings);
    assert_eq!(echo.data_plane_condition(), None);
    let mut lb = echo.clone();
    lb.spec.type_ = ServiceType::LoadBalancer;
    let cond = lb.data_plane_condition().unwrap();
    assert_eq!(
        (
            cond.type_.as_str(),
            cond.status.as_str(),
            cond.reason.as_str()
        ),
        ("DataPlaneServed", "False", "LoadBalancerNotServed")
    );
    let mut with_status = lb.clone();
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
fn deployment_with_set_based_selector() {
    let yaml = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector:
    matchLabels: {app: web}
    matchExpressions:
    - {key: env, operator: In, values: [prod, qa]}
    - {key: tier, operator: NotIn, values: [db]}
    - {key: app, operator: Exists}
    - {key: canary, operator: DoesNotExist}
  template:
    metadata:
      labels: {app: web, env: qa, tier: front}
    spec:
      containers:
      - {name: web, image: nginx}
";
    let docs = manifest::parse_str(yaml, "d.yaml", &ParseOptions::default()).unwrap();
    assert_round_trips(&docs);
    let d = deployment(&docs[0]);
    let selector = &d.spec.selector;
    assert!(selector.matches(&d.spec.template.metadata.labels));
    assert_eq!(
        selector.to_string(),
        "app=web,env in (prod,qa),tier notin (db),app,!canary"
    );
    // The string form is the same selector.
    assert_eq!(
        &selector
            .to_string()
            .parse::<berth_api::LabelSelector>()
            .unwrap(),
        selector
    );
    let mut labels = d.spec.template.metadata.labels.clone();
    labels.insert("env".into(), "dev".into());
    assert!(!selector.matches(&labels));
    labels.insert("env".into(), "prod".into());
    labels.insert("canary".into(), "1".into());
    assert!(!selector.matches(&labels));

    let outside = yaml.replace("env: qa", "env: dev");
    let err = manifest::parse_str(&outside, "d.yaml", &ParseOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("`selector` does not match template `labels`"),
        "{err}"
    );
}
