//! Hand-built API objects for the proxy's unit tests.

use berth_api::endpointslice::{
    AddressType, Endpoint, EndpointConditions, EndpointPort, LABEL_SERVICE_NAME,
};
use berth_api::service::ServicePort;
use berth_api::{EndpointSlice, IntOrString, ObjectMeta, Service};

/// A ClusterIP Service in `default`; ports are (name, port, targetPort).
pub fn service(name: &str, ips: &[&str], ports: &[(&str, i32, &str)]) -> Service {
    let mut s = Service {
        metadata: ObjectMeta::named("default", name),
        ..Service::default()
    };
    s.spec.cluster_ips = ips.iter().map(|s| s.to_string()).collect();
    s.spec.cluster_ip = ips.first().map(|s| s.to_string()).unwrap_or_default();
    s.spec.ports = ports
        .iter()
        .map(|(n, p, target)| ServicePort {
            name: n.to_string(),
            port: *p,
            target_port: Some(match target.parse::<i32>() {
                Ok(n) => IntOrString::Int(n),
                Err(_) => IntOrString::String(target.to_string()),
            }),
            ..ServicePort::default()
        })
        .collect();
    s
}

pub fn endpoint(ip: &str, ready: bool, terminating: bool) -> Endpoint {
    Endpoint {
        addresses: vec![ip.into()],
        conditions: EndpointConditions {
            ready: Some(ready),
            serving: Some(ready || terminating),
            terminating: Some(terminating),
        },
        ..Endpoint::default()
    }
}

pub fn slice(
    svc: &str,
    name: &str,
    t: AddressType,
    ports: &[(&str, i32)],
    endpoints: Vec<Endpoint>,
) -> EndpointSlice {
    let mut s = EndpointSlice {
        metadata: ObjectMeta::named("default", name),
        address_type: t,
        endpoints,
        ports: ports
            .iter()
            .map(|(n, p)| EndpointPort {
                name: n.to_string(),
                port: Some(*p),
                ..EndpointPort::default()
            })
            .collect(),
        ..EndpointSlice::default()
    };
    s.metadata
        .labels
        .insert(LABEL_SERVICE_NAME.into(), svc.into());
    s
}
