//! The kubectl-like CLI against a real `berth server`: real-world
//! manifests apply, broken ones give the precise error, get/scale/delete
//! work, and the credentials are found without flags via BERTH_CONFIG.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output};

const APP: &str = r#"
# A Deployment + Service pair as the Kubernetes docs write them.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
          name: http
        resources:
          requests: {cpu: 100m, memory: 64Mi}
          limits: {memory: 128Mi}
        readinessProbe:
          httpGet: {path: /, port: http}
---
apiVersion: v1
kind: Service
metadata:
  name: my-service
spec:
  selector:
    app: nginx
  ports:
    - protocol: TCP
      port: 80
      targetPort: http
"#;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path) -> Server {
    Server(common::server::start_server(dir))
}

fn berth(config: &Path, args: &[&str]) -> Output {
    Command::new(common::berth_bin())
        .args(args)
        .env("BERTH_CONFIG", config)
        .output()
        .unwrap()
}

fn ok(config: &Path, args: &[&str]) -> String {
    let out = berth(config, args);
    assert!(
        out.status.success(),
        "berth {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(config: &Path, args: &[&str]) -> String {
    let out = berth(config, args);
    assert!(!out.status.success(), "berth {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn apply_get_scale_delete_and_precise_errors() {
    let dir = tempfile::tempdir().unwrap();
    let _server = start(&dir.path().join("server"));
    let config = dir.path().join("server/admin.conf");
    let app = dir.path().join("app.yaml");
    std::fs::write(&app, APP).unwrap();

    let out = ok(&config, &["apply", "-f", app.to_str().unwrap()]);
    assert_eq!(
        out,
        "deployment/nginx-deployment created\nservice/my-service created\n"
    );
    let out = ok(&config, &["apply", "-f", app.to_str().unwrap()]);
    assert!(
        out.contains("deployment/nginx-deployment configured"),
        "{out}"
    );

    let out = ok(&config, &["get", "deploy"]);
    assert!(
        out.starts_with("NAME") && out.contains("nginx-deployment"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&config, &["get", "svc", "my-service", "-o", "json"])).unwrap();
    assert_eq!(json["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(json["spec"]["type"], "ClusterIP", "defaulted");
    let list: serde_json::Value =
        serde_json::from_str(&ok(&config, &["get", "pods", "-o", "json"])).unwrap();
    assert_eq!(list["kind"], "List");

    ok(
        &config,
        &["scale", "deployment/nginx-deployment", "--replicas", "5"],
    );
    let json: serde_json::Value = serde_json::from_str(&ok(
        &config,
        &["get", "deployment", "nginx-deployment", "-o", "json"],
    ))
    .unwrap();
    assert_eq!(json["spec"]["replicas"], 5);

    // Broken manifests: the file, document, object, field and value.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        APP.replace("imagePullPolicy", "x").replace(
            "image: nginx",
            "imagePullPolcy: Always\n        image: nginx",
        ),
    )
    .unwrap();
    let err = fails(&config, &["apply", "-f", bad.to_str().unwrap()]);
    assert!(
        err.contains("document 1 (Deployment default/nginx-deployment): spec.template.spec.containers[0].imagePullPolcy: unknown field"),
        "{err}"
    );
    std::fs::write(&bad, APP.replace("replicas: 3", "replicas: -2")).unwrap();
    let err = fails(&config, &["apply", "-f", bad.to_str().unwrap()]);
    assert!(err.contains("spec.replicas: Invalid value: -2"), "{err}");
    // A manifest whose namespace differs from -n.
    std::fs::write(
        &bad,
        APP.replace("name: my-service", "name: my-service\n  namespace: prod"),
    )
    .unwrap();
    let err = fails(
        &config,
        &["apply", "-n", "default", "-f", bad.to_str().unwrap()],
    );
    assert!(err.contains("prod") && err.contains("default"), "{err}");

    ok(&config, &["delete", "svc", "my-service"]);
    let err = fails(&config, &["get", "svc", "my-service"]);
    assert!(err.contains("services \"my-service\" not found"), "{err}");

    // Wrong credentials are refused.
    let mut text = std::fs::read_to_string(&config).unwrap();
    let token_line = text
        .lines()
        .find(|l| l.starts_with("token:"))
        .unwrap()
        .to_owned();
    text = text.replace(&token_line, "token: wrong");
    let wrong = dir.path().join("wrong.conf");
    std::fs::write(&wrong, text).unwrap();
    let err = fails(&wrong, &["get", "svc"]);
    assert!(err.contains("invalid token"), "{err}");
}
