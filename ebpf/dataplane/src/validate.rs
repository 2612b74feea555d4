//! Validation of a [`Service`] before anything is written: every error
//! names the field path and the value.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
};

use crate::{
    error::Error,
    model::{Algorithm, Backend, FrontendKey, Limits, MAX_AFFINITY_TIMEOUT, Service},
};

/// Longest service name accepted (a DNS name's length).
pub const MAX_NAME_LEN: usize = 253;

/// The frontends a valid service asks for, each with the index of the VIP
/// that declared it (for error messages: `vips[i]`) and its backends.
pub(crate) type Desired = BTreeMap<FrontendKey, (usize, Vec<Backend>)>;

/// Checks a service and expands it into frontends.
pub(crate) fn validate(svc: &Service, limits: &Limits) -> Result<Desired, Error> {
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
    let has_v4 = svc.vips.iter().any(IpAddr::is_ipv4);
    let has_v6 = svc.vips.iter().any(IpAddr::is_ipv6);
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
        let most = v4.max(v6);
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
        for (i, vip) in svc.vips.iter().enumerate() {
            let key = FrontendKey {
                vip: *vip,
                port: p.port,
                protocol: p.protocol,
            };
            let backends = p
                .backends
                .iter()
                .filter(|b| b.addr.is_ipv4() == vip.is_ipv4())
                .copied()
                .collect();
            desired.insert(key, (i, backends));
        }
    }
    Ok(desired)
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
            }],
            policy: Default::default(),
        }
    }

    fn err(s: &Service) -> String {
        validate(s, &Limits::default()).unwrap_err().to_string()
    }

    #[test]
    fn dual_stack_splits_backends_by_family() {
        let d = validate(&svc(), &Limits::default()).unwrap();
        assert_eq!(d.len(), 2);
        let v4 = d.iter().find(|(k, _)| k.vip.is_ipv4()).unwrap();
        assert_eq!(v4.1.1.len(), 2);
        let v6 = d.iter().find(|(k, _)| k.vip.is_ipv6()).unwrap();
        assert_eq!(v6.1.1.len(), 1);
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
