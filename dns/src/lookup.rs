//! Name → records: which names exist in the cluster zone and what they hold.

use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record};

use crate::names::undashed;
use crate::zone::{ServiceEntry, Zone};

/// The schema version published at `dns-version.<zone>`.
pub(crate) const SCHEMA_VERSION: &str = "1.1.0";

/// What the zone knows about a name.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// The name is not ours to answer.
    OutOfZone,
    /// The name is ours and does not exist.
    NxDomain,
    /// The name exists with these records (empty: an empty non-terminal).
    Found(Vec<Record>),
}

impl Zone {
    /// Every record at `name` (case-insensitive).
    pub(crate) fn lookup(&self, name: &Name) -> Lookup {
        let mut name = name.to_lowercase();
        name.set_fqdn(true);
        if self.domain.zone_of(&name) {
            let relative = usize::from(name.num_labels() - self.domain.num_labels());
            let labels: Vec<String> = name
                .iter()
                .take(relative)
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .collect();
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            return match self.in_zone(&name, &labels) {
                Some(records) => Lookup::Found(records),
                None => Lookup::NxDomain,
            };
        }
        self.reverse_lookup(&name)
    }

    fn in_zone(&self, name: &Name, labels: &[&str]) -> Option<Vec<Record>> {
        match labels {
            [] => Some(vec![self.soa.clone()]),
            ["dns-version"] => {
                Some(vec![self.record(
                    name,
                    RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_owned()])),
                )])
            }
            ["svc"] => (!self.services.is_empty()).then(Vec::new),
            [ns, "svc"] => self.service_namespaces.contains(*ns).then(Vec::new),
            [svc, ns, "svc"] => self.service_records(self.service(ns, svc)?),
            [proto, svc, ns, "svc"] if proto.starts_with('_') => {
                let entry = self.service(ns, svc)?;
                let has = entry
                    .service
                    .ports
                    .iter()
                    .any(|p| p.name.is_some() && p.protocol.label() == &proto[1..]);
                (has && self.has_targets(entry)).then(Vec::new)
            }
            [host, svc, ns, "svc"] => {
                let entry = self.service(ns, svc).filter(|e| e.service.headless)?;
                let (_, ep) = entry.ready.iter().find(|(h, _)| h == host)?;
                Some(self.address_records(name, &ep.addresses))
            }
            [port, proto, svc, ns, "svc"] => {
                self.srv_records(name, self.service(ns, svc)?, port, proto)
            }
            ["pod"] => (!self.pods.is_empty()).then(Vec::new),
            [ns, "pod"] => self.pod_namespaces.contains(*ns).then(Vec::new),
            [ip, ns, "pod"] => {
                let ip = undashed(ip)?;
                self.pods
                    .contains(&((*ns).to_owned(), ip))
                    .then(|| self.address_records(name, &[ip]))
            }
            _ => None,
        }
    }

    fn service(&self, ns: &str, svc: &str) -> Option<&ServiceEntry> {
        self.services.get(&(ns.to_owned(), svc.to_owned()))
    }

    fn record(&self, name: &Name, data: RData) -> Record {
        Record::from_rdata(name.clone(), self.ttl, data)
    }

    fn address_records(&self, name: &Name, ips: &[IpAddr]) -> Vec<Record> {
        ips.iter()
            .map(|ip| {
                let data = match ip {
                    IpAddr::V4(v4) => RData::A(A(*v4)),
                    IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
                };
                self.record(name, data)
            })
            .collect()
    }

    /// Whether the service has something for SRV records to point at.
    fn has_targets(&self, entry: &ServiceEntry) -> bool {
        !entry.service.cluster_ips.is_empty() || !entry.ready.is_empty()
    }

    fn service_records(&self, entry: &ServiceEntry) -> Option<Vec<Record>> {
        let name = &entry.fqdn;
        if let Some(target) = &entry.external {
            return Some(vec![self.record(name, RData::CNAME(CNAME(target.clone())))]);
        }
        if entry.service.headless {
            if entry.ready.is_empty() {
                return None;
            }
            let ips: Vec<IpAddr> = entry
                .ready
                .iter()
                .flat_map(|(_, ep)| ep.addresses.iter().copied())
                .collect();
            return Some(self.address_records(name, &ips));
        }
        Some(self.address_records(name, &entry.service.cluster_ips))
    }

    fn srv_records(
        &self,
        name: &Name,
        entry: &ServiceEntry,
        port: &str,
        proto: &str,
    ) -> Option<Vec<Record>> {
        let (port, proto) = (port.strip_prefix('_')?, proto.strip_prefix('_')?);
        let port = entry
            .service
            .ports
            .iter()
            .find(|p| p.name.as_deref() == Some(port) && p.protocol.label() == proto)?;
        if entry.external.is_some() || !self.has_targets(entry) {
            return None;
        }
        if !entry.service.headless {
            let srv = SRV::new(0, 100, port.port, entry.fqdn.clone());
            return Some(vec![self.record(name, RData::SRV(srv))]);
        }
        let weight = u16::try_from(100 / entry.ready.len()).unwrap_or(1).max(1);
        let records = entry
            .ready
            .iter()
            .filter_map(|(host, ep)| {
                // The endpoint's own port of that name, else the service's.
                let number = ep
                    .ports
                    .iter()
                    .find(|p| p.name == port.name && p.protocol == port.protocol)
                    .map_or(port.port, |p| p.port);
                let target = entry.fqdn.prepend_label(host.as_str()).ok()?;
                Some(self.record(name, RData::SRV(SRV::new(0, weight, number, target))))
            })
            .collect();
        Some(records)
    }

    fn reverse_lookup(&self, name: &Name) -> Lookup {
        let Ok(net) = name.parse_arpa_name() else {
            return Lookup::OutOfZone;
        };
        let full = if net.addr().is_ipv4() { 32 } else { 128 };
        if net.prefix_len() != full {
            return Lookup::OutOfZone;
        }
        match self.reverse.get(&net.addr()) {
            Some(targets) => Lookup::Found(
                targets
                    .iter()
                    .map(|t| self.record(name, RData::PTR(PTR(t.clone()))))
                    .collect(),
            ),
            None => Lookup::OutOfZone,
        }
    }
}
