//! A Service and its EndpointSlices, as the data plane wants them: one
//! [`berth_dataplane::Service`] named `<namespace>/<name>` with the
//! cluster IPs as VIPs and, per Service port, the ready endpoints of the
//! slices labelled `kubernetes.io/service-name=<name>`, on the port the
//! slice resolved for that port's name (so a named `targetPort` that pods
//! resolve differently gives each group of pods its own number).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use berth_api::container::Protocol as ApiProtocol;
use berth_api::endpointslice::AddressType;
use berth_api::service::{ServiceType, TrafficPolicy};
use berth_api::{EndpointSlice, Service};
use berth_dataplane as dp;

/// Annotation choosing how a Service's backends are picked: `maglev`
/// (consistent hashing of the client pod) or `random` (the default).
pub const LB_ALGORITHM_ANNOTATION: &str = "service.berth.io/lb-algorithm";

/// The data plane's name of a Service.
pub fn service_name(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// The VIPs of a Service: its cluster IPs, one per family. Headless
/// (`None`), ExternalName and not yet allocated Services have none.
pub fn vips(svc: &Service) -> Vec<IpAddr> {
    if svc.spec.type_ == ServiceType::ExternalName {
        return Vec::new();
    }
    let spec = &svc.spec;
    let listed: Vec<&str> = if spec.cluster_ips.is_empty() {
        vec![spec.cluster_ip.as_str()]
    } else {
        spec.cluster_ips.iter().map(String::as_str).collect()
    };
    let mut out = Vec::new();
    for ip in listed {
        if let Ok(a) = ip.parse::<IpAddr>()
            && !out.contains(&a)
        {
            out.push(a);
        }
    }
    out
}

fn protocol(p: ApiProtocol) -> Option<dp::Protocol> {
    match p {
        ApiProtocol::Tcp => Some(dp::Protocol::Tcp),
        ApiProtocol::Udp => Some(dp::Protocol::Udp),
        // The socket load balancer has no SCTP hooks.
        ApiProtocol::Sctp => None,
    }
}

/// The data plane state of an endpoint: ready (unknown counts as ready,
/// as for every consumer) and not terminating is active; terminating and
/// still serving is terminating (its connections stay; it serves new ones
/// only when no endpoint is ready); not ready, or terminating and no longer
/// serving, is quarantined (its connections stay; never picked).
fn state(c: &berth_api::endpointslice::EndpointConditions) -> dp::BackendState {
    let terminating = c.terminating == Some(true);
    let serving = c.serving.unwrap_or(c.is_ready());
    match (terminating, c.is_ready(), serving) {
        (false, true, _) => dp::BackendState::Active,
        (true, _, true) => dp::BackendState::Terminating,
        _ => dp::BackendState::Quarantined,
    }
}

/// The backends of the Service port named `port_name` (protocol `proto`)
/// in `slices`, of the families in `families`, sorted and without
/// duplicates (the order the data plane keeps, so an unchanged set is
/// never rewritten), with their states. An address listed twice keeps its
/// best state.
fn backends(
    slices: &[&EndpointSlice],
    port_name: &str,
    proto: ApiProtocol,
    families: (bool, bool),
    node: &str,
) -> (
    BTreeMap<dp::Backend, dp::BackendState>,
    BTreeSet<dp::Backend>,
) {
    let mut out: BTreeMap<dp::Backend, dp::BackendState> = BTreeMap::new();
    let mut local = BTreeSet::new();
    for s in slices {
        let v6 = match s.address_type {
            AddressType::Ipv4 => false,
            AddressType::Ipv6 => true,
            AddressType::Fqdn => continue,
        };
        if (!v6 && !families.0) || (v6 && !families.1) {
            continue;
        }
        let Some(port) = s
            .ports
            .iter()
            .find(|p| p.name == port_name && p.protocol == proto)
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
        else {
            continue;
        };
        for ep in &s.endpoints {
            let st = state(&ep.conditions);
            for a in &ep.addresses {
                if let Ok(ip) = a.parse::<IpAddr>()
                    && ip.is_ipv6() == v6
                    && !ip.is_unspecified()
                    && !ip.is_multicast()
                {
                    let b = dp::Backend::new(ip, port);
                    let e = out.entry(b).or_insert(st);
                    *e = (*e).min(st);
                    if !node.is_empty() && ep.node_name == node {
                        local.insert(b);
                    }
                }
            }
        }
    }
    (out, local)
}

/// The data plane's view of `svc` with `slices` (every slice of its
/// namespace may be passed: only those labelled with its name count).
/// `None`: nothing to program (no VIP, or no TCP/UDP port).
pub fn translate<'a>(
    svc: &Service,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    node: &NodeView,
) -> Option<dp::Service> {
    let vips = vips(svc);
    if vips.is_empty() {
        return None;
    }
    let families = (
        vips.iter().any(IpAddr::is_ipv4),
        vips.iter().any(IpAddr::is_ipv6),
    );
    let ns = &svc.metadata.namespace;
    let name = &svc.metadata.name;
    let slices: Vec<&EndpointSlice> = slices
        .into_iter()
        .filter(|s| &s.metadata.namespace == ns && s.service_name() == Some(name.as_str()))
        .collect();
    let node_ports = matches!(
        svc.spec.type_,
        ServiceType::NodePort | ServiceType::LoadBalancer
    );
    let external_local = svc.spec.external_traffic_policy == Some(TrafficPolicy::Local);
    let mut seen = BTreeSet::new();
    let mut ports = Vec::new();
    for sp in &svc.spec.ports {
        let (Some(proto), Ok(port)) = (protocol(sp.protocol), u16::try_from(sp.port)) else {
            continue;
        };
        if port == 0 || !seen.insert((port, proto)) {
            continue;
        }
        let (members, local) = backends(&slices, &sp.name, sp.protocol, families, &node.name);
        let node_port = u16::try_from(sp.node_port)
            .ok()
            .filter(|p| *p != 0 && node_ports);
        ports.push(dp::ServicePort {
            node_port,
            external_backends: external_local.then(|| local.into_iter().collect()),
            name: sp.name.clone(),
            port,
            protocol: proto,
            backends: members.keys().copied().collect(),
            options: members
                .into_iter()
                .filter(|(_, st)| *st != dp::BackendState::Active)
                .map(|(b, state)| {
                    (
                        b,
                        dp::BackendOptions {
                            state,
                            ..dp::BackendOptions::default()
                        },
                    )
                })
                .collect(),
        });
    }
    if ports.is_empty() {
        return None;
    }
    let external_ips = svc
        .spec
        .external_ips
        .iter()
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .filter(|a| !vips.contains(a))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Some(dp::Service {
        name: service_name(ns, name),
        vips,
        ports,
        policy: policy(svc),
        external_ips,
        node_addrs: if node_ports {
            node.addrs.clone()
        } else {
            Vec::new()
        },
        external_local,
    })
}

