//! EndpointSlice checks: addresses by type, sizes, ports.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::endpointslice::{AddressType, EndpointSlice, MAX_ADDRESSES, MAX_ENDPOINTS, MAX_PORTS};
use crate::validate::{FieldError, FieldErrors, FieldPath, names, port_number};

/// Checks an EndpointSlice.
pub(crate) fn validate_endpoint_slice(slice: &EndpointSlice, errs: &mut FieldErrors) {
    let endpoints = FieldPath::new("endpoints");
    if slice.endpoints.len() > MAX_ENDPOINTS {
        errs.push(FieldError::too_many(
            &endpoints,
            slice.endpoints.len(),
            MAX_ENDPOINTS,
        ));
    }
    for (i, ep) in slice.endpoints.iter().enumerate() {
        let p = endpoints.index(i);
        let addrs = p.child("addresses");
        if ep.addresses.is_empty() {
            errs.push(FieldError::required(
                &addrs,
                "must contain at least 1 address",
            ));
        } else if ep.addresses.len() > MAX_ADDRESSES {
            errs.push(FieldError::too_many(
                &addrs,
                ep.addresses.len(),
                MAX_ADDRESSES,
            ));
        }
        for (j, a) in ep.addresses.iter().enumerate() {
            let ap = addrs.index(j);
            match slice.address_type {
                AddressType::Ipv4 if a.parse::<Ipv4Addr>().is_err() => {
                    errs.push(FieldError::invalid(
                        &ap,
                        a.as_str(),
                        "must be a valid IPv4 address",
                    ));
                }
                AddressType::Ipv6 if a.parse::<Ipv6Addr>().is_err() => {
                    errs.push(FieldError::invalid(
                        &ap,
                        a.as_str(),
                        "must be a valid IPv6 address",
                    ));
                }
                AddressType::Fqdn => errs.invalid_each(&ap, a, names::dns1123_subdomain(a)),
                _ => {}
            }
        }
        if !ep.hostname.is_empty() {
            errs.invalid_each(
                &p.child("hostname"),
                &ep.hostname,
                names::dns1123_label(&ep.hostname),
            );
        }
        if !ep.node_name.is_empty() {
            errs.invalid_each(
                &p.child("nodeName"),
                &ep.node_name,
                names::dns1123_subdomain(&ep.node_name),
            );
        }
    }
    let ports = FieldPath::new("ports");
    if slice.ports.len() > MAX_PORTS {
        errs.push(FieldError::too_many(&ports, slice.ports.len(), MAX_PORTS));
    }
    let mut seen = BTreeSet::new();
    for (i, port) in slice.ports.iter().enumerate() {
        let p = ports.index(i);
        if !port.name.is_empty() {
            errs.invalid_each(
                &p.child("name"),
                &port.name,
                names::dns1123_label(&port.name),
            );
        }
        if !seen.insert(port.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), port.name.as_str()));
        }
        if let Some(n) = port.port {
            port_number(n, &p.child("port"), errs);
        }
    }
}
