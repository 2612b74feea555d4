//! `berth get` tables: kubectl's columns per kind (`-o wide` adds some).

use berth_api::Object;
use serde::Serialize;

/// A value's serde string form (enums as written in manifests).
fn s<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

fn or_none(v: String) -> String {
    if v.is_empty() { "<none>".into() } else { v }
}

/// Column headers (between NAME and AGE) for a kind.
pub fn headers(sample: &Object, wide: bool) -> Vec<&'static str> {
    let mut h: Vec<&'static str> = match sample {
        Object::Service(_) => vec!["TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"],
        Object::Deployment(_) => vec!["READY", "UP-TO-DATE", "AVAILABLE"],
        Object::ReplicaSet(_) => vec!["DESIRED", "CURRENT", "READY"],
        Object::Pod(_) => vec!["READY", "STATUS", "RESTARTS"],
        Object::EndpointSlice(_) => vec!["ADDRESSTYPE", "PORTS", "ENDPOINTS"],
        Object::Node(_) => vec!["STATUS"],
        Object::ConfigMap(_) | Object::Secret(_) => vec!["DATA"],
        Object::Namespace(_) => vec!["STATUS"],
        Object::Event(_) => vec!["TYPE", "REASON", "OBJECT", "MESSAGE"],
        Object::Lease(_) => vec!["HOLDER"],
    };
    if wide {
        match sample {
            Object::Service(_) => h.push("SELECTOR"),
            Object::Deployment(_) | Object::ReplicaSet(_) => {
                h.extend(["CONTAINERS", "IMAGES", "SELECTOR"])
            }
            Object::Pod(_) => h.extend(["IP", "NODE"]),
            Object::Node(_) => h.push("INTERNAL-IP"),
            _ => {}
        }
    }
    h
}

/// The cells under [`headers`].
pub fn cells(o: &Object, wide: bool) -> Vec<String> {
    let mut c = match o {
        Object::Service(svc) => {
            let ports: Vec<String> = svc
                .spec
                .ports
                .iter()
                .map(|p| format!("{}/{}", p.port, s(&p.protocol)))
                .collect();
            vec![
                s(&svc.spec.type_),
                or_none(svc.spec.cluster_ip.clone()),
                "<none>".into(),
                or_none(ports.join(",")),
            ]
        }
        Object::Deployment(d) => vec![
            format!("{}/{}", d.status.ready_replicas, d.spec.replicas),
            d.status.updated_replicas.to_string(),
            d.status.available_replicas.to_string(),
        ],
        Object::ReplicaSet(rs) => vec![
            rs.spec.replicas.to_string(),
            rs.status.replicas.to_string(),
            rs.status.ready_replicas.to_string(),
        ],
        Object::Pod(p) => {
            let ready = p
                .status
                .container_statuses
                .iter()
                .filter(|c| c.ready)
                .count();
            let restarts: i32 = p
                .status
                .container_statuses
                .iter()
                .map(|c| c.restart_count)
                .sum();
            vec![
                format!("{ready}/{}", p.spec.containers.len()),
                // As kubectl: Terminating, else a container's waiting or
                // terminated reason, else the phase.
                or_none(if p.metadata.is_deleting() {
                    "Terminating".to_owned()
                } else if let Some(w) = p
                    .status
                    .container_statuses
                    .iter()
                    .find_map(|c| c.state.waiting.as_ref())
                    .filter(|w| !w.reason.is_empty())
                {
                    w.reason.clone()
                } else if !p.status.reason.is_empty() {
                    p.status.reason.clone()
                } else {
                    s(&p.status.phase)
                }),
                restarts.to_string(),
            ]
        }
        Object::EndpointSlice(e) => {
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
            vec![s(&e.address_type), or_none(ports.join(",")), or_none(shown)]
        }
        Object::Node(n) => {
            let ready = n
                .status
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready")
                .map(|c| s(&c.status));
            vec![match ready.as_deref() {
                Some("True") => "Ready".into(),
                Some(_) => "NotReady".into(),
                None => "Unknown".into(),
            }]
        }
        Object::ConfigMap(cm) => vec![(cm.data.len() + cm.binary_data.len()).to_string()],
        Object::Secret(sec) => vec![(sec.data.len() + sec.string_data.len()).to_string()],
        Object::Namespace(_) => vec!["Active".into()],
        Object::Event(ev) => vec![
            s(&ev.type_),
            ev.reason.clone(),
            format!(
                "{}/{}",
                ev.involved_object.kind.to_lowercase(),
                ev.involved_object.name
            ),
            ev.message.clone(),
        ],
        Object::Lease(l) => vec![l.spec.holder_identity.clone()],
    };
    if wide {
        match o {
            Object::Service(svc) => {
                let sel: Vec<String> = svc
                    .spec
                    .selector
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                c.push(or_none(sel.join(",")));
            }
            Object::Deployment(d) => {
                let spec = &d.spec.template.spec;
                c.push(
                    spec.containers
                        .iter()
                        .map(|x| x.name.clone())
                        .collect::<Vec<_>>()
                        .join(","),
                );
                c.push(
                    spec.containers
                        .iter()
                        .map(|x| x.image.clone())
                        .collect::<Vec<_>>()
                        .join(","),
                );
                let sel: Vec<String> = d
                    .spec
                    .selector
                    .match_labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                c.push(or_none(sel.join(",")));
            }
            Object::ReplicaSet(rs) => {
                let spec = &rs.spec.template.spec;
                c.push(
                    spec.containers
                        .iter()
                        .map(|x| x.name.clone())
                        .collect::<Vec<_>>()
                        .join(","),
                );
                c.push(
                    spec.containers
                        .iter()
                        .map(|x| x.image.clone())
                        .collect::<Vec<_>>()
                        .join(","),
                );
                c.push(or_none(rs.spec.selector.to_string()));
            }
            Object::Pod(p) => {
                c.push(or_none(p.status.pod_ip.clone()));
                c.push(or_none(p.spec.node_name.clone()));
            }
            Object::Node(n) => {
                let ip = n
                    .status
                    .addresses
                    .iter()
                    .find(|a| s(&a.type_) == "InternalIP")
                    .map(|a| a.address.clone())
                    .unwrap_or_default();
                c.push(or_none(ip));
            }
            _ => {}
        }
    }
    c
}
