//! The EndpointSlice controller: for each Service with a selector, slices
//! (at most 100 endpoints each, as Kubernetes) of the pods it selects — one
//! set per address family and per resolved port list — with the ready,
//! serving and terminating conditions, `hostname` for pods whose subdomain
//! is the Service, node and pod references. Endpoints stay in the slice
//! they are in, so a change rewrites one slice, not all of them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use berth_api::container::Protocol;
use berth_api::endpointslice::{
    AddressType, Endpoint, EndpointConditions, EndpointPort, LABEL_MANAGED_BY, LABEL_SERVICE_NAME,
    MANAGED_BY_BERTH,
};
use berth_api::meta::{ObjectReference, OwnerReference};
use berth_api::pod::PodPhase;
use berth_api::service::{IpFamily, ServiceType};
use berth_api::{EndpointSlice, IntOrString, Kind, ObjectMeta, Pod, Service};
use berth_client::DeleteOptions;
use berth_client::cache::Reflector;

use super::{Ctx, Error, error::api, names, revision_of};
use crate::runtime::{Action, ObjectRef, Queue, Reconciler};

/// Endpoints per slice (Kubernetes' `--max-endpoints-per-slice` default).
pub const MAX_PER_SLICE: usize = 100;

/// Registers what queues a Service: itself, the pods it selects, its slices.
pub(super) fn watch(
    ctx: &Arc<Ctx>,
    queue: &Queue<ObjectRef>,
    services: &mut Reflector<Service>,
    pods: &mut Reflector<Pod>,
    slices: &mut Reflector<EndpointSlice>,
) {
    let q = queue.clone();
    services.on_change(move |n| q.add(ObjectRef::of(n.object().as_ref())));
    let q = queue.clone();
    let svc_cache = ctx.services.clone();
    pods.on_change(move |n| {
        let ns = &n.object().metadata.namespace;
        for svc in svc_cache.list_namespace(ns) {
            let sel = &svc.spec.selector;
            if sel.is_empty() {
                continue;
            }
            let hit = [&n.old, &n.new]
                .into_iter()
                .flatten()
                .any(|p| berth_api::selector::labels_match(sel, &p.metadata.labels));
            if hit {
                q.add(ObjectRef::of(svc.as_ref()));
            }
        }
    });
    let q = queue.clone();
    slices.on_change(move |n| {
        let s = n.object();
        if let Some(svc) = s.service_name() {
            q.add(ObjectRef::new(&s.metadata.namespace, svc));
        }
    });
}

/// Reconciles the slices of Services.
#[derive(Debug)]
pub struct EndpointSliceController {
    ctx: Arc<Ctx>,
}

impl EndpointSliceController {
    /// Over `ctx`.
    pub fn new(ctx: Arc<Ctx>) -> Self {
        Self { ctx }
    }
}

/// Slices with the same address type and ports hold one group of endpoints.
type Group = (AddressType, Vec<EndpointPort>);

fn address_type(f: IpFamily) -> AddressType {
    match f {
        IpFamily::Ipv4 => AddressType::Ipv4,
        IpFamily::Ipv6 => AddressType::Ipv6,
    }
}

/// The Service's ports as this pod serves them (a named target port that
/// the pod does not declare is left out, as Kubernetes does).
pub fn resolve_ports(svc: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let mut out = Vec::new();
    for sp in &svc.spec.ports {
        let port = match sp.target_port() {
            IntOrString::Int(n) => Some(n),
            IntOrString::String(name) => pod
                .spec
                .containers
                .iter()
                .flat_map(|c| &c.ports)
                .find(|cp| cp.name == name && cp.protocol == sp.protocol)
                .map(|cp| cp.container_port),
        };
        if let Some(port) = port {
            out.push(EndpointPort {
                name: sp.name.clone(),
                protocol: sp.protocol,
                port: Some(port),
                app_protocol: sp.app_protocol.clone(),
            });
        }
    }
    out
}

/// The endpoint of `pod` in the family `t`, if it has an address there.
pub fn endpoint_of(svc: &Service, pod: &Pod, t: AddressType) -> Option<Endpoint> {
    let want_v6 = t == AddressType::Ipv6;
    let ip = pod
        .status
        .pod_ips
        .iter()
        .map(|p| p.ip.as_str())
        .chain(std::iter::once(pod.status.pod_ip.as_str()))
        .filter(|ip| !ip.is_empty())
        .find(|ip| {
            ip.parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_ipv6() == want_v6)
        })?;
    let serving = pod.is_ready();
    let terminating = pod.metadata.is_deleting();
    let ready = svc.spec.publish_not_ready_addresses || (serving && !terminating);
    let hostname = if !pod.spec.hostname.is_empty() && pod.spec.subdomain == svc.metadata.name {
        pod.spec.hostname.clone()
    } else {
        String::new()
    };
    Some(Endpoint {
        addresses: vec![ip.to_owned()],
        conditions: EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        },
        hostname,
        target_ref: Some(ObjectReference::to(pod)),
        node_name: pod.spec.node_name.clone(),
        zone: String::new(),
    })
}

