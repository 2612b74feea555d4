//! The cluster DNS Service, made by the server as k3s deploys CoreDNS's:
//! `kube-system/kube-dns` at the cluster DNS address (10.96.0.10), ports
//! `dns` 53/UDP and `dns-tcp` 53/TCP, without a selector, and its
//! EndpointSlice `kube-dns-node-local` with one endpoint: the node-local
//! address every node agent's DNS process listens on (169.254.20.10). A
//! pod's query to the VIP thus reaches the DNS process of its own node,
//! which runs apart from the agent. Made once when missing; a user's edit
//! is kept.

use std::net::IpAddr;
use std::time::Duration;

use berth_api::manifest::{ParseOptions, parse_str};
use berth_api::{EndpointSlice, Object, Service};
use berth_client::{Client, ClientError};

/// The Service's namespace and name.
pub const NAMESPACE: &str = "kube-system";
/// The Service's name (as in Kubernetes, for CoreDNS too).
pub const SERVICE: &str = "kube-dns";
/// Its EndpointSlice.
pub const SLICE: &str = "kube-dns-node-local";
/// Pause between attempts while the API is not yet answering.
const RETRY: Duration = Duration::from_millis(500);

/// Where cluster DNS lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterDns {
    /// The Service's clusterIP (pods' resolv.conf nameserver).
    pub service_ip: IpAddr,
    /// The node-local address of every node's DNS process.
    pub node_local: IpAddr,
}

impl Default for ClusterDns {
    fn default() -> Self {
        Self {
            service_ip: [10, 96, 0, 10].into(),
            node_local: [169, 254, 20, 10].into(),
        }
    }
}

/// The ports of the Service and of its slice: DNS over UDP and TCP.
const DNS_PORTS: &str =
    "[{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]";

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

impl ClusterDns {
    /// The Service and its EndpointSlice as manifests.
    pub fn manifest(&self) -> String {
        format!(
            r#"apiVersion: v1
kind: Service
metadata:
  name: {SERVICE}
  namespace: {NAMESPACE}
  labels:
    k8s-app: kube-dns
    kubernetes.io/name: BerthDNS
spec:
  clusterIP: {ip}
  ipFamilies: [{fam}]
  ports: {ports}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {SLICE}
  namespace: {NAMESPACE}
  labels:
    kubernetes.io/service-name: {SERVICE}
    endpointslice.kubernetes.io/managed-by: berth-server
addressType: {efam}
endpoints:
- addresses: ["{local}"]
  conditions:
    ready: true
ports: {ports}
"#,
            ports = DNS_PORTS,
            ip = self.service_ip,
            fam = family(self.service_ip),
            efam = family(self.node_local),
            local = self.node_local,
        )
    }

    /// The two objects.
    pub fn objects(&self) -> (Service, EndpointSlice) {
        let docs = parse_str(&self.manifest(), "kube-dns.yaml", &ParseOptions::default())
            .expect("the kube-dns manifest is valid");
        let mut svc = None;
        let mut slice = None;
        for d in docs {
            match d.object {
                Object::Service(s) => svc = Some(s),
                Object::EndpointSlice(e) => slice = Some(e),
                _ => {}
            }
        }
        (
            svc.expect("the manifest has the Service"),
            slice.expect("the manifest has the slice"),
        )
    }

    /// Creates what is missing (once; an existing object is left as it
    /// is).
    pub async fn ensure(&self, client: &Client) -> Result<(), ClientError> {
        let (svc, slice) = self.objects();
        if client.get::<Service>(NAMESPACE, SERVICE).await?.is_none() {
            created(client.create(&svc).await)?;
        }
        if client
            .get::<EndpointSlice>(NAMESPACE, SLICE)
            .await?
            .is_none()
        {
            created(client.create(&slice).await)?;
        }
        Ok(())
    }

    /// [`ensure`](Self::ensure) until it succeeds.
    pub async fn ensure_until_done(self, client: Client) {
        loop {
            match self.ensure(&client).await {
                Ok(()) => {
                    tracing::info!(service_ip = %self.service_ip, node_local = %self.node_local, "cluster DNS Service kube-system/kube-dns present");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %berth_api::error_chain(&e), "making the kube-dns Service; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}

/// A create that lost a race to another server is fine.
fn created<T>(r: Result<T, ClientError>) -> Result<(), ClientError> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(tonic::Code::AlreadyExists) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_objects_parse_and_point_at_the_node_local_address() {
        let (svc, slice) = ClusterDns::default().objects();
        assert_eq!(svc.spec.cluster_ip, "10.96.0.10");
        assert!(svc.spec.selector.is_empty());
        assert_eq!(slice.service_name(), Some(SERVICE));
        assert_eq!(slice.endpoints[0].addresses, vec!["169.254.20.10"]);
        assert_eq!(slice.ports.len(), 2);
        assert_eq!(svc.spec.ports.len(), 2);
        for (sp, ep) in svc.spec.ports.iter().zip(&slice.ports) {
            assert_eq!(
                (sp.name.as_str(), sp.port, sp.protocol),
                (ep.name.as_str(), 53, ep.protocol)
            );
        }
    }
}
