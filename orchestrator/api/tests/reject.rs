//! Broken manifests give the precise error: where (source, document,
//! object), which field (its path), the value, and why — in Kubernetes'
//! words where Kubernetes has words for it.

use berth_api::manifest::{self, ParseOptions};
use berth_api::{Object, error_chain};

/// The nginx Deployment users write (imagePullPolicy and limits included).
const DEPLOY: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        imagePullPolicy: IfNotPresent
        ports:
        - name: http
          containerPort: 80
        resources:
          limits:
            memory: 128Mi
";

const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: http
";

/// Each error of the manifest, with its causes, one string per error.
fn errors(text: &str) -> Vec<String> {
    match manifest::parse_str(text, "deploy.yaml", &ParseOptions::default()) {
        Ok(docs) => panic!("accepted: {docs:#?}"),
        Err(e) => e.errors().iter().map(|e| error_chain(e)).collect(),
    }
}

/// The single error of the manifest.
fn error(text: &str) -> String {
    let mut errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    errs.remove(0)
}

fn deploy(from: &str, to: &str) -> String {
    assert!(DEPLOY.contains(from), "{from}");
    DEPLOY.replacen(from, to, 1)
}

fn service(from: &str, to: &str) -> String {
    assert!(SERVICE.contains(from), "{from}");
    SERVICE.replacen(from, to, 1)
}

const AT: &str = "deploy.yaml document 1 (Deployment default/web): ";
const SVC_AT: &str = "deploy.yaml document 1 (Service default/web): ";

