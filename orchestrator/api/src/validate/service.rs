//! Service checks: type, cluster IPs, ports, selector, affinity, families.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::intstr::IntOrString;
use crate::service::{
    CLUSTER_IP_NONE, IpFamily, IpFamilyPolicy, MAX_CLIENT_IP_TIMEOUT_SECONDS, Service, ServiceType,
    SessionAffinity,
};
use crate::validate::meta::validate_labels;
use crate::validate::{FieldError, FieldErrors, FieldPath, names, port_number};

/// Checks a Service.
pub(crate) fn validate_service(svc: &Service, errs: &mut FieldErrors) {
    let spec = &svc.spec;
    let path = FieldPath::new("spec");
    let external = spec.type_ == ServiceType::ExternalName;

    if external {
        if !spec.cluster_ip.is_empty() {
            errs.push(FieldError::forbidden(
                &path.child("clusterIP"),
                "may not be set for ExternalName services",
            ));
        } else if !spec.cluster_ips.is_empty() {
            errs.push(FieldError::forbidden(
                &path.child("clusterIPs"),
                "may not be set for ExternalName services",
            ));
        }
        if !spec.ip_families.is_empty() {
            errs.push(FieldError::forbidden(
                &path.child("ipFamilies"),
                "may not be set for ExternalName services",
            ));
        }
        if spec.ip_family_policy.is_some() {
            errs.push(FieldError::forbidden(
                &path.child("ipFamilyPolicy"),
                "may not be set for ExternalName services",
            ));
        }
        let name = spec
            .external_name
            .strip_suffix('.')
            .unwrap_or(&spec.external_name);
        if name.is_empty() {
            errs.push(FieldError::required(&path.child("externalName"), ""));
        } else {
            errs.invalid_each(
                &path.child("externalName"),
                &spec.external_name,
                names::dns1123_subdomain(name),
            );
        }
    } else {
        validate_cluster_ips(svc, &path, errs);
    }

    let headless = spec.is_headless();
    if spec.ports.is_empty() && !headless && !external {
        errs.push(FieldError::required(&path.child("ports"), ""));
    }
    let mut port_names = BTreeSet::new();
    let mut port_keys = BTreeSet::new();
    for (i, port) in spec.ports.iter().enumerate() {
        let p = path.child("ports").index(i);
        if port.name.is_empty() {
            if spec.ports.len() > 1 {
                errs.push(FieldError::required(&p.child("name"), ""));
            }
        } else {
            errs.invalid_each(
                &p.child("name"),
                &port.name,
                names::dns1123_label(&port.name),
            );
            if !port_names.insert(port.name.as_str()) {
                errs.push(FieldError::duplicate(&p.child("name"), port.name.as_str()));
            }
        }
        port_number(port.port, &p.child("port"), errs);
        if !port_keys.insert((port.port, port.protocol)) {
            errs.push(FieldError::duplicate(
                &p,
                format!("{}/{}", port.port, port.protocol),
            ));
        }
        if let Some(target) = &port.target_port {
            match target {
                IntOrString::Int(n) => port_number(*n, &p.child("targetPort"), errs),
                IntOrString::String(s) => {
                    errs.invalid_each(&p.child("targetPort"), s, names::port_name(s))
                }
            }
        }
        if port.node_port != 0 {
            match spec.type_ {
                ServiceType::ClusterIP | ServiceType::ExternalName => {
                    errs.push(FieldError::forbidden(
                        &p.child("nodePort"),
                        format!("may not be used when `type` is '{}'", spec.type_),
                    ))
                }
                _ => port_number(port.node_port, &p.child("nodePort"), errs),
            }
        }
    }

    super::exposure::validate_exposure(spec, &path, errs);
    validate_labels(&spec.selector, &path.child("selector"), errs);

    let affinity_path = path.child("sessionAffinityConfig");
    match spec.session_affinity {
        SessionAffinity::ClientIP => {
            if let Some(t) = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                && !(1..=MAX_CLIENT_IP_TIMEOUT_SECONDS).contains(&t)
            {
                errs.push(FieldError::invalid(
                    &affinity_path.child("clientIP").child("timeoutSeconds"),
                    t,
                    format!("must be greater than 0 and less than {MAX_CLIENT_IP_TIMEOUT_SECONDS}"),
                ));
            }
        }
        SessionAffinity::None => {
            if let Some(config) = &spec.session_affinity_config {
                errs.push(FieldError::invalid(
                    &affinity_path,
                    serde_json::to_value(config).unwrap_or_default(),
                    "must not be set when session affinity is None",
                ));
            }
        }
    }
}

