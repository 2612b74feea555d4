//! A fake node agent for tests and benchmarks (the real one is `berth
//! agent`): it registers a Node, renews its Lease, "runs" the pods bound to
//! it — Running, an address from the node's pod CIDR, Ready unless told
//! otherwise — and finishes their deletion as an agent does after stopping
//! them. [`FakeNode::kill`] stops all of that, as a node failure would.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::lease::{LeaseSpec, NODE_LEASE_NAMESPACE};
use berth_api::meta::ConditionStatus;
use berth_api::node::{NodeAddress, NodeCondition};
use berth_api::pod::{PodCondition, PodIp, PodPhase};
use berth_api::{Kind, Lease, Node, ObjectMeta, Pod, Quantity, Taint, Time};
use berth_client::cache::Reflector;
use berth_client::{Client, ClientError, DeleteOptions};
use tokio::sync::Notify;

use crate::api::set_condition;

/// How a fake node looks.
#[derive(Debug, Clone)]
pub struct FakeNodeOptions {
    /// Allocatable CPU (`4`).
    pub cpu: String,
    /// Allocatable memory (`8Gi`).
    pub memory: String,
    /// Pods it takes (110).
    pub pods: u32,
    /// Node labels.
    pub labels: BTreeMap<String, String>,
    /// Node taints.
    pub taints: Vec<Taint>,
    /// How often the lease is renewed.
    pub lease_period: Duration,
}