/// What the node adds to a Service's frontends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeView {
    /// The node's name: endpoints with this `nodeName` are local
    /// (externalTrafficPolicy Local serves only those).
    pub name: String,
    /// The addresses node ports are served on (its InternalIPs); none
    /// when the node serves no node ports.
    pub addrs: Vec<IpAddr>,
}

/// sessionAffinity ClientIP with its timeout, and the algorithm annotation
/// (anything but `maglev` is the default, random).
fn policy(svc: &Service) -> dp::Policy {
    let affinity_timeout = svc
        .spec
        .client_ip_timeout_seconds()
        .and_then(|t| u32::try_from(t).ok())
        .filter(|t| (1..=dp::MAX_AFFINITY_TIMEOUT).contains(t));
    let algorithm = match svc.metadata.annotation(LB_ALGORITHM_ANNOTATION) {
        Some(a) if a.eq_ignore_ascii_case("maglev") => dp::Algorithm::Maglev,
        _ => dp::Algorithm::Random,
    };
    dp::Policy {
        affinity_timeout,
        algorithm,
        exposure: dp::Exposure::Internal,
    }
}

#[cfg(test)]
mod tests {
    use berth_api::endpointslice::EndpointConditions;

    use super::*;
    use crate::proxy::fixtures::{endpoint, service, slice};

