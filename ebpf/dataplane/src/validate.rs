//! Validation of a [`Service`] before anything is written: every error
//! names the field path and the value.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
};

use crate::{
    error::Error,
    model::{
        Algorithm, Backend, BackendOptions, BackendState, Exposure, FrontendKey, Limits,
        MAX_AFFINITY_TIMEOUT, MAX_WEIGHT, Service, ServicePort,
    },
};

/// Longest service name accepted (a DNS name's length).
pub const MAX_NAME_LEN: usize = 253;

/// What one frontend of a valid service wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Wanted {
    /// The field that declared it, for errors (`vips[0]`,
    /// `externalIPs[1]`, `ports[2].nodePort`).
    pub field: String,
    /// Who reaches it.
    pub exposure: Exposure,
    /// The selection: backends new connections may pick, each repeated by
    /// its weight (reduced by the weights' common divisor).
    pub slots: Vec<Backend>,
    /// Every backend of its family, with state and weight.
    pub members: Vec<(Backend, BackendOptions)>,
}

/// The frontends a valid service asks for.
pub(crate) type Desired = BTreeMap<FrontendKey, Wanted>;

/// Backends new connections may pick, with their weights: the active ones
/// with a weight, or, when there is none, the terminating ones with a
/// weight (kube-proxy's fallback to serving terminating endpoints).
/// Quarantined backends never.
pub(crate) fn selectable(members: &[(Backend, BackendOptions)]) -> Vec<(Backend, u16)> {
    let pick = |state| -> Vec<(Backend, u16)> {
        members
            .iter()
            .filter(|(_, o)| o.state == state && o.weight > 0)
            .map(|(b, o)| (*b, o.weight))
            .collect()
    };
    let active = pick(BackendState::Active);
    if active.is_empty() {
        pick(BackendState::Terminating)
    } else {
        active
    }
}

/// The slot list of [`Wanted::slots`].
pub(crate) fn slots(members: &[(Backend, BackendOptions)]) -> Vec<Backend> {
    let sel = selectable(members);
    let g = sel.iter().fold(0u16, |g, (_, w)| gcd(g, *w)).max(1);
    sel.iter()
        .flat_map(|(b, w)| std::iter::repeat_n(*b, usize::from(*w / g)))
        .collect()
}

const fn gcd(a: u16, b: u16) -> u16 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Checks a service and expands it into frontends.
pub(crate) fn validate(svc: &Service, limits: &Limits) -> Result<Desired, Error> {
    check_name_and_policy(svc)?;
    check_vips(svc)?;
    if svc.ports.is_empty() {
        return Err(Error::invalid(
            "ports",
            "[]",
            "at least one port is required",
        ));
    }
    let mut seen_ports = BTreeSet::new();
    let mut desired = Desired::new();
    for (j, p) in svc.ports.iter().enumerate() {
        if p.port == 0 {
            return Err(Error::invalid(
                format!("ports[{j}].port"),
                p.port,
                "must be 1-65535",
            ));
        }
        if !seen_ports.insert((p.port, p.protocol)) {
            return Err(Error::invalid(
                format!("ports[{j}].port"),
                format!("{}/{}", p.port, p.protocol),
                "duplicate port and protocol",
            ));
        }
        let most = check_backends(svc, j, p)?;
        let members = |v4: bool| -> Vec<(Backend, BackendOptions)> {
            p.backends
                .iter()
                .filter(|b| b.addr.is_ipv4() == v4)
                .map(|b| (*b, p.options_of(b)))
                .collect()
        };
        let (m4, m6) = (members(true), members(false));
        let (s4, s6) = (slots(&m4), slots(&m6));
        check_capacity(svc, limits, j, most, s4.len().max(s6.len()))?;
        let internal = Sets {
            v4: (s4, m4),
            v6: (s6, m6),
        };
        let external = match &p.external_backends {
            None => internal.clone(),
            Some(list) => Sets::of(list, p),
        };
        let mut add = |addr: IpAddr, port: u16, field: String, exposure, sets: &Sets| {
            let key = FrontendKey {
                vip: addr,
                port,
                protocol: p.protocol,
            };
            let (slots, members) = if addr.is_ipv4() {
                sets.v4.clone()
            } else {
                sets.v6.clone()
            };
            let w = Wanted {
                field,
                exposure,
                slots,
                members,
            };
            match desired.insert(key, w) {
                None => Ok(()),
                Some(_) => Err(Error::invalid(
                    format!("ports[{j}]"),
                    key,
                    "the same frontend twice (an external address or node port that is also a VIP)",
                )),
            }
        };
        for (i, vip) in svc.vips.iter().enumerate() {
            add(
                *vip,
                p.port,
                format!("vips[{i}]"),
                svc.policy.exposure,
                &internal,
            )?;
        }
        let has = |a: &IpAddr| svc.vips.iter().any(|v| v.is_ipv4() == a.is_ipv4());
        for (i, a) in svc.external_ips.iter().enumerate().filter(|(_, a)| has(a)) {
            let field = format!("externalIPs[{i}]");
            add(*a, p.port, field, svc.external_exposure(), &external)?;
        }
        if let Some(np) = p.node_port {
            for a in svc.node_addrs.iter().filter(|a| has(a)) {
                let field = format!("ports[{j}].nodePort");
                add(*a, np, field, svc.external_exposure(), &external)?;
            }
        }
    }
    Ok(desired)
}

