//! `v1 Service` → [`Service`].

use std::net::IpAddr;

use serde_yaml_ng::Value;

use super::FieldError;
use super::field::{Meta, Obj, ip};
use crate::model::{Protocol, Service, ServicePort};

pub(super) fn read(obj: &Obj<'_>, meta: &Meta<'_>) -> Result<Service, FieldError> {
    let spec = obj
        .opt_obj("spec")?
        .ok_or_else(|| FieldError::required(obj.path("spec"), "must be set"))?;
    let kind = spec.opt_str("type")?.unwrap_or("ClusterIP");
    let mut service = Service {
        namespace: meta.namespace.to_owned(),
        name: meta.name.to_owned(),
        cluster_ips: Vec::new(),
        headless: false,
        ports: ports(&spec)?,
        external_name: None,
    };
    match kind {
        "ExternalName" => {
            let name = spec.str("externalName")?;
            service.external_name = Some(name.to_owned());
        }
        "ClusterIP" | "NodePort" | "LoadBalancer" => {
            let ips = cluster_ips(&spec)?;
            if ips.is_empty() {
                service.headless = true;
            } else {
                service.cluster_ips = ips;
            }
        }
        other => {
            return Err(FieldError::invalid(
                spec.path("type"),
                &Value::String(other.to_owned()),
                "supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
            ));
        }
    }
    Ok(service)
}

/// `clusterIP` / `clusterIPs`; empty for headless (`None`).
fn cluster_ips(spec: &Obj<'_>) -> Result<Vec<IpAddr>, FieldError> {
    let single = spec.opt_str("clusterIP")?;
    let list = spec.str_list("clusterIPs")?;
    let first = list.first().and_then(|(_, v)| v.as_str());
    if let (Some(single), Some(first)) = (single, first)
        && single != first
    {
        return Err(FieldError::invalid(
            spec.path("clusterIPs[0]"),
            &Value::String(first.to_owned()),
            &format!("must match spec.clusterIP {single:?}"),
        ));
    }
    if single == Some("None") || first == Some("None") {
        return Ok(Vec::new());
    }
    if list.is_empty() {
        let Some(single) = single.filter(|s| !s.is_empty()) else {
            return Err(FieldError::required(
                spec.path("clusterIP"),
                "the allocated address (or \"None\" for a headless service): \
                 berth dns --static does not allocate addresses",
            ));
        };
        return Ok(vec![ip(
            &spec.path("clusterIP"),
            &Value::String(single.to_owned()),
        )?]);
    }
    let ips = list
        .iter()
        .map(|(path, v)| ip(path, v))
        .collect::<Result<Vec<_>, _>>()?;
    if ips.len() > 2 || (ips.len() == 2 && ips[0].is_ipv4() == ips[1].is_ipv4()) {
        let v = Value::Sequence(list.iter().map(|(_, v)| (*v).clone()).collect());
        return Err(FieldError::invalid(
            spec.path("clusterIPs"),
            &v,
            "at most one IPv4 and one IPv6 address",
        ));
    }
    Ok(ips)
}

/// `ports[]` of a Service or an EndpointSlice.
pub(super) fn ports(obj: &Obj<'_>) -> Result<Vec<ServicePort>, FieldError> {
    let mut out = Vec::new();
    for p in obj.list("ports")? {
        let p = p?;
        let port = match p.opt_int("port")? {
            Some((n, v)) => u16::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
                FieldError::invalid(p.path("port"), v, "must be between 1 and 65535, inclusive")
            })?,
            None => return Err(FieldError::required(p.path("port"), "must be set")),
        };
        let protocol = match p.opt_str("protocol")?.unwrap_or("TCP") {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            "SCTP" => Protocol::Sctp,
            other => {
                return Err(FieldError::invalid(
                    p.path("protocol"),
                    &Value::String(other.to_owned()),
                    "supported values: \"SCTP\", \"TCP\", \"UDP\"",
                ));
            }
        };
        let name = p
            .opt_str("name")?
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        out.push(ServicePort {
            name,
            protocol,
            port,
        });
    }
    Ok(out)
}