    fn b(s: &str) -> dp::Backend {
        dp::Backend::from(s.parse::<std::net::SocketAddr>().unwrap())
    }

    #[test]
    fn affinity_and_the_algorithm_annotation_become_the_policy() {
        let mut svc = service("web", &["10.96.0.20"], &[("http", 80, "web")]);
        assert_eq!(
            translate(&svc, [], &NodeView::default()).unwrap().policy,
            dp::Policy::default()
        );
        svc.spec.session_affinity = berth_api::service::SessionAffinity::ClientIP;
        svc.spec.apply_defaults();
        svc.metadata
            .annotations
            .insert(LB_ALGORITHM_ANNOTATION.into(), "Maglev".into());
        let p = translate(&svc, [], &NodeView::default()).unwrap().policy;
        assert_eq!(p.affinity_timeout, Some(10_800));
        assert_eq!(p.algorithm, dp::Algorithm::Maglev);
    }

    #[test]
    fn named_target_ports_follow_each_slice() {
        // Pods of two kinds resolve the target port "web" to 8080 and 9090:
        // the controller puts them in two slices with their own numbers.
        let svc = service("web", &["10.96.0.20"], &[("http", 80, "web")]);
        let a = slice(
            "web",
            "web-a",
            AddressType::Ipv4,
            &[("http", 8080)],
            vec![endpoint("10.244.1.2", true, false)],
        );
        let c = slice(
            "web",
            "web-b",
            AddressType::Ipv4,
            &[("http", 9090)],
            vec![endpoint("10.244.1.3", true, false)],
        );
        let other = slice(
            "other",
            "other-a",
            AddressType::Ipv4,
            &[("http", 1)],
            vec![endpoint("10.244.9.9", true, false)],
        );
        let got = translate(&svc, [&a, &c, &other], &NodeView::default()).unwrap();
        assert_eq!(got.name, "default/web");
        assert_eq!(got.vips, ["10.96.0.20".parse::<IpAddr>().unwrap()]);
        assert_eq!(got.ports.len(), 1);
        assert_eq!(got.ports[0].port, 80);
        assert_eq!(
            got.ports[0].backends,
            [b("10.244.1.2:8080"), b("10.244.1.3:9090")]
        );
    }

    #[test]
    fn ports_are_matched_by_name_and_protocol() {
        let mut svc = service(
            "dns",
            &["10.96.0.10"],
            &[("dns", 53, "53"), ("dns-tcp", 53, "53")],
        );
        svc.spec.ports[0].protocol = ApiProtocol::Udp;
        let mut s = slice(
            "dns",
            "dns-a",
            AddressType::Ipv4,
            &[("dns", 5353), ("dns-tcp", 5354)],
            vec![endpoint("10.244.1.5", true, false)],
        );
        s.ports[0].protocol = ApiProtocol::Udp;
        let got = translate(&svc, [&s], &NodeView::default()).unwrap();
        assert_eq!(got.ports[0].protocol, dp::Protocol::Udp);
        assert_eq!(got.ports[0].backends, [b("10.244.1.5:5353")]);
        assert_eq!(got.ports[1].protocol, dp::Protocol::Tcp);
        assert_eq!(got.ports[1].backends, [b("10.244.1.5:5354")]);
    }