/// The selection and the members of a port's frontends, per family.
#[derive(Clone)]
struct Sets {
    v4: (Vec<Backend>, Vec<(Backend, BackendOptions)>),
    v6: (Vec<Backend>, Vec<(Backend, BackendOptions)>),
}

impl Sets {
    /// The sets of `list` (a subset of `p`'s backends, with their options).
    fn of(list: &[Backend], p: &ServicePort) -> Sets {
        let members = |v4: bool| -> Vec<(Backend, BackendOptions)> {
            list.iter()
                .filter(|b| b.addr.is_ipv4() == v4)
                .map(|b| (*b, p.options_of(b)))
                .collect()
        };
        let (m4, m6) = (members(true), members(false));
        Sets {
            v4: (slots(&m4), m4),
            v6: (slots(&m6), m6),
        }
    }
}

/// The service's name, and its affinity timeout.
fn check_name_and_policy(svc: &Service) -> Result<(), Error> {
    if svc.name.is_empty() || svc.name.len() > MAX_NAME_LEN {
        return Err(Error::invalid(
            "name",
            &svc.name,
            format!("must be 1-{MAX_NAME_LEN} characters"),
        ));
    }
    if svc
        .name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid(
            "name",
            &svc.name,
            "must not contain white space",
        ));
    }
    if let Some(t) = svc.policy.affinity_timeout
        && !(1..=MAX_AFFINITY_TIMEOUT).contains(&t)
    {
        return Err(Error::invalid(
            "policy.affinity_timeout",
            t,
            format!("must be 1-{MAX_AFFINITY_TIMEOUT} seconds"),
        ));
    }
    Ok(())
}

/// At least one VIP, each usable and given once.
fn check_vips(svc: &Service) -> Result<(), Error> {
    if svc.vips.is_empty() {
        return Err(Error::invalid("vips", "[]", "at least one VIP is required"));
    }
    let mut seen_vips = BTreeSet::new();
    for (i, vip) in svc.vips.iter().enumerate() {
        check_vip(*vip).map_err(|reason| Error::invalid(format!("vips[{i}]"), vip, reason))?;
        if !seen_vips.insert(*vip) {
            return Err(Error::invalid(format!("vips[{i}]"), vip, "duplicate VIP"));
        }
    }
    for (list, name) in [
        (&svc.external_ips, "externalIPs"),
        (&svc.node_addrs, "nodeAddrs"),
    ] {
        let mut seen = BTreeSet::new();
        for (i, a) in list.iter().enumerate() {
            let field = format!("{name}[{i}]");
            check_vip(*a).map_err(|reason| Error::invalid(&field, a, reason))?;
            if !seen.insert(*a) {
                return Err(Error::invalid(field, a, "duplicate address"));
            }
        }
    }
    for (j, p) in svc.ports.iter().enumerate() {
        if p.node_port == Some(0) {
            return Err(Error::invalid(
                format!("ports[{j}].nodePort"),
                0,
                "must be 1-65535",
            ));
        }
        for (k, b) in p.external_backends.iter().flatten().enumerate() {
            if !p.backends.contains(b) {
                return Err(Error::invalid(
                    format!("ports[{j}].externalBackends[{k}]"),
                    b,
                    "not one of the port's backends",
                ));
            }
        }
    }
    Ok(())
}

