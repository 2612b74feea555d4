use super::*;
use crate::manifest::{ParseOptions, parse_str};

fn object(yaml: &str) -> Object {
    parse_str(yaml, "t.yaml", &ParseOptions::default())
        .expect("manifest")
        .remove(0)
        .object
}

#[test]
fn pods_show_readiness_status_and_wide_ip_and_node() {
    let mut o = object(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  nodeName: n1\n  containers: [{name: c, image: busybox}]\n",
    );
    if let Object::Pod(p) = &mut o {
        p.status.pod_ip = "10.244.0.5".into();
    }
    assert_eq!(headers(&o, false), ["READY", "STATUS", "RESTARTS"]);
    assert_eq!(values(&o, false), ["0/1", "Pending", "0"]);
    assert_eq!(
        headers(&o, true),
        ["READY", "STATUS", "RESTARTS", "IP", "NODE"]
    );
    assert_eq!(values(&o, true)[3..], ["10.244.0.5", "n1"]);
}

#[test]
fn services_show_their_ports_and_wide_selector() {
    let o = object(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n",
    );
    assert_eq!(
        headers(&o, true),
        ["TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "SELECTOR"]
    );
    assert_eq!(
        values(&o, true),
        ["ClusterIP", "<none>", "<none>", "80/TCP", "app=web"]
    );
}

#[test]
fn every_kind_has_as_many_values_as_headers() {
    for yaml in [
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {matchLabels: {app: d}}\n  template:\n    metadata: {labels: {app: d}}\n    spec: {containers: [{name: c, image: busybox}]}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n",
    ] {
        let o = object(yaml);
        for wide in [false, true] {
            assert_eq!(headers(&o, wide).len(), values(&o, wide).len(), "{yaml}");
        }
    }
}