fn pod_name(e: &Endpoint) -> &str {
    e.target_ref.as_ref().map(|r| r.name.as_str()).unwrap_or("")
}

/// Every endpoint the Service should have, by group, keyed by pod name.
pub fn desired(svc: &Service, pods: &[Arc<Pod>]) -> BTreeMap<Group, BTreeMap<String, Endpoint>> {
    let mut families: Vec<IpFamily> = svc.spec.ip_families.clone();
    if families.is_empty() {
        families.push(IpFamily::Ipv4);
    }
    let mut out: BTreeMap<Group, BTreeMap<String, Endpoint>> = BTreeMap::new();
    for pod in pods {
        if matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed)
            || pod.spec.node_name.is_empty()
            || !berth_api::selector::labels_match(&svc.spec.selector, &pod.metadata.labels)
        {
            continue;
        }
        let ports = resolve_ports(svc, pod);
        for f in &families {
            let t = address_type(*f);
            if let Some(e) = endpoint_of(svc, pod, t) {
                out.entry((t, ports.clone()))
                    .or_default()
                    .insert(pod.metadata.name.clone(), e);
            }
        }
    }
    out
}

/// What to write: slices to create, slices to update, slices to delete.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// New slices (names still to generate).
    pub create: Vec<EndpointSlice>,
    /// Changed slices.
    pub update: Vec<EndpointSlice>,
    /// Slices no longer needed (names).
    pub delete: Vec<String>,
}

/// Plans the slices of `svc` from the `existing` ones and the `desired`
/// endpoints, keeping endpoints where they are and filling free room first.
pub fn plan(
    svc: &Service,
    existing: &[Arc<EndpointSlice>],
    mut desired: BTreeMap<Group, BTreeMap<String, Endpoint>>,
) -> Plan {
    let mut p = Plan::default();
    // Kept slices per group, as (slice, changed).
    let mut kept: BTreeMap<Group, Vec<(EndpointSlice, bool)>> = BTreeMap::new();
    for s in existing {
        let group = (s.address_type, s.ports.clone());
        let Some(want) = desired.get_mut(&group) else {
            p.delete.push(s.metadata.name.clone());
            continue;
        };
        let mut slice = (**s).clone();
        let before = slice.endpoints.clone();
        slice.endpoints = before
            .iter()
            .filter_map(|e| want.remove(pod_name(e)))
            .collect();
        slice.endpoints.truncate(MAX_PER_SLICE);
        let changed = slice.endpoints != before;
        kept.entry(group).or_default().push((slice, changed));
    }
    for (group, rest) in desired {
        let slices = kept.entry(group.clone()).or_default();
        let mut rest: Vec<Endpoint> = rest.into_values().collect();
        for (slice, changed) in slices.iter_mut() {
            while slice.endpoints.len() < MAX_PER_SLICE && !rest.is_empty() {
                slice.endpoints.push(rest.remove(0));
                *changed = true;
            }
        }
        for chunk in rest.chunks(MAX_PER_SLICE) {
            let mut s = new_slice(svc, group.0, &group.1);
            s.endpoints = chunk.to_vec();
            p.create.push(s);
        }
    }
    for (_, slices) in kept {
        for (mut slice, changed) in slices {
            if slice.endpoints.is_empty() {
                p.delete.push(slice.metadata.name.clone());
            } else if changed {
                slice.endpoints.sort_by(|a, b| pod_name(a).cmp(pod_name(b)));
                p.update.push(slice);
            }
        }
    }
    for s in &mut p.create {
        s.endpoints.sort_by(|a, b| pod_name(a).cmp(pod_name(b)));
    }
    p
}

fn new_slice(svc: &Service, t: AddressType, ports: &[EndpointPort]) -> EndpointSlice {
    let mut meta = ObjectMeta::named(&svc.metadata.namespace, "");
    meta.labels = BTreeMap::from([
        (LABEL_SERVICE_NAME.to_owned(), svc.metadata.name.clone()),
        (LABEL_MANAGED_BY.to_owned(), MANAGED_BY_BERTH.to_owned()),
    ]);
    meta.owner_references = vec![OwnerReference::controller_of(svc)];
    EndpointSlice {
        metadata: meta,
        address_type: t,
        ports: ports.to_vec(),
        ..EndpointSlice::default()
    }
}