#[test]
fn the_unchanged_manifests_are_accepted() {
    let docs = manifest::parse_str(
        &format!("{DEPLOY}---\n{SERVICE}"),
        "app.yaml",
        &ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(docs.len(), 2);
}

#[test]
fn unknown_field_names_its_path_and_a_likely_fix() {
    let text = format!(
        "{SERVICE}---\n{}",
        deploy("imagePullPolicy", "imagePullPolcy")
    );
    assert_eq!(
        error(&text),
        "deploy.yaml document 2 (Deployment default/web): spec.template.spec.containers[0].imagePullPolcy: unknown field (did you mean \"imagePullPolicy\"?)"
    );
    assert_eq!(
        error(&deploy("  replicas: 2", "  replica: 2")),
        format!("{AT}spec.replica: unknown field (did you mean \"replicas\"?)")
    );
    assert_eq!(
        error(&deploy(
            "metadata:\n  name: web",
            "metadata:\n  name: web\n  lables: {a: b}"
        )),
        format!("{AT}metadata.lables: unknown field (did you mean \"labels\"?)")
    );
    assert_eq!(
        error(&deploy(
            "  replicas: 2",
            "  replicas: 2\n  serviceName: web"
        )),
        format!("{AT}spec.serviceName: unknown field")
    );
}

#[test]
fn bad_quantity() {
    assert_eq!(
        error(&deploy("128Mi", "128MB")),
        format!(
            "{AT}spec.template.spec.containers[0].resources.limits.memory: Invalid value: \"128MB\": \
             quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
    );
    assert_eq!(
        error(&deploy("128Mi", "1kk")),
        format!(
            "{AT}spec.template.spec.containers[0].resources.limits.memory: Invalid value: \"1kk\": unable to parse quantity's suffix"
        )
    );
}

#[test]
fn bad_name() {
    assert_eq!(
        error(&deploy("name: web\nspec", "name: Web_1\nspec")),
        "deploy.yaml document 1 (Deployment default/Web_1): metadata.name: Invalid value: \"Web_1\": a lowercase RFC 1123 \
         subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an \
         alphanumeric character (e.g. 'example.com', regex used for validation is \
         '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    );
    // Service names are DNS-1035 labels; namespaces DNS-1123 labels.
    assert!(
        error(&service("name: web", "name: 1web")).starts_with(
            "deploy.yaml document 1 (Service default/1web): metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of"
        )
    );
    assert_eq!(
        error("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team.a\n"),
        "deploy.yaml document 1 (Namespace team.a): metadata.name: Invalid value: \"team.a\": must not contain dots"
    );
    assert_eq!(
        error(&deploy("  name: web\n", "  labels: {}\n")),
        "deploy.yaml document 1 (Deployment): metadata.name: Required value: name or generateName is required"
    );
}

#[test]
fn negative_replicas_and_wrong_types() {
    assert_eq!(
        error(&deploy("replicas: 2", "replicas: -1")),
        format!("{AT}spec.replicas: Invalid value: -1: must be greater than or equal to 0")
    );
    assert_eq!(
        error(&deploy("replicas: 2", "replicas: three")),
        format!("{AT}spec.replicas: invalid type: string \"three\", expected an integer")
    );
    assert_eq!(
        error("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  port: 8080\n"),
        "deploy.yaml document 1 (ConfigMap default/c): data.port: invalid type: integer `8080`, expected a string"
    );
}

#[test]
fn selector_must_match_template_labels() {
    assert_eq!(
        error(&deploy(
            "      app: web\n  template",
            "      app: api\n  template"
        )),
        format!(
            "{AT}spec.template.metadata.labels: Invalid value: {{\"app\":\"web\"}}: `selector` does not match template `labels`"
        )
    );
    assert_eq!(
        error(&deploy(
            "  selector:\n    matchLabels:\n      app: web\n",
            ""
        )),
        format!("{AT}spec.selector: Invalid value: {{}}: empty selector is invalid for deployment")
    );
    assert_eq!(
        error(&deploy(
            "    matchLabels:\n      app: web\n",
            "    matchExpressions:\n    - {key: app, operator: In}\n"
        )),
        format!(
            "{AT}2 errors:\n\
             * spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'\n\
             * spec.template.metadata.labels: Invalid value: {{\"app\":\"web\"}}: `selector` does not match template `labels`"
        )
    );
}

#[test]
fn unsupported_kinds_and_versions() {
    assert_eq!(
        error(&deploy("kind: Deployment", "kind: StatefulSet")),
        "deploy.yaml document 1 (StatefulSet default/web): no matches for kind \"StatefulSet\" in version \"apps/v1\" \
         (Berth serves Namespace, Node, Pod, Deployment, ReplicaSet, Service, EndpointSlice, ConfigMap, Secret, Event, Lease)"
    );
    assert_eq!(
        error(&deploy("apps/v1", "apps/v1beta1")),
        format!(
            "{AT}no matches for kind \"Deployment\" in version \"apps/v1beta1\" (Berth serves Deployment as apps/v1)"
        )
    );
    assert_eq!(
        error("apiVersion: v1\nmetadata: {name: x}\n"),
        "deploy.yaml document 1: kind: Required value"
    );
    assert_eq!(
        error("- a\n- b\n"),
        "deploy.yaml document 1: expected an object with apiVersion and kind, found a list"
    );
}

#[test]
fn several_errors_of_one_object_are_listed() {
    let text = deploy("replicas: 2", "replicas: -1").replace(
        "name: web\n        image: nginx:1.25",
        "name: web\n        image: ''",
    );
    assert_eq!(
        error(&text),
        format!(
            "{AT}2 errors:\n\
             * spec.replicas: Invalid value: -1: must be greater than or equal to 0\n\
             * spec.template.spec.containers[0].image: Required value"
        )
    );
}

#[test]
fn errors_of_every_document_are_reported_together() {
    let text = format!(
        "{}---\n{}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ok}}\n---\nkind: [\n",
        deploy("replicas: 2", "replicas: -1"),
        service("port: 80", "port: 0"),
    );
    assert_eq!(
        errors(&text),
        [
            "deploy.yaml: YAML syntax error: did not find expected node content at line 42 column 1, while parsing a flow node",
            "deploy.yaml document 1 (Deployment default/web): spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "deploy.yaml document 2 (Service default/web): spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        ]
    );
    let json =
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "date": {}}"#;
    assert_eq!(
        error(json),
        "deploy.yaml document 1 (ConfigMap default/c): date: unknown field (did you mean \"data\"?)"
    );
    assert_eq!(
        error(r#"{"apiVersion": "v1", "kind": "ConfigMap",}"#),
        "deploy.yaml: JSON syntax error: trailing comma at line 1 column 42"
    );
}

#[test]
fn pod_spec_checks() {
    let two = deploy(
        "      containers:\n",
        "      containers:\n      - name: web\n        image: busybox\n",
    );
    assert_eq!(
        error(&two),
        format!("{AT}spec.template.spec.containers[1].name: Duplicate value: \"web\"")
    );
    assert_eq!(
        error(&deploy(
            "        resources:",
            "        volumeMounts:\n        - {name: data, mountPath: /data}\n        resources:"
        )),
        format!("{AT}spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"data\"")
    );
    assert_eq!(
        error(&deploy(
            "        resources:",
            "        livenessProbe:\n          httpGet: {port: metrics}\n          exec: {command: [x]}\n          successThreshold: 2\n        readinessProbe: {periodSeconds: 5}\n        resources:"
        )),
        format!(
            "{AT}4 errors:\n\
             * spec.template.spec.containers[0].livenessProbe.httpGet: Forbidden: may not specify more than 1 handler type\n\
             * spec.template.spec.containers[0].livenessProbe.httpGet.port: Not found: \"metrics\"\n\
             * spec.template.spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1\n\
             * spec.template.spec.containers[0].readinessProbe: Required value: must specify a handler type"
        )
    );
    assert_eq!(
        error(&deploy(
            "        resources:",
            "        env:\n        - name: A\n          valueFrom:\n            configMapKeyRef: {name: c, key: k}\n            secretKeyRef: {name: s, key: k}\n        resources:"
        )),
        format!(
            "{AT}spec.template.spec.containers[0].env[0].valueFrom: Invalid value: \"\": may not have more than one field specified at a time"
        )
    );
    assert_eq!(
        error(&deploy(
            "memory: 128Mi",
            "memory: 128Mi\n          requests:\n            memory: 1Gi"
        )),
        format!(
            "{AT}spec.template.spec.containers[0].resources.requests[memory]: Invalid value: \"1Gi\": must be less than or equal to memory limit of 128Mi"
        )
    );
    assert_eq!(
        error(&deploy("memory: 128Mi", "nvidia.com/gpu: 1")),
        format!(
            "{AT}2 errors:\n\
             * spec.template.spec.containers[0].resources.limits[nvidia.com/gpu]: Unsupported value: \"nvidia.com/gpu\": supported values: \"cpu\", \"ephemeral-storage\", \"memory\"\n\
             * spec.template.spec.containers[0].resources.requests[nvidia.com/gpu]: Unsupported value: \"nvidia.com/gpu\": supported values: \"cpu\", \"ephemeral-storage\", \"memory\""
        )
    );
    assert_eq!(
        error(&deploy(
            "      containers:",
            "      restartPolicy: OnFailure\n      containers:"
        )),
        format!(
            "{AT}spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\""
        )
    );
    assert_eq!(
        error(&deploy(
            "      containers:",
            "      restartPolicy: Sometimes\n      containers:"
        )),
        format!(
            "{AT}spec.template.spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\", \"OnFailure\""
        )
    );
    assert_eq!(
        error(&deploy(
            "containerPort: 80",
            "containerPort: 80\n        - name: http\n          containerPort: 8080"
        )),
        format!("{AT}spec.template.spec.containers[0].ports[1].name: Duplicate value: \"http\"")
    );
    assert_eq!(
        error(&deploy(
            "      containers:",
            "      volumes:\n      - name: data\n        emptyDir: {}\n        configMap: {name: c}\n      containers:"
        )),
        format!(
            "{AT}spec.template.spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type"
        )
    );
}

#[test]
fn rolling_update_bounds() {
    let strategy = |s: &str| deploy("  template:", &format!("  strategy:\n{s}  template:"));
    assert_eq!(
        error(&strategy(
            "    rollingUpdate: {maxSurge: 0, maxUnavailable: 0}\n"
        )),
        format!(
            "{AT}spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"
        )
    );
    assert_eq!(
        error(&strategy(
            "    rollingUpdate: {maxSurge: abc, maxUnavailable: 120%}\n"
        )),
        format!(
            "{AT}2 errors:\n\
             * spec.strategy.rollingUpdate.maxSurge: Invalid value: \"abc\": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')\n\
             * spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"120%\": must not be greater than 100%"
        )
    );
    assert_eq!(
        error(&strategy(
            "    type: Recreate\n    rollingUpdate: {maxSurge: 1}\n"
        )),
        format!(
            "{AT}spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
        )
    );
}

#[test]
fn service_checks() {
    let ports = service(
        "  - port: 80\n    targetPort: http\n",
        "  - {name: http, port: 80, targetPort: http}\n  - {name: http, port: 70000, targetPort: HTTP_PORT}\n  - {port: 80}\n",
    );
    assert_eq!(
        error(&ports),
        format!(
            "{SVC_AT}6 errors:\n\
             * spec.ports[1].name: Duplicate value: \"http\"\n\
             * spec.ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive\n\
             * spec.ports[1].targetPort: Invalid value: \"HTTP_PORT\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)\n\
             * spec.ports[1].targetPort: Invalid value: \"HTTP_PORT\": must contain at least one letter (a-z)\n\
             * spec.ports[2].name: Required value\n\
             * spec.ports[2]: Duplicate value: \"80/TCP\""
        )
    );
    assert_eq!(
        error(&service(
            "spec:\n",
            "spec:\n  type: ExternalName\n  clusterIP: 10.96.0.20\n"
        )),
        format!(
            "{SVC_AT}2 errors:\n\
             * spec.clusterIP: Forbidden: may not be set for ExternalName services\n\
             * spec.externalName: Required value"
        )
    );
    assert_eq!(
        error(&service(
            "spec:\n",
            "spec:\n  type: NodePort\n  clusterIP: None\n"
        )),
        format!(
            "{SVC_AT}spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"
        )
    );
    assert_eq!(
        error(&service(
            "targetPort: http",
            "targetPort: http\n    nodePort: 30080"
        )),
        format!(
            "{SVC_AT}spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
        )
    );
    assert_eq!(
        error(&service(
            "spec:\n",
            "spec:\n  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 90000}}\n"
        )),
        format!(
            "{SVC_AT}spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 90000: must be greater than 0 and less than 86400"
        )
    );
    assert_eq!(
        error(&service("spec:\n", "spec:\n  type: Foo\n")),
        format!(
            "{SVC_AT}spec.type: Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
        )
    );
    assert_eq!(
        error(&service("spec:\n", "spec:\n  clusterIP: 10.96.0.300\n")),
        format!(
            "{SVC_AT}spec.clusterIP: Invalid value: \"10.96.0.300\": must be empty, 'None', or a valid IP address"
        )
    );
    assert_eq!(
        error(&service("spec:\n", "spec:\n  ipFamilies: [IPv4, IPv6]\n")),
        format!(
            "{SVC_AT}spec.ipFamilyPolicy: Invalid value: \"SingleStack\": must be RequireDualStack or PreferDualStack when multiple 'ipFamilies' are specified"
        )
    );
    assert_eq!(
        error(&service(
            "  ports:\n  - port: 80\n    targetPort: http\n",
            ""
        )),
        format!("{SVC_AT}spec.ports: Required value")
    );
}

#[test]
fn unsupported_fields_are_rejected_or_tolerated_with_a_warning() {
    assert_eq!(
        error(&deploy(
            "      containers:",
            "      affinity:\n        podAntiAffinity: {}\n      initContainers:\n      - {name: init, image: busybox}\n      containers:"
        )),
        format!(
            "{AT}2 errors:\n\
             * spec.template.spec.affinity: Forbidden: not supported by Berth (use nodeSelector)\n\
             * spec.template.spec.initContainers: Forbidden: not supported by Berth"
        )
    );
    assert_eq!(
        error(&service(
            "spec:\n",
            "spec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n"
        )),
        format!(
            "{SVC_AT}spec.externalTrafficPolicy: Forbidden: not supported by Berth (traffic goes to endpoints on every node)"
        )
    );
    let tolerated = deploy(
        "      containers:",
        "      schedulerName: default-scheduler\n      securityContext: {}\n      imagePullSecrets:\n      - {name: registry}\n      containers:",
    );
    let docs = manifest::parse_str(&tolerated, "deploy.yaml", &ParseOptions::default()).unwrap();
    assert_eq!(
        docs[0].warnings,
        [
            "spec.template.spec.imagePullSecrets: ignored: Berth imports images instead of pulling them"
        ]
    );

    // What manifests tolerate, the strict decoding of stored objects does not.
    let stored = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "x", "terminationMessagePath": "/dev/termination-log"}]}
    });
    assert_eq!(
        Object::from_value(stored).unwrap_err().to_string(),
        "spec.containers[0].terminationMessagePath: unknown field"
    );
}