/// Port `j`'s backends (usable, of a family the service has a VIP of,
/// each once) and their options (for a listed backend, weight in range);
/// returns the larger family's count.
fn check_backends(svc: &Service, j: usize, p: &ServicePort) -> Result<usize, Error> {
    let has_v4 = svc.vips.iter().any(IpAddr::is_ipv4);
    let has_v6 = svc.vips.iter().any(IpAddr::is_ipv6);
    let (mut v4, mut v6) = (0usize, 0usize);
    let mut seen_backends = BTreeSet::new();
    for (k, b) in p.backends.iter().enumerate() {
        let field = format!("ports[{j}].backends[{k}]");
        if b.port == 0 {
            return Err(Error::invalid(field, b, "backend port must be 1-65535"));
        }
        check_backend_addr(b.addr).map_err(|reason| Error::invalid(&field, b, reason))?;
        if b.addr.is_ipv4() && !has_v4 || b.addr.is_ipv6() && !has_v6 {
            return Err(Error::invalid(field, b, "no VIP of this address family"));
        }
        if !seen_backends.insert(*b) {
            return Err(Error::invalid(field, b, "duplicate backend"));
        }
        if b.addr.is_ipv4() {
            v4 += 1;
        } else {
            v6 += 1;
        }
    }
    for (b, o) in &p.options {
        if !seen_backends.contains(b) {
            return Err(Error::invalid(
                format!("ports[{j}].options"),
                b,
                "options for a backend that is not in backends",
            ));
        }
        if o.weight > MAX_WEIGHT {
            let k = p.backends.iter().position(|x| x == b).unwrap_or(0);
            return Err(Error::invalid(
                format!("ports[{j}].backends[{k}].weight"),
                o.weight,
                format!("must be 0-{MAX_WEIGHT}"),
            ));
        }
    }
    Ok(v4.max(v6))
}

/// Whether port `j`'s `most` backends (and `most_slots` slots, with the
/// weights) fit one frontend, and a Maglev table.
fn check_capacity(
    svc: &Service,
    limits: &Limits,
    j: usize,
    most: usize,
    most_slots: usize,
) -> Result<(), Error> {
    if svc.policy.algorithm == Algorithm::Maglev && most >= limits.maglev_table_size as usize {
        return Err(Error::invalid(
            format!("ports[{j}].backends"),
            format!("{most} backends"),
            format!(
                "a Maglev frontend needs fewer backends than its table has entries ({})",
                limits.maglev_table_size
            ),
        ));
    }
    if most > limits.backends_per_frontend as usize {
        return Err(Error::invalid(
            format!("ports[{j}].backends"),
            format!("{most} backends"),
            format!(
                "at most {} backends per VIP and port",
                limits.backends_per_frontend
            ),
        ));
    }
    if most_slots > limits.backends_per_frontend as usize {
        return Err(Error::invalid(
            format!("ports[{j}].backends"),
            format!("weights needing {most_slots} slots"),
            format!(
                "at most {} slots per VIP and port (use smaller weights)",
                limits.backends_per_frontend
            ),
        ));
    }
    Ok(())
}

fn check_vip(ip: IpAddr) -> Result<(), &'static str> {
    if ip.is_unspecified() {
        return Err("must not be the unspecified address");
    }
    if ip.is_multicast() {
        return Err("must not be a multicast address");
    }
    if let IpAddr::V4(v4) = ip
        && v4.is_broadcast()
    {
        return Err("must not be the broadcast address");
    }
    Ok(())
}