fn family_of(ip: &IpAddr) -> IpFamily {
    if ip.is_ipv4() {
        IpFamily::Ipv4
    } else {
        IpFamily::Ipv6
    }
}

fn validate_cluster_ips(svc: &Service, path: &FieldPath, errs: &mut FieldErrors) {
    let spec = &svc.spec;
    let ips_path = path.child("clusterIPs");
    if !spec.cluster_ip.is_empty()
        && spec.cluster_ip != CLUSTER_IP_NONE
        && spec.cluster_ip.parse::<IpAddr>().is_err()
    {
        errs.push(FieldError::invalid(
            &path.child("clusterIP"),
            spec.cluster_ip.as_str(),
            "must be empty, 'None', or a valid IP address",
        ));
    }
    if let Some(first) = spec.cluster_ips.first()
        && !spec.cluster_ip.is_empty()
        && *first != spec.cluster_ip
    {
        errs.push(FieldError::invalid(
            &ips_path.index(0),
            first.as_str(),
            "must match `clusterIP` when set",
        ));
    }
    if spec.cluster_ips.len() > 2 {
        errs.push(FieldError::too_many(&ips_path, spec.cluster_ips.len(), 2));
    }
    let mut families = Vec::new();
    for (i, ip) in spec.cluster_ips.iter().enumerate() {
        if ip == CLUSTER_IP_NONE {
            if i > 0 || spec.cluster_ips.len() > 1 {
                errs.push(FieldError::invalid(
                    &ips_path.index(i),
                    ip.as_str(),
                    "'None' must be the only value of clusterIPs",
                ));
            }
            continue;
        }
        match ip.parse::<IpAddr>() {
            Ok(addr) => {
                let family = family_of(&addr);
                if families.contains(&family) {
                    errs.push(FieldError::invalid(
                        &ips_path.index(i),
                        ip.as_str(),
                        "may not have more than one IP of the same family",
                    ));
                }
                if let Some(wanted) = spec.ip_families.get(i)
                    && *wanted != family
                {
                    errs.push(FieldError::invalid(
                        &ips_path.index(i),
                        ip.as_str(),
                        format!("expected an {wanted} value as indicated by `ipFamilies[{i}]`"),
                    ));
                }
                families.push(family);
            }
            // `clusterIPs[0]` copied from an invalid `clusterIP`: reported above.
            Err(_) if i == 0 && *ip == spec.cluster_ip => {}
            Err(_) => errs.push(FieldError::invalid(
                &ips_path.index(i),
                ip.as_str(),
                "must be empty, 'None', or a valid IP address",
            )),
        }
    }
    if spec.is_headless()
        && matches!(
            spec.type_,
            ServiceType::NodePort | ServiceType::LoadBalancer
        )
    {
        errs.push(FieldError::invalid(
            &ips_path.index(0),
            CLUSTER_IP_NONE,
            format!("may not be set to 'None' for {} services", spec.type_),
        ));
    }

    let fam_path = path.child("ipFamilies");
    if spec.ip_families.len() > 2 {
        errs.push(FieldError::too_many(&fam_path, spec.ip_families.len(), 2));
    }
    let mut seen = BTreeSet::new();
    for (i, f) in spec.ip_families.iter().enumerate() {
        if !seen.insert(*f) {
            errs.push(FieldError::duplicate(&fam_path.index(i), f.as_str()));
        }
    }
    if spec.ip_family_policy == Some(IpFamilyPolicy::SingleStack) {
        let policy_path = path.child("ipFamilyPolicy");
        if spec.ip_families.len() > 1 {
            errs.push(FieldError::invalid(
                &policy_path,
                IpFamilyPolicy::SingleStack.as_str(),
                "must be RequireDualStack or PreferDualStack when multiple 'ipFamilies' are specified",
            ));
        }
        if spec.cluster_ips.len() > 1 {
            errs.push(FieldError::invalid(
                &policy_path,
                IpFamilyPolicy::SingleStack.as_str(),
                "must be RequireDualStack or PreferDualStack when multiple cluster IPs are specified",
            ));
        }
    }
}
