//! API objects → [`Change`]s of the DNS feed.
//!
//! Each function takes what a watch reports (the old and the new state of
//! one object; `None` for "did not exist" / "deleted") and returns the
//! changes that bring the feed's cache from one to the other. An object
//! that cannot be translated is removed from the feed (so no stale record
//! outlives it) and the error returned for the caller to log.

use std::net::IpAddr;

use berth_api::endpointslice::AddressType;
use berth_api::pod::PodPhase;
use berth_api::service::{CLUSTER_IP_NONE, ServiceType};
use berth_api::{EndpointSlice, ObjectMeta, Pod, Protocol, Service};
use berth_dns::{Change, ObjectKey};

use crate::error::TranslateError;

/// The changes and the errors of one translation.
pub type Translated = (Vec<Change>, Vec<TranslateError>);

fn key(meta: &ObjectMeta) -> ObjectKey {
    ObjectKey {
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
    }
}

fn parse_ip(
    kind: &'static str,
    meta: &ObjectMeta,
    field: String,
    value: &str,
) -> Result<IpAddr, TranslateError> {
    value.parse().map_err(|source| TranslateError::Address {
        kind,
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        field,
        value: value.to_owned(),
        source,
    })
}

fn protocol(p: Protocol) -> berth_dns::Protocol {
    match p {
        Protocol::Tcp => berth_dns::Protocol::Tcp,
        Protocol::Udp => berth_dns::Protocol::Udp,
        Protocol::Sctp => berth_dns::Protocol::Sctp,
    }
}

fn port(name: &str, proto: Protocol, number: i32) -> Option<berth_dns::ServicePort> {
    Some(berth_dns::ServicePort {
        name: (!name.is_empty()).then(|| name.to_owned()),
        protocol: protocol(proto),
        port: u16::try_from(number).ok().filter(|p| *p != 0)?,
    })
}

/// A Service as DNS sees it: its cluster IPs (A/AAAA), headless (the
/// endpoints' addresses), or ExternalName (a CNAME); its ports (SRV for the
/// named ones).
pub fn service(svc: &Service) -> Result<berth_dns::Service, TranslateError> {
    let meta = &svc.metadata;
    let spec = &svc.spec;
    let mut out = berth_dns::Service {
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        cluster_ips: Vec::new(),
        headless: false,
        ports: spec
            .ports
            .iter()
            .filter_map(|p| port(&p.name, p.protocol, p.port))
            .collect(),
        external_name: None,
    };
    if spec.type_ == ServiceType::ExternalName {
        out.external_name = Some(spec.external_name.clone());
        return Ok(out);
    }
    let ips: Vec<&str> = if spec.cluster_ips.is_empty() {
        Some(spec.cluster_ip.as_str())
            .filter(|s| !s.is_empty())
            .into_iter()
            .collect()
    } else {
        spec.cluster_ips.iter().map(String::as_str).collect()
    };
    if ips.first() == Some(&CLUSTER_IP_NONE) {
        out.headless = true;
        return Ok(out);
    }
    if ips.is_empty() {
        return Err(TranslateError::Unallocated {
            namespace: meta.namespace.clone(),
            name: meta.name.clone(),
        });
    }
    for (i, ip) in ips.iter().enumerate() {
        out.cluster_ips.push(parse_ip(
            "Service",
            meta,
            format!("spec.clusterIPs[{i}]"),
            ip,
        )?);
    }
    Ok(out)
}

