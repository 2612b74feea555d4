//! `discovery.k8s.io/v1 EndpointSlice` → [`Endpoints`].

use serde_yaml_ng::Value;

use super::FieldError;
use super::field::{Meta, Obj, ip};
use crate::model::{Endpoint, Endpoints};

/// The label naming a slice's service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `None` for slices DNS does not use (`addressType: FQDN`).
pub(super) fn read(obj: &Obj<'_>, meta: &Meta<'_>) -> Result<Option<Endpoints>, FieldError> {
    let service = meta
        .labels
        .as_ref()
        .map(|l| l.opt_str(SERVICE_NAME_LABEL))
        .transpose()?
        .flatten()
        .ok_or_else(|| {
            FieldError::required(
                format!("metadata.labels[{SERVICE_NAME_LABEL}]"),
                "names the service the slice belongs to",
            )
        })?;
    let address_type = obj.str("addressType")?;
    match address_type {
        "IPv4" | "IPv6" => {}
        "FQDN" => return Ok(None),
        other => {
            return Err(FieldError::invalid(
                obj.path("addressType"),
                &Value::String(other.to_owned()),
                "supported values: \"FQDN\", \"IPv4\", \"IPv6\"",
            ));
        }
    }
    let ports = super::service::ports(obj)?;
    let mut endpoints = Vec::new();
    for ep in obj.list("endpoints")? {
        let ep = ep?;
        let addresses = ep
            .str_list("addresses")?
            .iter()
            .map(|(path, v)| ip(path, v))
            .collect::<Result<Vec<_>, _>>()?;
        if addresses.is_empty() {
            return Err(FieldError::required(
                ep.path("addresses"),
                "at least one address",
            ));
        }
        // Kubernetes: an unknown (absent) ready condition means ready.
        let ready = match ep.opt_obj("conditions")? {
            Some(c) => c.opt_bool("ready")?.unwrap_or(true),
            None => true,
        };
        endpoints.push(Endpoint {
            addresses,
            hostname: ep.opt_str("hostname")?.map(str::to_owned),
            ready,
            ports: ports.clone(),
        });
    }
    Ok(Some(Endpoints {
        namespace: meta.namespace.to_owned(),
        service: service.to_owned(),
        endpoints,
    }))
}
