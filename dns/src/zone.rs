//! The cluster zone: validated, indexed services, endpoints and pods.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use hickory_proto::ProtoError;
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record};

use crate::model::{ClusterSource, Endpoint, Service};
use crate::names::{dashed, is_dns_label};

/// The default cluster domain.
pub const DEFAULT_DOMAIN: &str = "cluster.local";
/// The default TTL of every record, in seconds.
pub const DEFAULT_TTL: u32 = 30;

/// Errors building a zone.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    /// The cluster domain is not a domain name.
    #[error("invalid cluster domain {value:?}")]
    InvalidDomain {
        /// The domain given.
        value: String,
        /// Why it does not parse.
        #[source]
        source: ProtoError,
    },
    /// A field that must be a DNS label is not one.
    #[error("{field} {value:?} is not a DNS label (lowercase letters, digits, '-', 1-63)")]
    InvalidLabel {
        /// The field, e.g. `service.namespace`.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// An ExternalName is not a domain name.
    #[error("service {namespace}/{name}: externalName {value:?} is not a domain name")]
    InvalidExternalName {
        /// Namespace of the service.
        namespace: String,
        /// Name of the service.
        name: String,
        /// The value given.
        value: String,
        /// Why it does not parse.
        #[source]
        source: ProtoError,
    },
    /// Two services share a namespace and name.
    #[error("service {namespace}/{name} is defined twice")]
    DuplicateService {
        /// Namespace of the service.
        namespace: String,
        /// Name of the service.
        name: String,
    },
    /// A service's clusterIPs disagree with its kind.
    #[error(
        "service {namespace}/{name}: clusterIPs {cluster_ips:?} with headless={headless} and \
         externalName={external:?} (exactly one of clusterIPs, headless, externalName)"
    )]
    ConflictingKind {
        /// Namespace of the service.
        namespace: String,
        /// Name of the service.
        name: String,
        /// The clusterIPs given.
        cluster_ips: Vec<IpAddr>,
        /// The headless flag given.
        headless: bool,
        /// The externalName given.
        external: Option<String>,
    },
    /// Endpoints name a service that does not exist.
    #[error("endpoints {namespace}/{service}: no such service")]
    UnknownService {
        /// Namespace given.
        namespace: String,
        /// Service given.
        service: String,
    },
}

/// Settings of the cluster zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneConfig {
    /// The cluster domain, e.g. `cluster.local`.
    pub domain: String,
    /// TTL of every record, in seconds.
    pub ttl: u32,
}

impl Default for ZoneConfig {
    fn default() -> Self {
        Self {
            domain: DEFAULT_DOMAIN.to_owned(),
            ttl: DEFAULT_TTL,
        }
    }
}

/// A service with its derived names and its ready endpoints.
#[derive(Debug, Clone)]
pub(crate) struct ServiceEntry {
    pub(crate) service: Service,
    /// `<svc>.<ns>.svc.<zone>.`
    pub(crate) fqdn: Name,
    pub(crate) external: Option<Name>,
    /// Ready endpoints, each with its label (hostname, or the dashed first address).
    pub(crate) ready: Vec<(String, Endpoint)>,
}

/// The cluster zone, answerable by [`crate::answer`].
#[derive(Debug, Clone)]
pub struct Zone {
    pub(crate) domain: Name,
    pub(crate) ttl: u32,
    pub(crate) soa: Record,
    /// Keyed by (namespace, name).
    pub(crate) services: HashMap<(String, String), ServiceEntry>,
    pub(crate) service_namespaces: HashSet<String>,
    pub(crate) pods: HashSet<(String, IpAddr)>,
    pub(crate) pod_namespaces: HashSet<String>,
    /// PTR targets of cluster IPs and ready headless endpoint addresses.
    pub(crate) reverse: HashMap<IpAddr, Vec<Name>>,
}

fn label(field: &'static str, value: &str) -> Result<(), ZoneError> {
    if is_dns_label(value) {
        Ok(())
    } else {
        Err(ZoneError::InvalidLabel {
            field,
            value: value.to_owned(),
        })
    }
}

fn fqdn(text: &str) -> Result<Name, ProtoError> {
    let mut name = Name::from_ascii(text)?.to_lowercase();
    name.set_fqdn(true);
    Ok(name)
}

impl Zone {
    /// Builds the zone from a source, validating every object; the first
    /// invalid object is the error (for a file a user wrote).
    pub fn build(source: &dyn ClusterSource, config: &ZoneConfig) -> Result<Self, ZoneError> {
        Self::assemble(source, config, None)
    }

    /// Builds the zone from what a watch delivered: invalid objects (and
    /// endpoints whose service has not arrived yet) are left out and
    /// returned beside the zone, so one bad object never hides the others.
    /// Only an invalid cluster domain is an error.
    pub fn build_lenient(
        source: &dyn ClusterSource,
        config: &ZoneConfig,
    ) -> Result<(Self, Vec<ZoneError>), ZoneError> {
        let mut skipped = Vec::new();
        let zone = Self::assemble(source, config, Some(&mut skipped))?;
        Ok((zone, skipped))
    }