    #[test]
    fn endpoint_conditions_become_backend_states() {
        let svc = service("web", &["10.96.0.20"], &[("", 80, "8080")]);
        let mut unknown = endpoint("10.244.1.5", true, false);
        unknown.conditions = EndpointConditions::default();
        let s = slice(
            "web",
            "web-a",
            AddressType::Ipv4,
            &[("", 8080)],
            vec![
                endpoint("10.244.1.4", true, false),
                endpoint("10.244.1.2", false, false),
                // publishNotReadyAddresses: ready but terminating.
                endpoint("10.244.1.3", true, true),
                // Unknown conditions count as ready.
                unknown,
                // The same pod twice (a slice being rewritten): once.
                endpoint("10.244.1.4", true, false),
            ],
        );
        let got = translate(&svc, [&s], &NodeView::default()).unwrap();
        let p = &got.ports[0];
        // Every endpoint is a member, once; only ready, not terminating ones
        // are active.
        assert_eq!(
            p.backends,
            [
                b("10.244.1.2:8080"),
                b("10.244.1.3:8080"),
                b("10.244.1.4:8080"),
                b("10.244.1.5:8080")
            ]
        );
        let state = |a: &str| p.options_of(&b(a)).state;
        assert_eq!(state("10.244.1.2:8080"), dp::BackendState::Quarantined);
        assert_eq!(state("10.244.1.3:8080"), dp::BackendState::Terminating);
        assert_eq!(state("10.244.1.4:8080"), dp::BackendState::Active);
        assert_eq!(state("10.244.1.5:8080"), dp::BackendState::Active);
        // Terminating and no longer serving: never picked again.
        let mut gone = endpoint("10.244.1.6", false, true);
        gone.conditions.serving = Some(false);
        let s = slice("web", "web-b", AddressType::Ipv4, &[("", 8080)], vec![gone]);
        let got = translate(&svc, [&s], &NodeView::default()).unwrap();
        assert_eq!(
            got.ports[0].options_of(&b("10.244.1.6:8080")).state,
            dp::BackendState::Quarantined
        );
    }

    #[test]
    fn dual_stack_vips_take_the_slices_of_their_families() {
        let svc = service(
            "web",
            &["10.96.0.20", "fd00:10:96::20"],
            &[("http", 80, "8080")],
        );
        let v4 = slice(
            "web",
            "web-4",
            AddressType::Ipv4,
            &[("http", 8080)],
            vec![endpoint("10.244.1.2", true, false)],
        );
        let v6 = slice(
            "web",
            "web-6",
            AddressType::Ipv6,
            &[("http", 8080)],
            vec![endpoint("fd00:10:244:1::2", true, false)],
        );
        let got = translate(&svc, [&v6, &v4], &NodeView::default()).unwrap();
        assert_eq!(got.vips.len(), 2);
        assert_eq!(
            got.ports[0].backends,
            [b("10.244.1.2:8080"), b("[fd00:10:244:1::2]:8080")]
        );
        // A single-stack Service ignores the other family's slice (the
        // data plane refuses backends without a VIP of their family).
        let single = service("web", &["10.96.0.20"], &[("http", 80, "8080")]);
        let got = translate(&single, [&v6, &v4], &NodeView::default()).unwrap();
        assert_eq!(got.ports[0].backends, [b("10.244.1.2:8080")]);
    }

    #[test]
    fn nothing_to_program_without_a_vip_or_a_port() {
        let s = slice("web", "web-a", AddressType::Ipv4, &[("", 80)], vec![]);
        let headless = service("web", &["None"], &[("", 80, "80")]);
        assert_eq!(translate(&headless, [&s], &NodeView::default()), None);
        let pending = service("web", &[], &[("", 80, "80")]);
        assert_eq!(translate(&pending, [&s], &NodeView::default()), None);
        let mut ext = service("web", &["10.96.0.20"], &[("", 80, "80")]);
        ext.spec.type_ = ServiceType::ExternalName;
        assert_eq!(translate(&ext, [&s], &NodeView::default()), None);
        let mut sctp = service("web", &["10.96.0.20"], &[("", 80, "80")]);
        sctp.spec.ports[0].protocol = ApiProtocol::Sctp;
        assert_eq!(translate(&sctp, [&s], &NodeView::default()), None);
        // A port without endpoints is programmed empty: connect() is
        // refused at once instead of leaving the cluster.
        let svc = service("web", &["10.96.0.20"], &[("", 80, "80")]);
        let got = translate(&svc, std::iter::empty(), &NodeView::default()).unwrap();
        assert!(got.ports[0].backends.is_empty());
    }
}
