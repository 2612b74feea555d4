//! Helpers: a cluster of one server and fake nodes, manifests, waiting.

use std::future::Future;
use std::time::Duration;

use berth_api::manifest::{ParseOptions, parse_str};
use berth_api::{Object, Pod, Resource};
use berth_client::Client;
use berth_control::controllers::Settings;
use berth_control::testing::{FakeNode, FakeNodeOptions};

use crate::common::{HANG, Running, start_with};

/// Settings with short timeouts, so that node failure shows in seconds.
pub fn fast() -> Settings {
    Settings {
        node_monitor_grace_period: Duration::from_millis(1500),
        node_monitor_period: Duration::from_millis(200),
        pod_eviction_timeout: Duration::from_secs(1),
        ..Settings::default()
    }
}

pub struct Cluster {
    pub server: Option<Running>,
    pub settings: Settings,
    pub client: Client,
    pub nodes: Vec<FakeNode>,
    pub _dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start(nodes: &[(&str, FakeNodeOptions)]) -> Self {
        Self::start_with(nodes, fast()).await
    }

    pub async fn start_with(nodes: &[(&str, FakeNodeOptions)], settings: Settings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = start_with(dir.path(), Some(settings.clone())).await;
        let client = Client::remote(berth_client::connect(&server.admin).await.unwrap());
        let mut c = Self {
            server: Some(server),
            settings,
            client,
            nodes: Vec::new(),
            _dir: dir,
        };
        for (name, opts) in nodes {
            c.add_node(name, opts.clone()).await;
        }
        c
    }

    pub async fn add_node(&mut self, name: &str, opts: FakeNodeOptions) {
        let n = FakeNode::start(self.client.clone(), name, opts)
            .await
            .unwrap();
        self.nodes.push(n);
        // Ready and with its pod CIDRs.
        let client = self.client.clone();
        let name = name.to_owned();
        wait(&format!("node {name} ready with pod CIDRs"), || {
            let (client, name) = (client.clone(), name.clone());
            async move {
                client
                    .get::<berth_api::Node>("", &name)
                    .await
                    .unwrap()
                    .is_some_and(|n| n.is_ready() && !n.spec.pod_cidrs.is_empty())
            }
        })
        .await;
    }

    pub fn node(&self, name: &str) -> &FakeNode {
        self.nodes.iter().find(|n| n.name() == name).unwrap()
    }

    pub fn node_mut(&mut self, name: &str) -> &mut FakeNode {
        self.nodes.iter_mut().find(|n| n.name() == name).unwrap()
    }

    /// Pods in `default` matching `app=<app>`, not terminating.
    pub async fn live_pods(&self, app: &str) -> Vec<Pod> {
        self.client
            .list::<Pod>("default", &format!("app={app}"))
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|p| !p.metadata.is_deleting())
            .collect()
    }

    pub async fn stop(mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }

    /// Stops the server and starts it again on the same data dir (the fake
    /// nodes are stopped; their Nodes stay).
    pub async fn restart_server(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
        self.nodes.clear();
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
        let server = start_with(self._dir.path(), Some(self.settings.clone())).await;
        self.client = Client::remote(berth_client::connect(&server.admin).await.unwrap());
        self.server = Some(server);
    }
}

/// Polls `cond` until it holds; panics naming `what` after [`HANG`].
pub async fn wait<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        if cond().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One object from YAML.
pub fn parse<R: Resource + TryFrom<Object>>(yaml: &str) -> R
where
    <R as TryFrom<Object>>::Error: std::fmt::Debug,
{
    let mut docs = parse_str(yaml, "test.yaml", &ParseOptions::default()).unwrap();
    R::try_from(docs.remove(0).object).unwrap()
}

/// A Deployment `name` (label `app=name`) with `replicas` and a container
/// port 8080 named `http`.
pub fn deployment(name: &str, replicas: i32, extra_spec: &str) -> berth_api::Deployment {
    parse(&format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
{extra_spec}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: app
        image: busybox
        ports: [{{name: http, containerPort: 8080}}]
"#
    ))
}