#[test]
fn secrets_and_config_maps() {
    assert_eq!(
        error(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  password: not base64!\n"
        ),
        "deploy.yaml document 1 (Secret default/s): data.password: illegal base64 data at input byte 3"
    );
    assert_eq!(
        error(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: tls}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: x\n"
        ),
        "deploy.yaml document 1 (Secret default/tls): data[tls.key]: Required value"
    );
    assert_eq!(
        error("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  'a/b': x\n"),
        "deploy.yaml document 1 (ConfigMap default/c): data[a/b]: Invalid value: \"a/b\": a valid config key must consist \
         of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for \
         validation is '[-._a-zA-Z0-9]+')"
    );
}

#[test]
fn list_items_are_located() {
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: ok}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c, labels: {app: 'a b'}}\n";
    assert_eq!(
        error(list),
        "deploy.yaml document 1 items[1] (ConfigMap default/c): metadata.labels: Invalid value: \"a b\": a valid label \
         must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an \
         alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is \
         '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    );
}

#[test]
fn tolerations_and_taints() {
    let with = |tolerations: &str| {
        deploy(
            "      containers:",
            &format!("      tolerations:\n{tolerations}      containers:"),
        )
    };
    assert_eq!(
        error(&with(
            "      - {key: dedicated, operator: Exists, value: x}\n"
        )),
        format!(
            "{AT}spec.template.spec.tolerations[0].value: Invalid value: \"x\": value must be empty when `operator` is 'Exists'"
        )
    );
    assert_eq!(
        error(&with("      - {key: dedicated, operator: Within}\n")),
        format!(
            "{AT}spec.template.spec.tolerations[0].operator: Unsupported value: \"Within\": supported values: \"Equal\", \"Exists\""
        )
    );
    assert_eq!(
        error(&with(
            "      - {operator: Exists}\n      - {key: 'a b', value: x}\n      - {value: x}\n      - {key: k, operator: Exists, tolerationSeconds: 30}\n"
        )),
        format!(
            "{AT}3 errors:\n\
             * spec.template.spec.tolerations[1].key: Invalid value: \"a b\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')\n\
             * spec.template.spec.tolerations[2].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"\n\
             * spec.template.spec.tolerations[3].effect: Invalid value: \"\": effect must be 'NoExecute' when `tolerationSeconds` is set"
        )
    );
    assert_eq!(
        error(&with("      - {key: k, effect: NoRun}\n")),
        format!(
            "{AT}spec.template.spec.tolerations[0].effect: Unsupported value: \"NoRun\": supported values: \"NoExecute\", \"NoSchedule\", \"PreferNoSchedule\""
        )
    );

    let node = |taints: &str| {
        format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: node-1}}\nspec:\n  taints:\n{taints}"
        )
    };
    assert_eq!(
        error(&node("  - {effect: NoSchedule}\n")),
        "deploy.yaml document 1 (Node node-1): spec.taints[0].key: Required value"
    );
    assert_eq!(
        error(&node(
            "  - {key: k, effect: NoSchedule}\n  - {key: k, value: v}\n"
        )),
        "deploy.yaml document 1 (Node node-1): spec.taints[1]: Duplicate value: {\"effect\":\"NoSchedule\",\"key\":\"k\",\"value\":\"v\"}: taints must be unique by key and effect pair"
    );
    assert_eq!(
        error(&node("  - {key: k, effects: NoSchedule}\n")),
        "deploy.yaml document 1 (Node node-1): spec.taints[0].effects: unknown field (did you mean \"effect\"?)"
    );
}