impl EndpointSliceController {
    async fn delete_slice(&self, ns: &str, name: &str) -> Result<u64, Error> {
        match self
            .ctx
            .client
            .delete(Kind::EndpointSlice, ns, name, DeleteOptions::default())
            .await
        {
            Ok(o) => Ok(o.metadata().resource_version.parse().unwrap_or(0)),
            Err(e) if e.is_not_found() => Ok(0),
            Err(e) => Err(api(format!("deleting endpoint slice {ns}/{name}"))(e)),
        }
    }
}

impl Reconciler for EndpointSliceController {
    type Error = Error;

    fn name(&self) -> &'static str {
        "endpointslice"
    }

    async fn reconcile(&self, key: &ObjectRef) -> Result<Action, Error> {
        let ctx = &self.ctx;
        ctx.synced().await;
        let svc = ctx.services.get(&key.namespace, &key.name);
        let ours = |s: &EndpointSlice| {
            s.metadata.namespace == key.namespace
                && s.service_name() == Some(key.name.as_str())
                && s.metadata.label(LABEL_MANAGED_BY) == Some(MANAGED_BY_BERTH)
        };
        let existing = ctx.slices.filter(ours);
        let managed = svc.as_ref().filter(|s| {
            !s.spec.selector.is_empty()
                && s.spec.type_ != ServiceType::ExternalName
                && !s.metadata.is_deleting()
        });
        let mut last = 0u64;
        let Some(svc) = managed else {
            // Gone, or no selector: none of ours.
            for s in existing {
                last = last.max(self.delete_slice(&key.namespace, &s.metadata.name).await?);
            }
            if last > 0 {
                Ctx::caught_up(&ctx.slices, last).await?;
            }
            return Ok(Action::Done);
        };
        // Slices of an earlier Service of that name.
        let (existing, stale): (Vec<_>, Vec<_>) = existing.into_iter().partition(|s| {
            s.metadata
                .controller()
                .is_some_and(|o| o.uid == svc.metadata.uid)
        });
        for s in stale {
            last = last.max(self.delete_slice(&key.namespace, &s.metadata.name).await?);
        }
        let pods = ctx.pods.list_namespace(&key.namespace);
        let plan = plan(svc, &existing, desired(svc, &pods));
        for s in plan.update {
            match ctx.client.update(&s).await {
                Ok(u) => last = last.max(revision_of(&u)),
                Err(e) if e.is_conflict() || e.is_not_found() => {
                    return Err(api(format!("updating endpoint slice {}", s.metadata.name))(
                        e,
                    ));
                }
                Err(e) => {
                    return Err(api(format!("updating endpoint slice {}", s.metadata.name))(
                        e,
                    ));
                }
            }
        }
        for mut s in plan.create {
            loop {
                s.metadata.name = names::generate(&svc.metadata.name, 63);
                match ctx.client.create(&s).await {
                    Ok(made) => {
                        last = last.max(revision_of(&made));
                        break;
                    }
                    Err(e) if e.is_already_exists() => continue,
                    Err(e) => {
                        return Err(
                            api(format!("creating an endpoint slice for service {key}"))(e),
                        );
                    }
                }
            }
        }
        for name in plan.delete {
            last = last.max(self.delete_slice(&key.namespace, &name).await?);
        }
        if last > 0 {
            Ctx::caught_up(&ctx.slices, last).await?;
        }
        Ok(Action::Done)
    }
}

/// The ports of a slice in a stable order (for comparisons in tests).
pub fn port_set(ports: &[EndpointPort]) -> BTreeSet<(String, i32, Protocol)> {
    ports
        .iter()
        .map(|p| (p.name.clone(), p.port.unwrap_or(0), p.protocol))
        .collect()
}

#[cfg(test)]
mod tests {
    use berth_api::container::ContainerPort;
    use berth_api::meta::ConditionStatus;
    use berth_api::pod::{PodCondition, PodIp};
    use berth_api::service::ServicePort;
    use berth_api::{Container, Time};

    use super::*;

    fn svc() -> Service {
        let mut s = Service {
            metadata: ObjectMeta::named("default", "web"),
            ..Service::default()
        };
        s.metadata.uid = "svc-uid".into();
        s.spec.selector.insert("app".into(), "web".into());
        s.spec.ip_families = vec![IpFamily::Ipv4, IpFamily::Ipv6];
        s.spec.ports = vec![ServicePort {
            name: "http".into(),
            port: 80,
            target_port: Some(IntOrString::String("web".into())),
            ..ServicePort::default()
        }];
        s
    }

