//! Field names, values, quantities, names and types.

use super::*;

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
fn selector_expressions_name_the_field_and_value() {
    let with = |expr: &str| {
        deploy(
            "    matchLabels:\n      app: web\n",
            &format!("    matchLabels:\n      app: web\n    matchExpressions:\n    - {expr}\n"),
        )
    };
    assert_eq!(
        error(&with("{key: app, operator: Foo, values: [web]}")),
        format!(
            "{AT}spec.selector.matchExpressions[0].operator: Unsupported value: \"Foo\": supported values: \"DoesNotExist\", \"Exists\", \"In\", \"NotIn\""
        )
    );
    assert_eq!(
        error(&with("{key: app, operator: Exists, values: [web]}")),
        format!(
            "{AT}spec.selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
        )
    );
    assert_eq!(
        error(&with("{key: app, operator: NotIn, values: []}")),
        format!(
            "{AT}spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
        )
    );
    let bad_value = error(&with(
        "{key: app, operator: In, values: [web, \"not valid\"]}",
    ));
    assert!(
        bad_value.starts_with(&format!(
            "{AT}spec.selector.matchExpressions[0].values[1]: Invalid value: \"not valid\": a valid label must be"
        )),
        "{bad_value}"
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
