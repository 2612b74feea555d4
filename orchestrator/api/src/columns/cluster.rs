//! Nodes and Events.

use super::{Cell, or_none, s};
use crate::{Event, Node};

pub(super) fn node(n: &Node) -> Vec<Cell> {
    let ready = n
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| s(&c.status));
    let status = match ready.as_deref() {
        Some("True") => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    };
    vec![
        Cell::new("STATUS", status.into()),
        Cell::wide(
            "INTERNAL-IP",
            or_none(n.internal_ip().unwrap_or_default().to_owned()),
        ),
    ]
}

pub(super) fn event(ev: &Event) -> Vec<Cell> {
    vec![
        Cell::new("TYPE", s(&ev.type_)),
        Cell::new("REASON", ev.reason.clone()),
        Cell::new(
            "OBJECT",
            format!(
                "{}/{}",
                ev.involved_object.kind.to_lowercase(),
                ev.involved_object.name
            ),
        ),
        Cell::new("MESSAGE", ev.message.clone()),
    ]
}
