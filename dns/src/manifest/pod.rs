//! `v1 Pod` → [`Pod`] records, one per pod IP.

use super::FieldError;
use super::field::{Meta, Obj, ip};
use crate::model::Pod;

/// Pods without an address yet, and host-network pods (whose address is
/// the node's), give no record.
pub(super) fn read(obj: &Obj<'_>, meta: &Meta<'_>) -> Result<Vec<Pod>, FieldError> {
    let host_network = match obj.opt_obj("spec")? {
        Some(spec) => spec.opt_bool("hostNetwork")?.unwrap_or(false),
        None => false,
    };
    let Some(status) = obj.opt_obj("status")? else {
        return Ok(Vec::new());
    };
    if host_network {
        return Ok(Vec::new());
    }
    let mut ips = Vec::new();
    for entry in status.list("podIPs")? {
        let entry = entry?;
        if let Some(s) = entry.opt_str("ip")? {
            ips.push(ip(
                &entry.path("ip"),
                &serde_yaml_ng::Value::String(s.to_owned()),
            )?);
        }
    }
    if ips.is_empty()
        && let Some(s) = status.opt_str("podIP")?
        && !s.is_empty()
    {
        ips.push(ip(
            &status.path("podIP"),
            &serde_yaml_ng::Value::String(s.to_owned()),
        )?);
    }
    Ok(ips
        .into_iter()
        .map(|ip| Pod {
            namespace: meta.namespace.to_owned(),
            ip,
        })
        .collect())
}
