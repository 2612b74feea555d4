//! The manifest reader: every kind, lists, defaults, and errors that name
//! the document, the object, the field and the value.

use super::*;

fn ok(text: &str) -> StaticSource {
    parse(text, "t.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    parse(text, "t.yaml").unwrap_err().to_string()
}

const SVC: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n";

#[test]
fn services_of_every_type() {
    let s = ok(&format!(
        "{SVC}spec: {{clusterIP: 10.96.0.1, ports: [{{name: http, port: 80}}, {{port: 53, protocol: UDP}}]}}\n\
         ---\napiVersion: v1\nkind: Service\nmetadata: {{name: h, namespace: prod}}\nspec: {{clusterIP: None}}\n\
         ---\napiVersion: v1\nkind: Service\nmetadata: {{name: x}}\nspec: {{type: ExternalName, externalName: example.com}}\n\
         ---\napiVersion: v1\nkind: Service\nmetadata: {{name: n}}\nspec: {{type: NodePort, clusterIPs: [10.96.0.2, 'fd00::2']}}\n"
    ));
    assert_eq!(s.services.len(), 4);
    let web = &s.services[0];
    assert_eq!(
        (web.namespace.as_str(), web.name.as_str()),
        ("default", "web")
    );
    assert_eq!(web.cluster_ips, ["10.96.0.1".parse::<IpAddr>().unwrap()]);
    assert_eq!(web.ports[0].name.as_deref(), Some("http"));
    assert_eq!(web.ports[1].protocol, crate::Protocol::Udp);
    assert!(s.services[1].headless && s.services[1].namespace == "prod");
    assert_eq!(s.services[2].external_name.as_deref(), Some("example.com"));
    assert_eq!(s.services[3].cluster_ips.len(), 2);
}

use std::net::IpAddr;

#[test]
fn slices_pods_lists_and_other_kinds() {
    let s = ok("apiVersion: v1\nkind: List\nitems:\n\
        - apiVersion: discovery.k8s.io/v1\n  kind: EndpointSlice\n  metadata: {name: db-1, labels: {kubernetes.io/service-name: db}}\n  addressType: IPv4\n  ports: [{name: pg, port: 5433}]\n  endpoints:\n  - addresses: [10.244.0.5]\n  - addresses: [10.244.0.6]\n    conditions: {ready: false}\n    hostname: b\n\
        - apiVersion: discovery.k8s.io/v1\n  kind: EndpointSlice\n  metadata: {name: db-2, labels: {kubernetes.io/service-name: db}}\n  addressType: FQDN\n  endpoints: [{addresses: [x.example]}]\n\
        - apiVersion: v1\n  kind: Pod\n  metadata: {name: p, namespace: dev}\n  status: {podIPs: [{ip: 10.244.1.2}, {ip: 'fd00::2'}]}\n\
        - apiVersion: v1\n  kind: Pod\n  metadata: {name: pending}\n  status: {phase: Pending}\n\
        - apiVersion: v1\n  kind: Pod\n  metadata: {name: host}\n  spec: {hostNetwork: true}\n  status: {podIP: 192.168.1.1}\n\
        - apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: web}\n");
    assert_eq!(s.endpoints.len(), 1, "FQDN slices are skipped");
    let eps = &s.endpoints[0];
    assert_eq!(eps.service, "db");
    assert!(eps.endpoints[0].ready, "absent ready condition means ready");
    assert!(!eps.endpoints[1].ready);
    assert_eq!(eps.endpoints[1].hostname.as_deref(), Some("b"));
    assert_eq!(eps.endpoints[0].ports[0].port, 5433);
    assert_eq!(
        s.pods.len(),
        2,
        "one record per pod IP; pending and host-network pods none"
    );
    assert!(s.pods.iter().all(|p| p.namespace == "dev"));
}

#[test]
fn json_documents_and_empty_documents() {
    let s = ok(
        r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j"}, "spec": {"clusterIP": "10.96.0.9"}}
---
---
"#,
    );
    assert_eq!(s.services[0].name, "j");
}

#[test]
fn errors_name_document_object_field_and_value() {
    let cases = [
        (
            format!("{SVC}spec: {{clusterIP: 10.96.0.300}}\n"),
            "t.yaml: document 1 (Service default/web): spec.clusterIP: Invalid value: \"10.96.0.300\": must be a valid IP address",
        ),
        (
            format!("---\n{SVC}spec: {{clusterIP: 10.96.0.1}}\n---\n{SVC}spec: {{clusterIP: 10.96.0.1, ports: [{{port: 80}}, {{port: 70000}}]}}\n"),
            "document 2 (Service default/web): spec.ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
        ),
        (
            format!("{SVC}spec: {{clusterIP: 10.96.0.1, ports: [{{port: 80, protocol: tcp}}]}}\n"),
            "spec.ports[0].protocol: Invalid value: \"tcp\": supported values",
        ),
        (
            format!("{SVC}spec: {{clusterIP: 10.96.0.1, clusterIPs: [10.96.0.2]}}\n"),
            "spec.clusterIPs[0]: Invalid value: \"10.96.0.2\": must match spec.clusterIP \"10.96.0.1\"",
        ),
        (
            format!("{SVC}spec: {{type: ClusterIP}}\n"),
            "spec.clusterIP: Required value",
        ),
        (
            format!("{SVC}spec: {{type: Magic, clusterIP: 10.96.0.1}}\n"),
            "spec.type: Invalid value: \"Magic\"",
        ),
        (
            "apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: s}\n".into(),
            "(EndpointSlice default/s): apiVersion: Invalid value: \"discovery.k8s.io/v1beta1\": EndpointSlice is read as discovery.k8s.io/v1",
        ),
        (
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\n".into(),
            "metadata.labels[kubernetes.io/service-name]: Required value",
        ),
        (
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: db}}\naddressType: IPv4\nendpoints: [{addresses: [nope]}]\n".into(),
            "endpoints[0].addresses[0]: Invalid value: \"nope\": must be a valid IP address",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus: {podIP: 10.1.1}\n".into(),
            "(Pod default/p): status.podIP: Invalid value: \"10.1.1\": must be a valid IP address",
        ),
        ("kind: Service\nmetadata: {name: x}\n".into(), "(Service): apiVersion: Required value"),
        ("apiVersion: v1\nmetadata: {name: x}\n".into(), "(document): kind: Required value"),
        ("- just\n- a list\n".into(), "(document): <document>: Invalid value"),
        (
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n  spec: {clusterIP: bad}\n".into(),
            "(List item Service default/a): items[0].spec.clusterIP: Invalid value: \"bad\"",
        ),
    ];
    for (text, want) in cases {
        let got = err(&text);
        assert!(got.contains(want), "\n got: {got}\nwant: {want}");
    }
    assert!(err("a: [unclosed\n").contains("t.yaml: document 1: not YAML"));
}