    fn pod(i: usize, ready: bool, port: i32) -> Arc<Pod> {
        let mut p = Pod {
            metadata: ObjectMeta::named("default", &format!("web-{i:03}")),
            ..Pod::default()
        };
        p.metadata.labels.insert("app".into(), "web".into());
        p.spec.node_name = "n1".into();
        p.spec.containers = vec![Container {
            name: "c".into(),
            ports: vec![ContainerPort {
                name: "web".into(),
                container_port: port,
                ..ContainerPort::default()
            }],
            ..Container::default()
        }];
        p.status.pod_ips = vec![
            PodIp {
                ip: format!("10.244.1.{}", i % 250 + 1),
            },
            PodIp {
                ip: format!("fd00:10:244:1::{:x}", i + 1),
            },
        ];
        if ready {
            p.status.conditions.push(PodCondition {
                type_: "Ready".into(),
                status: ConditionStatus::True,
                last_transition_time: Some(Time::from_unix(1, 0)),
                ..PodCondition::default()
            });
        }
        Arc::new(p)
    }

    fn apply(existing: &mut Vec<Arc<EndpointSlice>>, p: Plan) {
        existing.retain(|s| !p.delete.contains(&s.metadata.name));
        for u in p.update {
            let i = existing
                .iter()
                .position(|s| s.metadata.name == u.metadata.name)
                .unwrap();
            existing[i] = Arc::new(u);
        }
        for (n, mut c) in p.create.into_iter().enumerate() {
            c.metadata.name = format!("web-{}-{n}", existing.len());
            existing.push(Arc::new(c));
        }
    }

    #[test]
    fn named_ports_resolve_per_pod_and_families_split() {
        let s = svc();
        let pods = vec![pod(1, true, 8080), pod(2, true, 9090)];
        let d = desired(&s, &pods);
        // Two port numbers × two families.
        assert_eq!(d.len(), 4);
        let p = plan(&s, &[], d);
        assert_eq!(p.create.len(), 4);
        assert!(p.create.iter().all(|c| c.endpoints.len() == 1));
        assert!(p.create.iter().any(|c| c.address_type == AddressType::Ipv6));
        let c = &p.create[0];
        assert_eq!(c.metadata.label(LABEL_SERVICE_NAME), Some("web"));
        assert_eq!(c.metadata.controller().unwrap().uid, "svc-uid");
    }

    #[test]
    fn at_most_100_per_slice_and_changes_touch_one_slice() {
        let mut s = svc();
        s.spec.ip_families = vec![IpFamily::Ipv4];
        let mut pods: Vec<_> = (0..250).map(|i| pod(i, true, 8080)).collect();
        let mut existing = Vec::new();
        let p = plan(&s, &existing, desired(&s, &pods));
        assert_eq!(p.create.len(), 3);
        assert!(p.create.iter().all(|c| c.endpoints.len() <= MAX_PER_SLICE));
        apply(&mut existing, p);
        // Nothing changed: nothing to write.
        assert_eq!(plan(&s, &existing, desired(&s, &pods)), Plan::default());
        // One pod turns unready: one slice changes.
        pods[7] = pod(7, false, 8080);
        let p = plan(&s, &existing, desired(&s, &pods));
        assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (0, 1, 0));
        let e = p.update[0]
            .endpoints
            .iter()
            .find(|e| pod_name(e) == "web-007")
            .unwrap();
        assert_eq!(e.conditions.ready, Some(false));
        apply(&mut existing, p);
        // A new pod fills free room instead of a new slice.
        pods.push(pod(300, true, 8080));
        let p = plan(&s, &existing, desired(&s, &pods));
        assert_eq!((p.create.len(), p.update.len()), (0, 1));
        apply(&mut existing, p);
        // Scale to 0: every slice goes.
        let p = plan(&s, &existing, desired(&s, &[]));
        assert_eq!(p.delete.len(), 3);
    }

    #[test]
    fn terminating_pods_serve_but_are_not_ready() {
        let s = svc();
        let mut p = (*pod(1, true, 8080)).clone();
        p.metadata.deletion_timestamp = Some(Time::from_unix(5, 0));
        let e = endpoint_of(&s, &p, AddressType::Ipv4).unwrap();
        assert_eq!(
            e.conditions,
            EndpointConditions {
                ready: Some(false),
                serving: Some(true),
                terminating: Some(true)
            }
        );
        p.spec.hostname = "a".into();
        p.spec.subdomain = "web".into();
        assert_eq!(
            endpoint_of(&s, &p, AddressType::Ipv4).unwrap().hostname,
            "a"
        );
    }
}