impl Default for FakeNodeOptions {
    fn default() -> Self {
        Self {
            cpu: "4".into(),
            memory: "8Gi".into(),
            pods: 110,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            lease_period: Duration::from_millis(200),
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    unready: HashSet<(String, String)>,
    next_ip: u32,
}

/// A running fake node.
#[derive(Debug)]
pub struct FakeNode {
    name: String,
    client: Client,
    shared: Arc<Mutex<Shared>>,
    wake: Arc<Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn quantity(s: &str) -> Quantity {
    Quantity::parse(s).unwrap_or_else(|_| Quantity::from_units(0))
}

impl FakeNode {
    /// Registers node `name` (or takes it over after a restart) and starts
    /// renewing its lease and running its pods.
    pub async fn start(
        client: Client,
        name: &str,
        opts: FakeNodeOptions,
    ) -> Result<Self, ClientError> {
        let mut node = Node {
            metadata: ObjectMeta::named("", name),
            ..Node::default()
        };
        node.metadata.labels = opts.labels.clone();
        node.metadata
            .labels
            .insert("kubernetes.io/hostname".into(), name.into());
        node.spec.taints = opts.taints.clone();
        let node = match client.create(&node).await {
            Ok(n) => n,
            Err(e) if e.is_already_exists() => client.get::<Node>("", name).await?.unwrap_or(node),
            Err(e) => return Err(e),
        };
        let fake = Self {
            name: name.to_owned(),
            client: client.clone(),
            shared: Arc::new(Mutex::new(Shared::default())),
            wake: Arc::new(Notify::new()),
            tasks: Vec::new(),
        };
        fake.report_ready(node, &opts).await?;
        fake.renew_lease().await?;
        let mut fake = fake;
        let mut pods = Reflector::<Pod>::new(client.clone(), "");
        let wake = fake.wake.clone();
        let me = name.to_owned();
        pods.on_change(move |n| {
            if n.object().spec.node_name == me {
                wake.notify_one();
            }
        });
        let cache = pods.cache();
        fake.tasks.push(pods.spawn());
        let (c, n, shared, wake, period) = (
            client.clone(),
            name.to_owned(),
            fake.shared.clone(),
            fake.wake.clone(),
            opts.lease_period,
        );
        fake.tasks.push(tokio::spawn(async move {
            loop {
                let _ = tokio::time::timeout(period, wake.notified()).await;
                if let Err(e) = run_pods(&c, &n, &cache, &shared).await {
                    tracing::debug!(node = %n, error = %e, "fake node: pods");
                }
            }
        }));
        let (c, n) = (client.clone(), name.to_owned());
        fake.tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                if let Err(e) = renew(&c, &n).await {
                    tracing::debug!(node = %n, error = %e, "fake node: lease");
                }
            }
        }));
        Ok(fake)
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn report_ready(
        &self,
        mut node: Node,
        opts: &FakeNodeOptions,
    ) -> Result<(), ClientError> {
        loop {
            let now = Time::now();
            for (k, v) in [
                ("cpu", opts.cpu.clone()),
                ("memory", opts.memory.clone()),
                ("pods", opts.pods.to_string()),
            ] {
                node.status.capacity.insert(k.into(), quantity(&v));
                node.status.allocatable.insert(k.into(), quantity(&v));
            }
            node.status.addresses = vec![NodeAddress {
                type_: berth_api::node::NodeAddressType::InternalIP,
                address: "127.0.0.1".into(),
            }];
            node.status.conditions.retain(|c| c.type_ != "Ready");
            node.status.conditions.push(NodeCondition {
                type_: "Ready".into(),
                status: ConditionStatus::True,
                last_heartbeat_time: Some(now.truncated()),
                last_transition_time: Some(now.truncated()),
                reason: "KubeletReady".into(),
                message: "fake node agent is posting ready status".into(),
            });
            match self.client.update_status(&node).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_conflict() => {
                    node = self
                        .client
                        .get::<Node>("", &self.name)
                        .await?
                        .unwrap_or(node);
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn renew_lease(&self) -> Result<(), ClientError> {
        renew(&self.client, &self.name).await
    }

    /// Makes the pod's readiness `ready` (as a readiness probe would).
    pub fn set_ready(&self, namespace: &str, name: &str, ready: bool) {
        let key = (namespace.to_owned(), name.to_owned());
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if ready {
            s.unready.remove(&key);
        } else {
            s.unready.insert(key);
        }
        drop(s);
        self.wake.notify_one();
    }

    /// Stops everything at once: no more lease renewals, pod updates or
    /// deletions (a node failure). The Node object stays.
    pub fn kill(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn renew(client: &Client, node: &str) -> Result<(), ClientError> {
    let now = Time::now();
    match client.get::<Lease>(NODE_LEASE_NAMESPACE, node).await? {
        Some(mut l) => {
            l.spec.renew_time = Some(now);
            client.update(&l).await.map(|_| ())
        }
        None => {
            let l = Lease {
                metadata: ObjectMeta::named(NODE_LEASE_NAMESPACE, node),
                spec: LeaseSpec {
                    holder_identity: node.into(),
                    lease_duration_seconds: Some(40),
                    acquire_time: Some(now),
                    renew_time: Some(now),
                    lease_transitions: None,
                },
                ..Lease::default()
            };
            match client.create(&l).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_already_exists() => Ok(()),
                Err(e) => Err(e),
            }
        }
    }
}

fn pod_ip(cidrs: &[String], n: u32) -> Vec<String> {
    cidrs
        .iter()
        .filter_map(|c| c.parse::<ipnet::IpNet>().ok())
        .map(|net| match net.network() {
            IpAddr::V4(a) => std::net::Ipv4Addr::from(u32::from(a) + 2 + n).to_string(),
            IpAddr::V6(a) => {
                std::net::Ipv6Addr::from(u128::from(a) + 2 + u128::from(n)).to_string()
            }
        })
        .collect()
}

async fn run_pods(
    client: &Client,
    node: &str,
    pods: &berth_client::cache::Cache<Pod>,
    shared: &Mutex<Shared>,
) -> Result<(), ClientError> {
    let cidrs = client
        .get::<Node>("", node)
        .await?
        .map(|n| n.spec.pod_cidrs)
        .unwrap_or_default();
    for p in pods.filter(|p| p.spec.node_name == node) {
        let key = (p.metadata.namespace.clone(), p.metadata.name.clone());
        if p.metadata.is_deleting() {
            // "Stopped": gone for good.
            match client
                .delete(
                    Kind::Pod,
                    &key.0,
                    &key.1,
                    DeleteOptions {
                        resource_version: 0,
                        grace_period_seconds: Some(0),
                    },
                )
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            continue;
        }
        let (want_ready, n) = {
            let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
            let ready = !s.unready.contains(&key);
            let n = if p.status.pod_ip.is_empty() {
                s.next_ip += 1;
                s.next_ip
            } else {
                0
            };
            (ready, n)
        };
        let mut updated = (*p).clone();
        let now = Time::now();
        if updated.status.pod_ip.is_empty() {
            let ips = pod_ip(&cidrs, n);
            if ips.is_empty() {
                continue;
            }
            updated.status.pod_ip = ips[0].clone();
            updated.status.pod_ips = ips.into_iter().map(|ip| PodIp { ip }).collect();
            updated.status.host_ip = "127.0.0.1".into();
            updated.status.start_time = Some(now.truncated());
        }
        updated.status.phase = PodPhase::Running;
        let status = if want_ready {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        for t in ["Initialized", "ContainersReady", "Ready"] {
            let s = if t == "Initialized" {
                ConditionStatus::True
            } else {
                status
            };
            set_condition(
                &mut updated.status.conditions,
                PodCondition {
                    type_: t.into(),
                    status: s,
                    ..PodCondition::default()
                },
                now,
            );
        }
        if updated.status != p.status {
            match client.update_status(&updated).await {
                Ok(_) => {}
                Err(e) if e.is_conflict() || e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// The credentials of node `node`: `bootstrap` (credentials carrying the
/// bootstrap token) exchanged for a node credential, as an agent joins.
pub async fn node_credentials(
    bootstrap: &berth_client::ClientConfig,
    node: &str,
) -> Result<berth_client::ClientConfig, Box<dyn std::error::Error + Send + Sync>> {
    let client = Client::remote(berth_client::connect(bootstrap).await?);
    let issued = client.issue_node_credential(node).await?;
    Ok(berth_client::ClientConfig {
        token: issued.token,
        token_file: None,
        ..bootstrap.clone()
    })
}
