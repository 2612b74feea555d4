//! Secrets, ConfigMaps, lists, taints, ReplicaSets and leases.

use super::*;

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
            "{AT}spec.renewTime: parsing time \"yesterday\" as RFC 3339 (\"2006-01-02T15:04:05Z07:00\"): failed to parse four digit integer as year: invalid digit, expected 0-9 but got y"
        )
    );
    assert_eq!(
        error(&lease("{holder: node-1}")),
        format!("{AT}spec.holder: unknown field")
    );
}
