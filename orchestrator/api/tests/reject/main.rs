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

mod fields;
mod objects;
mod workloads;
