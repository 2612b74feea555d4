//! The table columns of each kind, as kubectl prints them (`get`, and
//! `-o wide`): one place for the CLI's tables and, later, the REST API's
//! Table responses. A column's `priority` is Kubernetes' (0 always shown,
//! 1 only with `-o wide`). NAME (and NAMESPACE, AGE) are the caller's.

mod cluster;
mod network;
mod workloads;

use serde::Serialize;

use crate::Object;

/// One cell of an object's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The column's header.
    pub header: &'static str,
    /// 0: always shown; 1: only with `-o wide`.
    pub priority: u8,
    /// What the cell shows.
    pub value: String,
}

impl Cell {
    fn new(header: &'static str, value: String) -> Self {
        Self {
            header,
            priority: 0,
            value,
        }
    }

    fn wide(header: &'static str, value: String) -> Self {
        Self {
            header,
            priority: 1,
            value,
        }
    }
}

/// Every cell of `o`'s row (between NAME and AGE), wide ones included.
pub fn cells(o: &Object) -> Vec<Cell> {
    match o {
        Object::Service(svc) => network::service(svc),
        Object::EndpointSlice(e) => network::endpoint_slice(e),
        Object::Deployment(d) => workloads::deployment(d),
        Object::ReplicaSet(rs) => workloads::replica_set(rs),
        Object::Pod(p) => workloads::pod(p),
        Object::Node(n) => cluster::node(n),
        Object::ConfigMap(cm) => vec![Cell::new(
            "DATA",
            (cm.data.len() + cm.binary_data.len()).to_string(),
        )],
        Object::Secret(sec) => vec![Cell::new(
            "DATA",
            (sec.data.len() + sec.string_data.len()).to_string(),
        )],
        Object::Namespace(_) => vec![Cell::new("STATUS", "Active".into())],
        Object::Event(ev) => cluster::event(ev),
        Object::Lease(l) => vec![Cell::new("HOLDER", l.spec.holder_identity.clone())],
    }
}

/// The headers of `sample`'s kind (`wide`: the wide ones too).
pub fn headers(sample: &Object, wide: bool) -> Vec<&'static str> {
    shown(cells(sample), wide).map(|c| c.header).collect()
}

/// The values of `o`'s row (`wide`: the wide ones too).
pub fn values(o: &Object, wide: bool) -> Vec<String> {
    shown(cells(o), wide).map(|c| c.value).collect()
}

fn shown(cells: Vec<Cell>, wide: bool) -> impl Iterator<Item = Cell> {
    cells.into_iter().filter(move |c| wide || c.priority == 0)
}

/// A value's serde string form (enums as written in manifests).
fn s<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

/// `<none>` for an empty value, as kubectl.
fn or_none(v: String) -> String {
    if v.is_empty() { "<none>".into() } else { v }
}

/// `k=v,k=v` of a label map.
fn labels<'a>(m: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    m.into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests;
