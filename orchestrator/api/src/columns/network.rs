//! Services and EndpointSlices.

use super::{Cell, labels, or_none, s};
use crate::{EndpointSlice, Service};

pub(super) fn service(svc: &Service) -> Vec<Cell> {
    let ports: Vec<String> = svc
        .spec
        .ports
        .iter()
        .map(|p| format!("{}/{}", p.port, s(&p.protocol)))
        .collect();
    vec![
        Cell::new("TYPE", s(&svc.spec.type_)),
        Cell::new("CLUSTER-IP", or_none(svc.spec.cluster_ip.clone())),
        Cell::new("EXTERNAL-IP", "<none>".into()),
        Cell::new("PORT(S)", or_none(ports.join(","))),
        Cell::wide("SELECTOR", or_none(labels(&svc.spec.selector))),
    ]
}

/// At most three addresses, then how many more (as kubectl).
pub(super) fn endpoint_slice(e: &EndpointSlice) -> Vec<Cell> {
    let ports: Vec<String> = e
        .ports
        .iter()
        .filter_map(|p| p.port.map(|n| n.to_string()))
        .collect();
    let addrs: Vec<&str> = e
        .endpoints
        .iter()
        .flat_map(|ep| ep.addresses.iter().map(String::as_str))
        .collect();
    let shown = if addrs.len() > 3 {
        format!("{} + {} more...", addrs[..3].join(","), addrs.len() - 3)
    } else {
        addrs.join(",")
    };
    vec![
        Cell::new("ADDRESSTYPE", s(&e.address_type)),
        Cell::new("PORTS", or_none(ports.join(","))),
        Cell::new("ENDPOINTS", or_none(shown)),
    ]
}
