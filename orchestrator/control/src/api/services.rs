//! Cluster IPs and node ports of Services: allocated on create, carried
//! over on update, released on delete — all or nothing.

use std::net::IpAddr;

use berth_api::Service;
use berth_api::service::{IpFamily, IpFamilyPolicy, ServiceType, TrafficPolicy};

use crate::alloc::{AllocError, Allocator};

/// What a Service holds.
pub(super) fn held(svc: &Service) -> (Vec<IpAddr>, Vec<u16>) {
    let ips = svc
        .spec
        .cluster_ips
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let ports = svc
        .spec
        .ports
        .iter()
        .map(|p| p.node_port)
        .chain([svc.spec.health_check_node_port])
        .filter_map(|p| u16::try_from(p).ok().filter(|p| *p != 0))
        .collect();
    (ips, ports)
}

/// A LoadBalancer with `externalTrafficPolicy: Local` has a health-check
/// node port.
fn wants_health_check_port(svc: &Service) -> bool {
    svc.spec.type_ == ServiceType::LoadBalancer
        && svc.spec.external_traffic_policy == Some(TrafficPolicy::Local)
}

fn wants_node_ports(svc: &Service) -> bool {
    matches!(
        svc.spec.type_,
        ServiceType::NodePort | ServiceType::LoadBalancer
    )
}

/// Allocates what `svc` lacks (asked-for values are reserved); on any
/// error everything taken here is released again.
pub(super) async fn allocate(
    alloc: &Allocator,
    svc: &mut Service,
    owner: &str,
) -> Result<(), AllocError> {
    let (mut ips, mut ports) = (Vec::new(), Vec::new());
    let result = allocate_inner(alloc, svc, owner, &mut ips, &mut ports).await;
    if result.is_err() {
        alloc.release(&ips, &ports, owner).await;
    }
    result
}

async fn allocate_inner(
    alloc: &Allocator,
    svc: &mut Service,
    owner: &str,
    ips: &mut Vec<IpAddr>,
    ports: &mut Vec<u16>,
) -> Result<(), AllocError> {
    for (i, s) in svc.spec.external_ips.iter().enumerate() {
        if let Ok(ip) = s.parse::<IpAddr>() {
            alloc.outside_service_range(&format!("spec.externalIPs[{i}]"), ip)?;
        }
    }
    let spec = &mut svc.spec;
    let needs_ip = spec.type_ != ServiceType::ExternalName && !svc_is_headless(spec);
    if needs_ip && spec.cluster_ips.is_empty() {
        let mut families = spec.ip_families.clone();
        if families.is_empty() {
            families.push(IpFamily::Ipv4);
            if matches!(
                spec.ip_family_policy,
                Some(IpFamilyPolicy::RequireDualStack | IpFamilyPolicy::PreferDualStack)
            ) {
                families.push(IpFamily::Ipv6);
            }
        }
        let asked: Vec<String> = if spec.cluster_ip.is_empty() {
            Vec::new()
        } else {
            vec![spec.cluster_ip.clone()]
        };
        let mut out = Vec::new();
        for (i, family) in families.iter().enumerate() {
            let field = if i == 0 {
                "spec.clusterIP".to_owned()
            } else {
                format!("spec.clusterIPs[{i}]")
            };
            let v6 = *family == IpFamily::Ipv6;
            let ip = match asked.get(i).and_then(|s| s.parse::<IpAddr>().ok()) {
                Some(ip) => {
                    alloc.reserve_ip(&field, ip, owner).await?;
                    ip
                }
                None => alloc.allocate_ip(&field, v6, owner).await?,
            };
            ips.push(ip);
            out.push(ip.to_string());
        }
        spec.cluster_ip = out[0].clone();
        spec.cluster_ips = out;
        spec.ip_families = families;
    } else if needs_ip {
        for (i, s) in spec.cluster_ips.clone().iter().enumerate() {
            if let Ok(ip) = s.parse::<IpAddr>() {
                let field = if i == 0 {
                    "spec.clusterIP".to_owned()
                } else {
                    format!("spec.clusterIPs[{i}]")
                };
                alloc.reserve_ip(&field, ip, owner).await?;
                ips.push(ip);
            }
        }
        spec.cluster_ip = spec.cluster_ips[0].clone();
    }
    if wants_node_ports(svc) {
        for (i, p) in svc.spec.ports.iter_mut().enumerate() {
            let asked = u16::try_from(p.node_port).unwrap_or(0);
            let got = alloc
                .node_port(&format!("spec.ports[{i}].nodePort"), asked, owner)
                .await?;
            ports.push(got);
            p.node_port = i32::from(got);
        }
    }
    if wants_health_check_port(svc) {
        let asked = u16::try_from(svc.spec.health_check_node_port).unwrap_or(0);
        let got = alloc
            .node_port("spec.healthCheckNodePort", asked, owner)
            .await?;
        ports.push(got);
        svc.spec.health_check_node_port = i32::from(got);
    }
    Ok(())
}

fn svc_is_headless(spec: &berth_api::service::ServiceSpec) -> bool {
    spec.cluster_ip == berth_api::service::CLUSTER_IP_NONE
        || spec
            .cluster_ips
            .first()
            .is_some_and(|s| s == berth_api::service::CLUSTER_IP_NONE)
}

/// On update: what the user left out of an allocated Service (an `apply`
/// of the original manifest) is kept from the stored one.
pub(super) fn carry_over(new: &mut Service, old: &Service) {
    if new.spec.cluster_ip.is_empty() && new.spec.cluster_ips.is_empty() {
        new.spec.cluster_ip = old.spec.cluster_ip.clone();
        new.spec.cluster_ips = old.spec.cluster_ips.clone();
        if new.spec.ip_families.is_empty() {
            new.spec.ip_families = old.spec.ip_families.clone();
        }
    }
    if wants_node_ports(new) {
        for p in new.spec.ports.iter_mut().filter(|p| p.node_port == 0) {
            if let Some(o) = old
                .spec
                .ports
                .iter()
                .find(|o| o.port == p.port && o.protocol == p.protocol && o.node_port != 0)
            {
                p.node_port = o.node_port;
            }
        }
    }
    if wants_health_check_port(new) && new.spec.health_check_node_port == 0 {
        new.spec.health_check_node_port = old.spec.health_check_node_port;
    }
}
