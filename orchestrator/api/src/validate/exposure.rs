//! A Service's exposure beyond its cluster IP: external IPs, the traffic
//! policies, health-check and duplicate node ports, as Kubernetes checks
//! them.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::service::{ServiceSpec, ServiceType, TrafficPolicy};
use crate::validate::{FieldError, FieldErrors, FieldPath, port_number};

/// Whether traffic from outside reaches the Service (Kubernetes'
/// `ExternallyAccessible`).
fn externally_accessible(spec: &ServiceSpec) -> bool {
    matches!(
        spec.type_,
        ServiceType::NodePort | ServiceType::LoadBalancer
    ) || (spec.type_ == ServiceType::ClusterIP && !spec.external_ips.is_empty())
}

/// Checks externalIPs, externalTrafficPolicy, healthCheckNodePort and that
/// no node port is given twice.
pub(crate) fn validate_exposure(spec: &ServiceSpec, path: &FieldPath, errs: &mut FieldErrors) {
    let mut seen = BTreeSet::new();
    for (i, s) in spec.external_ips.iter().enumerate() {
        let p = path.child("externalIPs").index(i);
        match s.parse::<IpAddr>() {
            Err(_) => errs.push(FieldError::invalid(
                &p,
                s.as_str(),
                "must be a valid IP address",
            )),
            Ok(ip) if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() => {
                errs.push(FieldError::invalid(
                    &p,
                    s.as_str(),
                    "may not be unspecified, loopback or multicast",
                ))
            }
            Ok(ip) if is_link_local(ip) => {
                errs.push(FieldError::invalid(&p, s.as_str(), "may not be link-local"))
            }
            Ok(ip) => {
                if !seen.insert(ip) {
                    errs.push(FieldError::duplicate(&p, s.as_str()));
                }
            }
        }
    }
    if let Some(policy) = spec.external_traffic_policy
        && !externally_accessible(spec)
    {
        errs.push(FieldError::invalid(
            &path.child("externalTrafficPolicy"),
            policy.as_str(),
            "may only be set for externally-accessible services",
        ));
    }
    let hc = path.child("healthCheckNodePort");
    if spec.health_check_node_port != 0 {
        if spec.type_ == ServiceType::LoadBalancer
            && spec.external_traffic_policy == Some(TrafficPolicy::Local)
        {
            port_number(spec.health_check_node_port, &hc, errs);
        } else {
            errs.push(FieldError::invalid(
                &hc,
                i64::from(spec.health_check_node_port),
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    }
    let mut node_ports = BTreeSet::new();
    for (i, port) in spec.ports.iter().enumerate() {
        if port.node_port != 0 && !node_ports.insert((port.node_port, port.protocol)) {
            errs.push(FieldError::duplicate(
                &path.child("ports").index(i).child("nodePort"),
                i64::from(port.node_port),
            ));
        }
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}
