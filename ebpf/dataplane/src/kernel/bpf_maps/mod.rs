//! [`LbMaps`] over the kernel's pinned maps.

use std::{
    io,
    net::IpAddr,
    os::fd::{AsFd, RawFd},
};

use aya::maps::{HashMap, HashOfMaps, Map, MapData, PerCpuArray, PerCpuValues};
use berth_ebpf_common::lb::{
    AffinityMatchKey, Backend4, Backend6, MEMBER_ACTIVE, MEMBER_QUARANTINED, MEMBER_TERMINATING,
    MemberKey, MemberValue, RevNat4Key, RevNat4Value, RevNat6Key, RevNat6Value, Service4Key,
    Service6Key, ServiceStats, ServiceValue,
};

mod access;
mod dump;
mod keys;
mod names;

use self::access::{batch, conv, ignore_missing, take};
pub(crate) use self::keys::{from_v4, from_v6, key4, key6, member_key, port_be, slot_key, v4, v6};
pub(crate) use self::names::*;
use self::names::{BPF_F_INNER_MAP, BPF_MAP_TYPE_ARRAY};
use super::{sys, terminate};
use crate::{
    error::MapError,
    maps::{Dump, LbMaps, SlotKey},
    model::{Backend, BackendOptions, BackendState, FrontendKey, Protocol},
};

/// The load balancer's maps in the kernel.
pub struct BpfMaps {
    svc4: HashMap<MapData, Service4Key, ServiceValue>,
    svc6: HashMap<MapData, Service6Key, ServiceValue>,
    be4: HashMap<MapData, u32, Backend4>,
    be6: HashMap<MapData, u32, Backend6>,
    vip4: HashMap<MapData, u32, u32>,
    vip6: HashMap<MapData, [u32; 4], u32>,
    svc_stats: PerCpuArray<MapData, ServiceStats>,
    be_stats: PerCpuArray<MapData, u64>,
    affinity_match: HashMap<MapData, AffinityMatchKey, u32>,
    members: HashMap<MapData, MemberKey, MemberValue>,
    /// The reverse-NAT maps, shared with the thread that ends connections.
    revnat: std::sync::Arc<RevNatMaps>,
    terminator: Option<std::sync::mpsc::Sender<Vec<(FrontendKey, Backend)>>>,
    maglev: HashOfMaps<MapData, u32, MapData>,
    cpus: usize,
    /// Raw fds of the hash maps, for batch updates; owned by the maps above.
    fds: Fds,
}

#[derive(Debug, Default, Clone, Copy)]
struct Fds {
    svc4: RawFd,
    svc6: RawFd,
    be4: RawFd,
    be6: RawFd,
    vip4: RawFd,
    vip6: RawFd,
}

impl std::fmt::Debug for BpfMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BpfMaps")
            .field("cpus", &self.cpus)
            .finish_non_exhaustive()
    }
}

impl BpfMaps {
    /// Starts the thread that ends removed backends' connections (once):
    /// it picks and loads its way of ending sockets right away, so the
    /// first removal does not wait for that. `maps_dir` is where the maps
    /// are pinned (the socket-destroy iterators share the reverse-NAT maps
    /// from there); without it, sock_diag is used.
    pub(crate) fn start_terminator(
        &mut self,
        maps_dir: Option<&std::path::Path>,
    ) -> Result<(), MapError> {
        if self.terminator.is_none() {
            let tx = terminate::spawn_worker(
                std::sync::Arc::clone(&self.revnat),
                maps_dir.map(std::path::Path::to_path_buf),
            )
            .map_err(|source| MapError::Os {
                map: REVNAT4,
                op: "start the connection-ending thread",
                source,
            })?;
            self.terminator = Some(tx);
        }
        Ok(())
    }