/// An EndpointSlice's endpoints (key: the slice's own name). `None` for an
/// FQDN slice, which DNS does not serve.
pub fn slice(s: &EndpointSlice) -> Result<Option<berth_dns::Endpoints>, TranslateError> {
    let meta = &s.metadata;
    if s.address_type == AddressType::Fqdn {
        return Ok(None);
    }
    let service =
        s.service_name()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| TranslateError::NoService {
                namespace: meta.namespace.clone(),
                name: meta.name.clone(),
            })?;
    let ports: Vec<_> = s
        .ports
        .iter()
        .filter_map(|p| port(&p.name, p.protocol, p.port?))
        .collect();
    let mut endpoints = Vec::with_capacity(s.endpoints.len());
    for (i, ep) in s.endpoints.iter().enumerate() {
        let addresses = ep
            .addresses
            .iter()
            .enumerate()
            .map(|(j, a)| {
                parse_ip(
                    "EndpointSlice",
                    meta,
                    format!("endpoints[{i}].addresses[{j}]"),
                    a,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        endpoints.push(berth_dns::Endpoint {
            addresses,
            hostname: (!ep.hostname.is_empty()).then(|| ep.hostname.clone()),
            ready: ep.conditions.is_ready(),
            ports: ports.clone(),
        });
    }
    Ok(Some(berth_dns::Endpoints {
        namespace: meta.namespace.clone(),
        service: service.to_owned(),
        endpoints,
    }))
}

/// The IPs a Pod gets `a-b-c-d.<ns>.pod.<zone>` records for: none for a
/// host-network pod or one that has finished (its address is free again).
pub fn pod_ips(pod: &Pod) -> Result<Vec<IpAddr>, TranslateError> {
    let meta = &pod.metadata;
    if pod.spec.host_network || matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed) {
        return Ok(Vec::new());
    }
    let listed: Vec<&str> = if pod.status.pod_ips.is_empty() {
        Some(pod.status.pod_ip.as_str())
            .filter(|s| !s.is_empty())
            .into_iter()
            .collect()
    } else {
        pod.status.pod_ips.iter().map(|p| p.ip.as_str()).collect()
    };
    listed
        .iter()
        .enumerate()
        .map(|(i, ip)| parse_ip("Pod", meta, format!("status.podIPs[{i}].ip"), ip))
        .collect()
}

/// A pod with two IPs is two feed entries: `<name>/<ip>`.
fn pod_key(meta: &ObjectMeta, ip: IpAddr) -> ObjectKey {
    ObjectKey {
        namespace: meta.namespace.clone(),
        name: format!("{}/{ip}", meta.name),
    }
}

/// The changes for a Service going from `old` to `new`.
pub fn service_changes(old: Option<&Service>, new: Option<&Service>) -> Translated {
    match new {
        Some(svc) => match service(svc) {
            Ok(s) => (vec![Change::Service(s)], Vec::new()),
            Err(e) => (vec![Change::ServiceDeleted(key(&svc.metadata))], vec![e]),
        },
        None => (
            old.map(|o| Change::ServiceDeleted(key(&o.metadata)))
                .into_iter()
                .collect(),
            Vec::new(),
        ),
    }
}

/// The changes for an EndpointSlice going from `old` to `new`.
pub fn slice_changes(old: Option<&EndpointSlice>, new: Option<&EndpointSlice>) -> Translated {
    match new {
        Some(s) => match slice(s) {
            Ok(Some(e)) => (vec![Change::Endpoints(key(&s.metadata), e)], Vec::new()),
            Ok(None) => (vec![Change::EndpointsDeleted(key(&s.metadata))], Vec::new()),
            Err(e) => (vec![Change::EndpointsDeleted(key(&s.metadata))], vec![e]),
        },
        None => (
            old.map(|o| Change::EndpointsDeleted(key(&o.metadata)))
                .into_iter()
                .collect(),
            Vec::new(),
        ),
    }
}

/// The changes for a Pod going from `old` to `new`: its new IPs added, the
/// ones it no longer has removed.
pub fn pod_changes(old: Option<&Pod>, new: Option<&Pod>) -> Translated {
    // The old state's errors were reported when it was new.
    let before = old.and_then(|p| pod_ips(p).ok()).unwrap_or_default();
    let (after, errors) = match new.map(pod_ips) {
        Some(Ok(ips)) => (ips, Vec::new()),
        Some(Err(e)) => (Vec::new(), vec![e]),
        None => (Vec::new(), Vec::new()),
    };
    let mut changes = Vec::new();
    if let Some(o) = old {
        for ip in before.iter().filter(|ip| !after.contains(ip)) {
            changes.push(Change::PodDeleted(pod_key(&o.metadata, *ip)));
        }
    }
    if let Some(n) = new {
        for ip in after {
            changes.push(Change::Pod(
                pod_key(&n.metadata, ip),
                berth_dns::Pod {
                    namespace: n.metadata.namespace.clone(),
                    ip,
                },
            ));
        }
    }
    (changes, errors)
}

#[cfg(test)]
mod tests;