    /// `skipped: None` = strict (fail on the first invalid object).
    fn assemble(
        source: &dyn ClusterSource,
        config: &ZoneConfig,
        mut skipped: Option<&mut Vec<ZoneError>>,
    ) -> Result<Self, ZoneError> {
        let mut keep = |result: Result<(), ZoneError>| match (result, skipped.as_deref_mut()) {
            (Ok(()), _) => Ok(()),
            (Err(e), Some(skipped)) => {
                skipped.push(e);
                Ok(())
            }
            (Err(e), None) => Err(e),
        };
        let domain = fqdn(&config.domain).map_err(|source| ZoneError::InvalidDomain {
            value: config.domain.clone(),
            source,
        })?;
        let mut zone = Self {
            soa: soa_record(&domain, config.ttl),
            domain,
            ttl: config.ttl,
            services: HashMap::new(),
            service_namespaces: HashSet::new(),
            pods: HashSet::new(),
            pod_namespaces: HashSet::new(),
            reverse: HashMap::new(),
        };
        for service in source.services() {
            keep(zone.add_service(service))?;
        }
        for eps in source.endpoints() {
            let key = (eps.namespace.clone(), eps.service.clone());
            let Some(entry) = zone.services.get_mut(&key) else {
                keep(Err(ZoneError::UnknownService {
                    namespace: eps.namespace,
                    service: eps.service,
                }))?;
                continue;
            };
            for ep in eps.endpoints.into_iter().filter(|ep| ep.ready) {
                if let Some(host) = &ep.hostname
                    && let Err(e) = label("endpoint.hostname", host)
                {
                    keep(Err(e))?;
                    continue;
                }
                let Some(first) = ep.addresses.first() else {
                    continue;
                };
                let host = ep.hostname.clone().unwrap_or_else(|| dashed(*first));
                entry.ready.push((host, ep));
            }
        }
        zone.index_reverse();
        for pod in source.pods() {
            if let Err(e) = label("pod.namespace", &pod.namespace) {
                keep(Err(e))?;
                continue;
            }
            zone.pod_namespaces.insert(pod.namespace.clone());
            zone.pods.insert((pod.namespace, pod.ip));
        }
        Ok(zone)
    }

    fn add_service(&mut self, service: Service) -> Result<(), ZoneError> {
        label("service.namespace", &service.namespace)?;
        label("service.name", &service.name)?;
        for port in &service.ports {
            if let Some(name) = &port.name {
                label("service.ports.name", name)?;
            }
        }
        let kinds = usize::from(!service.cluster_ips.is_empty())
            + usize::from(service.headless)
            + usize::from(service.external_name.is_some());
        if kinds != 1 {
            return Err(ZoneError::ConflictingKind {
                namespace: service.namespace,
                name: service.name,
                cluster_ips: service.cluster_ips,
                headless: service.headless,
                external: service.external_name,
            });
        }
        let external = match &service.external_name {
            Some(value) => Some(
                fqdn(value).map_err(|source| ZoneError::InvalidExternalName {
                    namespace: service.namespace.clone(),
                    name: service.name.clone(),
                    value: value.clone(),
                    source,
                })?,
            ),
            None => None,
        };
        let svc_fqdn = self
            .name_of(&[&service.name, &service.namespace, "svc"])
            .map_err(|_| ZoneError::InvalidLabel {
                field: "service.name",
                value: service.name.clone(),
            })?;
        let key = (service.namespace.clone(), service.name.clone());
        if self.services.contains_key(&key) {
            return Err(ZoneError::DuplicateService {
                namespace: key.0,
                name: key.1,
            });
        }
        self.service_namespaces.insert(service.namespace.clone());
        self.services.insert(
            key,
            ServiceEntry {
                service,
                fqdn: svc_fqdn,
                external,
                ready: Vec::new(),
            },
        );
        Ok(())
    }

    fn index_reverse(&mut self) {
        for entry in self.services.values() {
            for ip in &entry.service.cluster_ips {
                self.reverse
                    .entry(*ip)
                    .or_default()
                    .push(entry.fqdn.clone());
            }
            if !entry.service.headless {
                continue;
            }
            for (host, ep) in &entry.ready {
                let Ok(name) = entry.fqdn.prepend_label(host.as_str()) else {
                    continue;
                };
                for ip in &ep.addresses {
                    self.reverse.entry(*ip).or_default().push(name.clone());
                }
            }
        }
    }

    /// `labels` + the cluster domain, as a fully qualified name.
    pub(crate) fn name_of(&self, labels: &[&str]) -> Result<Name, ProtoError> {
        Name::from_labels(labels.iter().map(|l| l.as_bytes()))?.append_domain(&self.domain)
    }

    /// The cluster domain.
    pub fn domain(&self) -> &Name {
        &self.domain
    }

    /// The TTL of every record.
    pub fn ttl(&self) -> u32 {
        self.ttl
    }
}

fn soa_record(domain: &Name, ttl: u32) -> Record {
    let under = |label: &str| {
        Name::from_ascii(label)
            .and_then(|n| n.append_domain(domain))
            .unwrap_or_else(|_| domain.clone())
    };
    let serial = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as u32);
    let soa = SOA::new(
        under("ns.dns"),
        under("hostmaster"),
        serial,
        7200,
        1800,
        86400,
        ttl,
    );
    Record::from_rdata(domain.clone(), ttl, RData::SOA(soa))
}