    /// Wraps the maps `take(name)` hands out (from a loaded object or pins).
    pub(crate) fn from_maps(
        mut get: impl FnMut(&'static str) -> Option<Map>,
    ) -> Result<Self, MapError> {
        let get: &mut dyn FnMut(&'static str) -> Option<Map> = &mut get;
        let cpus = aya::util::nr_cpus().map_err(|(what, source)| MapError::Os {
            map: SVC_STATS,
            op: what,
            source,
        })?;
        let mut fds = Fds::default();
        Ok(Self {
            svc4: take(get, SVC4, Some(&mut fds.svc4))?,
            svc6: take(get, SVC6, Some(&mut fds.svc6))?,
            be4: take(get, BACKEND4, Some(&mut fds.be4))?,
            be6: take(get, BACKEND6, Some(&mut fds.be6))?,
            vip4: take(get, VIP4, Some(&mut fds.vip4))?,
            vip6: take(get, VIP6, Some(&mut fds.vip6))?,
            svc_stats: take(get, SVC_STATS, None)?,
            be_stats: take(get, BACKEND_STATS, None)?,
            affinity_match: take(get, AFFINITY_MATCH, None)?,
            members: take(get, MEMBERS, None)?,
            revnat: std::sync::Arc::new(RevNatMaps {
                revnat4: take(get, REVNAT4, None)?,
                revnat6: take(get, REVNAT6, None)?,
            }),
            terminator: None,
            maglev: take(get, MAGLEV, None)?,
            cpus,
            fds,
        })
    }
}

/// `REVNAT4`/`REVNAT6`, read by the connection-ending thread.
pub(crate) struct RevNatMaps {
    revnat4: HashMap<MapData, RevNat4Key, RevNat4Value>,
    revnat6: HashMap<MapData, RevNat6Key, RevNat6Value>,
}

impl terminate::RevNat for RevNatMaps {
    fn vip_of(&self, cookie: u64, b: &Backend) -> Option<(IpAddr, u16)> {
        match b.addr {
            IpAddr::V4(a) => {
                let k = RevNat4Key {
                    cookie,
                    addr: v4(a),
                    port: port_be(b.port),
                    _pad: 0,
                };
                let v = self.revnat4.get(&k, 0).ok()?;
                Some((from_v4(v.addr), u16::from_be(v.port)))
            }
            IpAddr::V6(a) => {
                let k = RevNat6Key {
                    cookie,
                    addr: v6(a),
                    port: port_be(b.port),
                    _pad: [0; 6],
                };
                let v = self.revnat6.get(&k, 0).ok()?;
                Some((from_v6(v.addr), u16::from_be(v.port)))
            }
        }
    }
}

impl LbMaps for BpfMaps {
    fn dump(&self) -> Result<Dump, MapError> {
        self.dump_all()
    }

    /// Hands the removed backends to a thread of their own, so that a
    /// backend change returns as soon as the maps are written: walking
    /// every namespace takes tens of milliseconds.
    fn terminate_sockets(&mut self, removed: &[(FrontendKey, Backend)]) -> Result<(), MapError> {
        let err = |op, source| MapError::Os {
            map: REVNAT4,
            op,
            source,
        };
        // Started by `kernel::start`; maps opened otherwise end sockets
        // with sock_diag.
        self.start_terminator(None)?;
        let tx = self.terminator.as_ref().expect("started above");
        tx.send(removed.to_vec()).map_err(|_| {
            err(
                "end connections",
                io::Error::other("the connection-ending thread is gone"),
            )
        })
    }

    fn put_slot(&mut self, key: &SlotKey, value: &ServiceValue) -> Result<(), MapError> {
        match key.frontend.vip {
            IpAddr::V4(a) => self
                .svc4
                .insert(key4(key, a), *value, 0)
                .map_err(conv(SVC4, "update")),
            IpAddr::V6(a) => self
                .svc6
                .insert(key6(key, a), *value, 0)
                .map_err(conv(SVC6, "update")),
        }
    }

    fn delete_slot(&mut self, key: &SlotKey) -> Result<(), MapError> {
        match key.frontend.vip {
            IpAddr::V4(a) => {
                ignore_missing(self.svc4.remove(&key4(key, a))).map_err(conv(SVC4, "delete"))
            }
            IpAddr::V6(a) => {
                ignore_missing(self.svc6.remove(&key6(key, a))).map_err(conv(SVC6, "delete"))
            }
        }
    }

    fn put_backend(&mut self, id: u32, b: &Backend, proto: Protocol) -> Result<(), MapError> {
        match b.addr {
            IpAddr::V4(a) => {
                let v = Backend4 {
                    addr: v4(a),
                    port: port_be(b.port),
                    proto: proto.number(),
                    flags: 0,
                };
                self.be4.insert(id, v, 0).map_err(conv(BACKEND4, "update"))
            }
            IpAddr::V6(a) => {
                let v = Backend6 {
                    addr: v6(a),
                    port: port_be(b.port),
                    proto: proto.number(),
                    flags: 0,
                };
                self.be6.insert(id, v, 0).map_err(conv(BACKEND6, "update"))
            }
        }
    }

    fn delete_backend(&mut self, id: u32, is_v6: bool) -> Result<(), MapError> {
        if is_v6 {
            ignore_missing(self.be6.remove(&id)).map_err(conv(BACKEND6, "delete"))
        } else {
            ignore_missing(self.be4.remove(&id)).map_err(conv(BACKEND4, "delete"))
        }
    }

    fn put_vip(&mut self, vip: IpAddr, frontends: u32) -> Result<(), MapError> {
        match vip {
            IpAddr::V4(a) => self
                .vip4
                .insert(v4(a), frontends, 0)
                .map_err(conv(VIP4, "update")),
            IpAddr::V6(a) => self
                .vip6
                .insert(v6(a), frontends, 0)
                .map_err(conv(VIP6, "update")),
        }
    }

    fn delete_vip(&mut self, vip: IpAddr) -> Result<(), MapError> {
        match vip {
            IpAddr::V4(a) => ignore_missing(self.vip4.remove(&v4(a))).map_err(conv(VIP4, "delete")),
            IpAddr::V6(a) => ignore_missing(self.vip6.remove(&v6(a))).map_err(conv(VIP6, "delete")),
        }
    }

    fn reset_service_stats(&mut self, id: u32) -> Result<(), MapError> {
        let zero =
            PerCpuValues::try_from(vec![ServiceStats::default(); self.cpus]).map_err(|e| {
                MapError::Os {
                    map: SVC_STATS,
                    op: "reset",
                    source: e,
                }
            })?;
        self.svc_stats
            .set(id, zero, 0)
            .map_err(conv(SVC_STATS, "reset"))
    }

    fn reset_backend_stats(&mut self, id: u32) -> Result<(), MapError> {
        let zero = PerCpuValues::try_from(vec![0u64; self.cpus]).map_err(|e| MapError::Os {
            map: BACKEND_STATS,
            op: "reset",
            source: e,
        })?;
        self.be_stats
            .set(id, zero, 0)
            .map_err(conv(BACKEND_STATS, "reset"))
    }

    fn put_slots(&mut self, items: &[(SlotKey, ServiceValue)]) -> Result<(), MapError> {
        let (mut k4, mut v4s, mut k6, mut v6s) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (k, v) in items {
            match k.frontend.vip {
                IpAddr::V4(a) => {
                    k4.push(key4(k, a));
                    v4s.push(*v);
                }
                IpAddr::V6(a) => {
                    k6.push(key6(k, a));
                    v6s.push(*v);
                }
            }
        }
        batch(self.fds.svc4, SVC4, &k4, &v4s)?;
        batch(self.fds.svc6, SVC6, &k6, &v6s)
    }

    fn put_backends(&mut self, items: &[(u32, Backend, Protocol)]) -> Result<(), MapError> {
        let (mut i4, mut b4, mut i6, mut b6) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (id, b, p) in items {
            match b.addr {
                IpAddr::V4(a) => {
                    i4.push(*id);
                    b4.push(Backend4 {
                        addr: v4(a),
                        port: port_be(b.port),
                        proto: p.number(),
                        flags: 0,
                    });
                }
                IpAddr::V6(a) => {
                    i6.push(*id);
                    b6.push(Backend6 {
                        addr: v6(a),
                        port: port_be(b.port),
                        proto: p.number(),
                        flags: 0,
                    });
                }
            }
        }
        batch(self.fds.be4, BACKEND4, &i4, &b4)?;
        batch(self.fds.be6, BACKEND6, &i6, &b6)
    }

    fn put_vips(&mut self, items: &[(IpAddr, u32)]) -> Result<(), MapError> {
        let (mut a4, mut n4, mut a6, mut n6) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (vip, n) in items {
            match vip {
                IpAddr::V4(a) => {
                    a4.push(v4(*a));
                    n4.push(*n);
                }
                IpAddr::V6(a) => {
                    a6.push(v6(*a));
                    n6.push(*n);
                }
            }
        }
        batch(self.fds.vip4, VIP4, &a4, &n4)?;
        batch(self.fds.vip6, VIP6, &a6, &n6)
    }

    fn put_member(
        &mut self,
        service_id: u32,
        b: &Backend,
        proto: Protocol,
        o: BackendOptions,
    ) -> Result<(), MapError> {
        let state = match o.state {
            BackendState::Active => MEMBER_ACTIVE,
            BackendState::Terminating => MEMBER_TERMINATING,
            BackendState::Quarantined => MEMBER_QUARANTINED,
        };
        let v = MemberValue {
            weight: o.weight,
            state,
            _pad: 0,
        };
        self.members
            .insert(member_key(service_id, b, proto), v, 0)
            .map_err(conv(MEMBERS, "update"))
    }

    fn delete_member(
        &mut self,
        service_id: u32,
        b: &Backend,
        proto: Protocol,
    ) -> Result<(), MapError> {
        ignore_missing(self.members.remove(&member_key(service_id, b, proto)))
            .map_err(conv(MEMBERS, "delete"))
    }

    fn put_affinity_match(&mut self, service_id: u32, backend_id: u32) -> Result<(), MapError> {
        let k = AffinityMatchKey {
            service_id,
            backend_id,
        };
        self.affinity_match
            .insert(k, 1, 0)
            .map_err(conv(AFFINITY_MATCH, "update"))
    }

    fn delete_affinity_match(&mut self, service_id: u32, backend_id: u32) -> Result<(), MapError> {
        let k = AffinityMatchKey {
            service_id,
            backend_id,
        };
        ignore_missing(self.affinity_match.remove(&k)).map_err(conv(AFFINITY_MATCH, "delete"))
    }

    fn put_maglev(&mut self, service_id: u32, table: &[u32]) -> Result<(), MapError> {
        // A new inner map, filled, then swapped in by one outer update: a
        // reader sees the old table or the new one, never a mixture.
        let size = u32::try_from(table.len()).unwrap_or(u32::MAX).max(1);
        let obj = aya_obj::Map::new_from_params(
            BPF_MAP_TYPE_ARRAY,
            size_of::<u32>() as u32,
            size_of::<u32>() as u32,
            size,
            BPF_F_INNER_MAP,
        );
        let inner =
            MapData::create(obj, "berth_maglev", None).map_err(conv(MAGLEV, "create table"))?;
        if !table.is_empty() {
            let keys: Vec<u32> = (0..size).collect();
            sys::map_update_batch(inner.fd().as_fd(), &keys, table).map_err(|source| {
                MapError::Os {
                    map: MAGLEV,
                    op: "fill table",
                    source,
                }
            })?;
        }
        self.maglev
            .insert(service_id, &inner, 0)
            .map_err(conv(MAGLEV, "update"))
    }

    fn delete_maglev(&mut self, service_id: u32) -> Result<(), MapError> {
        ignore_missing(self.maglev.remove(&service_id)).map_err(conv(MAGLEV, "delete"))
    }

    fn service_stats(&self, id: u32) -> Result<ServiceStats, MapError> {
        let per_cpu = self
            .svc_stats
            .get(&id, 0)
            .map_err(conv(SVC_STATS, "read"))?;
        Ok(per_cpu
            .iter()
            .fold(ServiceStats::default(), |a, s| ServiceStats {
                translated: a.translated + s.translated,
                refused: a.refused + s.refused,
            }))
    }

    fn backend_stats(&self, id: u32) -> Result<u64, MapError> {
        let per_cpu = self
            .be_stats
            .get(&id, 0)
            .map_err(conv(BACKEND_STATS, "read"))?;
        Ok(per_cpu.iter().sum())
    }
}
