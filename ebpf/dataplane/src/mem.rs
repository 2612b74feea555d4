//! An in-memory [`LbMaps`] for unprivileged tests: the same capacities as
//! the kernel maps, and a switch to make the n-th write fail.

use std::{collections::BTreeMap, io, net::IpAddr};

use berth_ebpf_common::lb::{ServiceStats, ServiceValue};

use crate::{
    error::MapError,
    maps::{Dump, LbMaps, SlotKey},
    model::{Backend, Limits, Protocol},
};

/// In-memory maps with kernel-like capacity limits.
#[derive(Debug, Default)]
pub struct MemMaps {
    pub slots: BTreeMap<SlotKey, ServiceValue>,
    pub backends: BTreeMap<u32, (Backend, Protocol)>,
    pub vips: BTreeMap<IpAddr, u32>,
    pub service_stats: BTreeMap<u32, ServiceStats>,
    pub backend_stats: BTreeMap<u32, u64>,
    /// `AFFINITY_MATCH`: (service id, backend id).
    pub affinity_match: std::collections::BTreeSet<(u32, u32)>,
    /// `MAGLEV`: service id -> table.
    pub maglev: BTreeMap<u32, Vec<u32>>,
    maglev_capacity: usize,
    /// `MEMBERS`.
    pub members: BTreeMap<(u32, Backend, Protocol), crate::BackendOptions>,
    /// Every (frontend, backend) whose connections were to be ended.
    pub terminated: Vec<(crate::FrontendKey, Backend)>,
    slot_capacity: usize,
    backend_capacity: usize,
    vip_capacity: usize,
    /// The write (0-based, counted from when it was set) that fails, once.
    pub fail_after: Option<usize>,
    /// Number of writes (puts and deletes) so far.
    pub writes: usize,
}

impl MemMaps {
    pub fn new(limits: &Limits) -> Self {
        Self {
            slot_capacity: limits.service_map_entries() as usize,
            backend_capacity: limits.backends as usize,
            vip_capacity: limits.frontends as usize,
            maglev_capacity: limits.maglev_frontends as usize,
            ..Self::default()
        }
    }

    fn write(&mut self, map: &'static str, op: &'static str) -> Result<(), MapError> {
        self.writes += 1;
        match &mut self.fail_after {
            Some(0) => {
                self.fail_after = None;
                Err(MapError::Os {
                    map,
                    op,
                    source: io::Error::other("injected failure"),
                })
            }
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

fn put<K: Ord, V>(
    m: &mut BTreeMap<K, V>,
    cap: usize,
    k: K,
    v: V,
    map: &'static str,
) -> Result<(), MapError> {
    if !m.contains_key(&k) && m.len() >= cap {
        return Err(MapError::Full { map, op: "update" });
    }
    m.insert(k, v);
    Ok(())
}

impl LbMaps for MemMaps {
    fn put_slot(&mut self, key: &SlotKey, value: &ServiceValue) -> Result<(), MapError> {
        self.write("SVC", "update")?;
        put(&mut self.slots, self.slot_capacity, *key, *value, "SVC")
    }

    fn delete_slot(&mut self, key: &SlotKey) -> Result<(), MapError> {
        self.write("SVC", "delete")?;
        self.slots.remove(key);
        Ok(())
    }

    fn put_backend(&mut self, id: u32, backend: &Backend, proto: Protocol) -> Result<(), MapError> {
        self.write("BACKEND", "update")?;
        put(
            &mut self.backends,
            self.backend_capacity,
            id,
            (*backend, proto),
            "BACKEND",
        )
    }

    fn delete_backend(&mut self, id: u32, _v6: bool) -> Result<(), MapError> {
        self.write("BACKEND", "delete")?;
        self.backends.remove(&id);
        Ok(())
    }

    fn put_vip(&mut self, vip: IpAddr, frontends: u32) -> Result<(), MapError> {
        self.write("VIP", "update")?;
        put(&mut self.vips, self.vip_capacity, vip, frontends, "VIP")
    }

    fn delete_vip(&mut self, vip: IpAddr) -> Result<(), MapError> {
        self.write("VIP", "delete")?;
        self.vips.remove(&vip);
        Ok(())
    }

    fn reset_service_stats(&mut self, service_id: u32) -> Result<(), MapError> {
        self.service_stats.remove(&service_id);
        Ok(())
    }

    fn reset_backend_stats(&mut self, backend_id: u32) -> Result<(), MapError> {
        self.backend_stats.remove(&backend_id);
        Ok(())
    }

    fn dump(&self) -> Result<Dump, MapError> {
        Ok(Dump {
            slots: self.slots.iter().map(|(k, v)| (*k, *v)).collect(),
            backends: self
                .backends
                .iter()
                .map(|(id, (b, p))| (*id, *b, *p))
                .collect(),
            vips: self.vips.iter().map(|(v, n)| (*v, *n)).collect(),
            members: self
                .members
                .iter()
                .map(|((s, b, p), o)| (*s, *b, *p, *o))
                .collect(),
        })
    }

    fn put_affinity_match(&mut self, service_id: u32, backend_id: u32) -> Result<(), MapError> {
        self.write("AFFINITY_MATCH", "update")?;
        self.affinity_match.insert((service_id, backend_id));
        Ok(())
    }

    fn delete_affinity_match(&mut self, service_id: u32, backend_id: u32) -> Result<(), MapError> {
        self.write("AFFINITY_MATCH", "delete")?;
        self.affinity_match.remove(&(service_id, backend_id));
        Ok(())
    }

    fn put_maglev(&mut self, service_id: u32, table: &[u32]) -> Result<(), MapError> {
        self.write("MAGLEV", "update")?;
        put(
            &mut self.maglev,
            self.maglev_capacity,
            service_id,
            table.to_vec(),
            "MAGLEV",
        )
    }

    fn delete_maglev(&mut self, service_id: u32) -> Result<(), MapError> {
        self.write("MAGLEV", "delete")?;
        self.maglev.remove(&service_id);
        Ok(())
    }

    fn put_member(
        &mut self,
        service_id: u32,
        backend: &Backend,
        proto: Protocol,
        options: crate::BackendOptions,
    ) -> Result<(), MapError> {
        self.write("MEMBERS", "update")?;
        self.members.insert((service_id, *backend, proto), options);
        Ok(())
    }

    fn delete_member(
        &mut self,
        service_id: u32,
        backend: &Backend,
        proto: Protocol,
    ) -> Result<(), MapError> {
        self.write("MEMBERS", "delete")?;
        self.members.remove(&(service_id, *backend, proto));
        Ok(())
    }

    fn terminate_sockets(
        &mut self,
        removed: &[(crate::FrontendKey, Backend)],
    ) -> Result<(), MapError> {
        self.terminated.extend_from_slice(removed);
        Ok(())
    }

    fn service_stats(&self, service_id: u32) -> Result<ServiceStats, MapError> {
        Ok(self
            .service_stats
            .get(&service_id)
            .copied()
            .unwrap_or_default())
    }

    fn backend_stats(&self, backend_id: u32) -> Result<u64, MapError> {
        Ok(self
            .backend_stats
            .get(&backend_id)
            .copied()
            .unwrap_or_default())
    }
}