#[test]
fn replica_sets_are_checked_as_deployments() {
    let rs = deploy("kind: Deployment", "kind: ReplicaSet");
    let docs = manifest::parse_str(&rs, "rs.yaml", &ParseOptions::default()).unwrap();
    assert_eq!(docs[0].object.key().to_string(), "ReplicaSet default/web");
    const RS_AT: &str = "deploy.yaml document 1 (ReplicaSet default/web): ";
    assert_eq!(
        error(&rs.replace("replicas: 2", "replicas: -1")),
        format!("{RS_AT}spec.replicas: Invalid value: -1: must be greater than or equal to 0")
    );
    assert_eq!(
        error(&rs.replace("      app: web\n  template", "      app: api\n  template")),
        format!(
            "{RS_AT}spec.template.metadata.labels: Invalid value: {{\"app\":\"web\"}}: `selector` does not match template `labels`"
        )
    );
    assert_eq!(
        error(&rs.replace(
            "  replicas: 2\n",
            "  replicas: 2\n  strategy: {type: Recreate}\n"
        )),
        format!("{RS_AT}spec.strategy: unknown field")
    );
    assert_eq!(
        error(&rs.replace("apps/v1", "extensions/v1beta1")),
        format!(
            "{RS_AT}no matches for kind \"ReplicaSet\" in version \"extensions/v1beta1\" (Berth serves ReplicaSet as apps/v1)"
        )
    );
}

#[test]
fn lease_checks() {
    let lease = |spec: &str| {
        format!(
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{name: node-1, namespace: kube-node-lease}}\nspec: {spec}\n"
        )
    };
    const AT: &str = "deploy.yaml document 1 (Lease kube-node-lease/node-1): ";
    assert_eq!(
        error(&lease("{holderIdentity: node-1, leaseDurationSeconds: 0}")),
        format!("{AT}spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0")
    );
    assert_eq!(
        error(&lease("{leaseTransitions: -2}")),
        format!("{AT}spec.leaseTransitions: Invalid value: -2: must be greater than or equal to 0")
    );
    assert_eq!(
        error(&lease("{renewTime: yesterday}")),
        format!(
            "{AT}spec.renewTime: parsing time \"yesterday\" as RFC 3339 (\"2006-01-02T15:04:05Z07:00\"): expected digits"
        )
    );
    assert_eq!(
        error(&lease("{holder: node-1}")),
        format!("{AT}spec.holder: unknown field")
    );
}
