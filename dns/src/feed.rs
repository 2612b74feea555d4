//! The watch-fed source: Services, endpoints and Pods arrive one change at
//! a time (from a list + watch of the API, in the node agent or a DNS pod);
//! [`run_feed`] keeps them in a [`ClusterCache`] and publishes a new zone
//! after each burst of changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::model::{ClusterSource, Endpoints, Pod, Service};
use crate::zone::{Zone, ZoneConfig};
use crate::zones::ZonePublisher;

/// Namespace and name of a watched object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// One change a watch saw.
#[derive(Debug, Clone)]
pub enum Change {
    /// A Service was added or changed.
    Service(Service),
    /// A Service was deleted.
    ServiceDeleted(ObjectKey),
    /// An EndpointSlice (key: the slice's own name) was added or changed.
    Endpoints(ObjectKey, Endpoints),
    /// An EndpointSlice was deleted.
    EndpointsDeleted(ObjectKey),
    /// A Pod was added or changed.
    Pod(ObjectKey, Pod),
    /// A Pod was deleted.
    PodDeleted(ObjectKey),
    /// The initial list is complete: from now on zones are published.
    Synced,
}

/// The objects seen so far.
#[derive(Debug, Clone, Default)]
pub struct ClusterCache {
    services: BTreeMap<ObjectKey, Service>,
    endpoints: BTreeMap<ObjectKey, Endpoints>,
    pods: BTreeMap<ObjectKey, Pod>,
    synced: bool,
}

impl ClusterCache {
    /// Applies one change (idempotent: a repeated change is a no-op).
    pub fn apply(&mut self, change: Change) {
        match change {
            Change::Service(s) => {
                let key = ObjectKey {
                    namespace: s.namespace.clone(),
                    name: s.name.clone(),
                };
                self.services.insert(key, s);
            }
            Change::ServiceDeleted(key) => {
                self.services.remove(&key);
            }
            Change::Endpoints(key, e) => {
                self.endpoints.insert(key, e);
            }
            Change::EndpointsDeleted(key) => {
                self.endpoints.remove(&key);
            }
            Change::Pod(key, p) => {
                self.pods.insert(key, p);
            }
            Change::PodDeleted(key) => {
                self.pods.remove(&key);
            }
            Change::Synced => self.synced = true,
        }
    }

    /// Whether the initial list is complete.
    pub fn is_synced(&self) -> bool {
        self.synced
    }
}

impl ClusterSource for ClusterCache {
    fn services(&self) -> Vec<Service> {
        self.services.values().cloned().collect()
    }

    fn endpoints(&self) -> Vec<Endpoints> {
        self.endpoints.values().cloned().collect()
    }

    fn pods(&self) -> Vec<Pod> {
        self.pods.values().cloned().collect()
    }
}

/// Applies changes until the sender is dropped; after each burst (every
/// change already queued is applied first) and once synced, builds the
/// zone — leaving out invalid objects, which are logged — and publishes it.
pub async fn run_feed(
    mut changes: mpsc::Receiver<Change>,
    config: ZoneConfig,
    publisher: ZonePublisher,
    metrics: Arc<Metrics>,
) {
    let mut cache = ClusterCache::default();
    while let Some(change) = changes.recv().await {
        cache.apply(change);
        while let Ok(change) = changes.try_recv() {
            cache.apply(change);
        }
        if !cache.is_synced() {
            continue;
        }
        match Zone::build_lenient(&cache, &config) {
            Ok((zone, skipped)) => {
                for e in &skipped {
                    tracing::warn!(error = %e, "object left out of the cluster zone");
                }
                publisher.publish(zone);
                metrics.zone_reloaded();
            }
            Err(e) => {
                metrics.zone_reload_failed();
                tracing::error!(error = %e, "cannot build the cluster zone");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use super::*;
    use crate::zones::zone_channel;

    /// Only catches a hang.
    const HANG: Duration = Duration::from_secs(10);

    fn service(name: &str, ip: &str) -> Service {
        Service {
            namespace: "default".into(),
            name: name.into(),
            cluster_ips: vec![ip.parse().unwrap()],
            headless: false,
            ports: Vec::new(),
            external_name: None,
        }
    }

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            namespace: "default".into(),
            name: name.into(),
        }
    }

    #[tokio::test]
    async fn publishes_after_sync_and_follows_changes() {
        let (publisher, mut zones) = zone_channel();
        let (tx, rx) = mpsc::channel(16);
        let metrics = Arc::new(Metrics::default());
        let feed = tokio::spawn(run_feed(
            rx,
            ZoneConfig::default(),
            publisher,
            metrics.clone(),
        ));
        tx.send(Change::Service(service("web", "10.96.0.1")))
            .await
            .unwrap();
        // A bad object is left out, not fatal.
        tx.send(Change::Service(service("Bad_Name", "10.96.0.2")))
            .await
            .unwrap();
        let orphan = Endpoints {
            namespace: "default".into(),
            service: "later".into(),
            endpoints: Vec::new(),
        };
        tx.send(Change::Endpoints(key("later-abc"), orphan))
            .await
            .unwrap();
        tx.send(Change::Pod(
            key("p"),
            Pod {
                namespace: "default".into(),
                ip: IpAddr::from([10, 244, 0, 9]),
            },
        ))
        .await
        .unwrap();
        assert!(zones.current().is_none(), "published before sync");
        tx.send(Change::Synced).await.unwrap();
        let zone = wait_for(&mut zones, |z| z.services.len() == 1).await;
        assert_eq!(zone.pods.len(), 1);
        assert!(
            metrics
                .render(true, "")
                .contains("berth_dns_zone_reloads_total 1")
        );
        tx.send(Change::ServiceDeleted(key("web"))).await.unwrap();
        tx.send(Change::Service(service("api", "10.96.0.3")))
            .await
            .unwrap();
        wait_for(&mut zones, |z| {
            z.services.len() == 1 && z.services.keys().any(|(_, n)| n == "api")
        })
        .await;
        drop(tx);
        tokio::time::timeout(HANG, feed).await.unwrap().unwrap();
    }

    async fn wait_for(zones: &mut crate::Zones, ok: impl Fn(&Zone) -> bool) -> Arc<Zone> {
        tokio::time::timeout(HANG, async {
            loop {
                if let Some(z) = zones.current().filter(|z| ok(z)) {
                    return z;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("zone never matched")
    }
}
