//! [`Dataplane`] over [`Lb`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::Lb;
use crate::Dataplane;
use crate::status::{BackendStatus, FrontendStatus};
use crate::{
    error::{Error, MapError},
    maps::LbMaps,
    model::{Backend, BackendOptions, Protocol, Service},
    validate::validate,
};

impl<M: LbMaps> Dataplane for Lb<M> {
    fn upsert_service(&mut self, svc: &Service) -> Result<(), Error> {
        let desired = validate(svc, &self.limits)?;
        let r = self.upsert(svc, desired);
        self.end_removed();
        r
    }

    fn set_backends(
        &mut self,
        service: &str,
        port: u16,
        protocol: Protocol,
        backends: &[Backend],
    ) -> Result<(), Error> {
        let keys = self.services.get(service).ok_or_else(|| Error::NotFound {
            name: service.to_string(),
        })?;
        if keys
            .iter()
            .any(|k| !self.frontends[k].policy.exposure.marks_vip())
        {
            return Err(Error::invalid(
                "service",
                service,
                "has external frontends: change it with upsert_service",
            ));
        }
        let vips: Vec<IpAddr> = keys
            .iter()
            .map(|k| k.vip)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut ports = Vec::new();
        let mut by_port: BTreeMap<(u16, Protocol), Vec<(Backend, BackendOptions)>> =
            BTreeMap::new();
        for k in keys {
            let f = &self.frontends[k];
            by_port
                .entry((k.port, k.protocol))
                .or_default()
                .extend(f.members.iter().copied());
        }
        if !by_port.contains_key(&(port, protocol)) {
            return Err(Error::invalid(
                "port",
                format!("{port}/{protocol}"),
                format!("service {service:?} has no such port"),
            ));
        }
        by_port.insert(
            (port, protocol),
            backends
                .iter()
                .map(|b| (*b, BackendOptions::default()))
                .collect(),
        );
        for ((port, protocol), members) in by_port {
            ports.push(crate::model::ServicePort {
                name: String::new(),
                port,
                protocol,
                backends: members.iter().map(|(b, _)| *b).collect(),
                options: members
                    .into_iter()
                    .filter(|(_, o)| *o != BackendOptions::default())
                    .collect(),
                ..crate::model::ServicePort::default()
            });
        }
        let policy = keys
            .iter()
            .next()
            .map(|k| self.frontends[k].policy)
            .unwrap_or_default();
        let svc = Service {
            name: service.to_string(),
            vips,
            ports,
            policy,
            ..Service::default()
        };
        let desired = validate(&svc, &self.limits)?;
        let r = self.upsert(&svc, desired);
        self.end_removed();
        r
    }

    fn delete_service(&mut self, name: &str) -> Result<(), Error> {
        let keys = self.services.remove(name).ok_or_else(|| Error::NotFound {
            name: name.to_string(),
        })?;
        let mut r = Ok(());
        for k in keys {
            r = self.delete_frontend(&k).map_err(|source| Error::Map {
                service: name.to_string(),
                source,
            });
            if r.is_err() {
                break;
            }
        }
        self.end_removed();
        r
    }

    fn reconcile(&mut self, desired: &[Service]) -> Result<(), Error> {
        Lb::reconcile(self, desired)
    }

    fn service_names(&self) -> Vec<String> {
        self.services.keys().cloned().collect()
    }

    fn list(&self) -> Result<Vec<FrontendStatus>, MapError> {
        let mut out = Vec::with_capacity(self.frontends.len());
        for (k, f) in &self.frontends {
            let stats = self.maps.service_stats(f.service_id)?;
            let ids = f.ids();
            let mut backends = Vec::with_capacity(f.members.len());
            for (b, o) in &f.members {
                let id = ids.get(b).copied();
                backends.push(BackendStatus {
                    id,
                    backend: *b,
                    state: o.state,
                    weight: o.weight,
                    selected: id.is_some(),
                    connections: match id {
                        Some(id) => self.maps.backend_stats(id)?,
                        None => 0,
                    },
                });
            }
            out.push(FrontendStatus {
                frontend: *k,
                service: f.owner.as_deref().map(str::to_string),
                service_id: f.service_id,
                policy: f.policy,
                translated: stats.translated,
                refused: stats.refused,
                backends,
            });
        }
        Ok(out)
    }
}