fn check_backend_addr(ip: IpAddr) -> Result<(), &'static str> {
    if ip.is_unspecified() {
        return Err("backend address must not be the unspecified address");
    }
    if ip.is_multicast() {
        return Err("backend address must not be a multicast address");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, ServicePort};

    fn svc() -> Service {
        Service {
            name: "default/web".into(),
            vips: vec![
                "10.96.0.20".parse().unwrap(),
                "fd00:10:96::20".parse().unwrap(),
            ],
            ports: vec![ServicePort {
                name: "http".into(),
                port: 80,
                protocol: Protocol::Tcp,
                backends: vec![
                    Backend::new("10.244.1.2".parse().unwrap(), 8080),
                    Backend::new("fd00:10:244:1::2".parse().unwrap(), 8080),
                    Backend::new("10.244.1.3".parse().unwrap(), 8080),
                ],
                options: Default::default(),
                ..ServicePort::default()
            }],
            policy: Default::default(),
            ..Service::default()
        }
    }

    fn err(s: &Service) -> String {
        validate(s, &Limits::default()).unwrap_err().to_string()
    }

    #[test]
    fn weights_and_states_shape_the_slots() {
        let b = |s: &str| Backend::from(s.parse::<std::net::SocketAddr>().unwrap());
        let o = |state, weight| BackendOptions { state, weight };
        let m = [
            (b("10.0.0.1:80"), o(BackendState::Active, 4)),
            (b("10.0.0.2:80"), o(BackendState::Active, 2)),
            (b("10.0.0.3:80"), o(BackendState::Active, 0)),
            (b("10.0.0.4:80"), o(BackendState::Terminating, 1)),
            (b("10.0.0.5:80"), o(BackendState::Quarantined, 1)),
        ];
        // 4:2 is 2:1 slots; drained, terminating, quarantined get none.
        assert_eq!(
            slots(&m),
            [b("10.0.0.1:80"), b("10.0.0.1:80"), b("10.0.0.2:80")]
        );
        // No active backend left: the terminating ones serve.
        assert_eq!(slots(&m[2..]), [b("10.0.0.4:80")]);
        assert!(slots(&m[4..]).is_empty());
        let mut s = svc();
        let first = s.ports[0].backends[0];
        s.ports[0]
            .options
            .insert(first, o(BackendState::Active, 101));
        assert_eq!(
            err(&s),
            "ports[0].backends[0].weight: invalid value \"101\": must be 0-100"
        );
        let mut s = svc();
        s.ports[0]
            .options
            .insert(b("10.9.9.9:80"), o(BackendState::Active, 2));
        assert!(err(&s).starts_with("ports[0].options: invalid value \"10.9.9.9:80\""));
    }

    #[test]
    fn dual_stack_splits_backends_by_family() {
        let d = validate(&svc(), &Limits::default()).unwrap();
        assert_eq!(d.len(), 2);
        let v4 = d.iter().find(|(k, _)| k.vip.is_ipv4()).unwrap();
        assert_eq!(v4.1.slots.len(), 2);
        let v6 = d.iter().find(|(k, _)| k.vip.is_ipv6()).unwrap();
        assert_eq!(v6.1.slots.len(), 1);
    }

    #[test]
    fn errors_name_the_field_and_value() {
        let mut s = svc();
        s.ports[0].port = 0;
        assert_eq!(
            err(&s),
            "ports[0].port: invalid value \"0\": must be 1-65535"
        );

        let mut s = svc();
        s.vips[1] = "0.0.0.0".parse().unwrap();
        assert!(
            err(&s).starts_with("vips[1]: invalid value \"0.0.0.0\""),
            "{}",
            err(&s)
        );

        let mut s = svc();
        s.ports[0].backends[2].port = 0;
        assert!(err(&s).starts_with("ports[0].backends[2]: invalid value \"10.244.1.3:0\""));

        let mut s = svc();
        s.vips.truncate(1);
        assert!(err(&s).contains("ports[0].backends[1]"), "{}", err(&s));
        assert!(err(&s).contains("no VIP of this address family"));

        let mut s = svc();
        s.ports.push(s.ports[0].clone());
        assert!(err(&s).starts_with("ports[1].port: invalid value \"80/TCP\""));

        let mut s = svc();
        s.name = String::new();
        assert!(err(&s).starts_with("name: "));
    }

    #[test]
    fn too_many_backends_is_refused() {
        let mut s = svc();
        let limits = Limits {
            backends_per_frontend: 2,
            ..Limits::default()
        };
        s.ports[0]
            .backends
            .push(Backend::new("10.244.1.4".parse().unwrap(), 8080));
        let e = validate(&s, &limits).unwrap_err().to_string();
        assert_eq!(
            e,
            "ports[0].backends: invalid value \"3 backends\": at most 2 backends per VIP and port"
        );
    }

    #[test]
    fn duplicate_backend_is_refused() {
        let mut s = svc();
        let dup = s.ports[0].backends[0];
        s.ports[0].backends.push(dup);
        assert!(err(&s).starts_with("ports[0].backends[3]:"));
        assert!(err(&s).ends_with("duplicate backend"));
    }
}
