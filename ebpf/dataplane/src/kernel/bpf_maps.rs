//! [`LbMaps`] over the kernel's pinned maps.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd},
};

use aya::maps::{
    HashMap, HashOfMaps, Map, MapData, MapError as AyaMapError, PerCpuArray, PerCpuValues,
};
use berth_ebpf_common::lb::{
    AffinityMatchKey, Backend4, Backend6, MEMBER_ACTIVE, MEMBER_QUARANTINED, MEMBER_TERMINATING,
    MemberKey, MemberValue, RevNat4Key, RevNat4Value, RevNat6Key, RevNat6Value, Service4Key,
    Service6Key, ServiceStats, ServiceValue,
};

use super::{sys, terminate};
use crate::{
    error::MapError,
    maps::{Dump, LbMaps, SlotKey},
    model::{Backend, BackendOptions, BackendState, FrontendKey, Protocol},
};

fn member_key(service_id: u32, b: &Backend, proto: Protocol) -> MemberKey {
    let (family, addr) = match b.addr {
        IpAddr::V4(a) => (4, [v4(a), 0, 0, 0]),
        IpAddr::V6(a) => (6, v6(a)),
    };
    MemberKey {
        service_id,
        port: port_be(b.port),
        proto: proto.number(),
        family,
        addr,
    }
}

/// Creates the (empty) MEMBERS map of `max_entries` and pins it at `path`,
/// or opens the one pinned there.
pub(crate) fn open_or_create_members(
    path: &std::path::Path,
    max_entries: u32,
) -> Result<Map, MapError> {
    const BPF_MAP_TYPE_HASH: u32 = 1;
    const BPF_F_NO_PREALLOC: u32 = 1;
    let data = if path.exists() {
        MapData::from_pin(path).map_err(conv(MEMBERS, "open pinned"))?
    } else {
        let obj = aya_obj::Map::new_from_params(
            BPF_MAP_TYPE_HASH,
            size_of::<MemberKey>() as u32,
            size_of::<MemberValue>() as u32,
            max_entries,
            BPF_F_NO_PREALLOC,
        );
        let data = MapData::create(obj, MEMBERS, None).map_err(conv(MEMBERS, "create"))?;
        data.pin(path).map_err(|e| MapError::Os {
            map: MEMBERS,
            op: "pin",
            source: io::Error::other(e.to_string()),
        })?;
        data
    };
    Map::from_map_data(data).map_err(conv(MEMBERS, "open"))
}

/// Names of the maps in the object (and of their pins).
pub(crate) const SVC4: &str = "SVC4";
pub(crate) const SVC6: &str = "SVC6";
pub(crate) const BACKEND4: &str = "BACKEND4";
pub(crate) const BACKEND6: &str = "BACKEND6";
pub(crate) const VIP4: &str = "VIP4";
pub(crate) const VIP6: &str = "VIP6";
pub(crate) const REVNAT4: &str = "REVNAT4";
pub(crate) const REVNAT6: &str = "REVNAT6";
pub(crate) const SVC_STATS: &str = "SVC_STATS";
pub(crate) const BACKEND_STATS: &str = "BACKEND_STATS";
pub(crate) const AFFINITY: &str = "AFFINITY";
pub(crate) const AFFINITY_MATCH: &str = "AFFINITY_MATCH";
/// The outer map of the Maglev tables (a BTF map, pinned by path).
pub(crate) const MAGLEV: &str = "MAGLEV";
/// Member states and weights: created and pinned by userspace (no program
/// reads it).
pub(crate) const MEMBERS: &str = "MEMBERS";

/// `BPF_F_INNER_MAP`: inner maps of any size fit the outer map.
const BPF_F_INNER_MAP: u32 = 1 << 12;
/// `BPF_MAP_TYPE_ARRAY`.
const BPF_MAP_TYPE_ARRAY: u32 = 2;

/// Every map, for pinning and removal.
pub(crate) const ALL: [&str; 14] = [
    SVC4,
    SVC6,
    BACKEND4,
    BACKEND6,
    VIP4,
    VIP6,
    REVNAT4,
    REVNAT6,
    SVC_STATS,
    BACKEND_STATS,
    AFFINITY,
    AFFINITY_MATCH,
    MAGLEV,
    MEMBERS,
];

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

fn raw_fd(map: &Map) -> Option<RawFd> {
    match map {
        Map::HashMap(md) => Some(md.fd().as_fd().as_raw_fd()),
        _ => None,
    }
}

impl std::fmt::Debug for BpfMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BpfMaps")
            .field("cpus", &self.cpus)
            .finish_non_exhaustive()
    }
}

fn conv(map: &'static str, op: &'static str) -> impl Fn(AyaMapError) -> MapError {
    move |e| match e {
        AyaMapError::SyscallError(s) => {
            let code = s.io_error.raw_os_error();
            if code == Some(libc::E2BIG) || code == Some(libc::ENOSPC) {
                MapError::Full { map, op }
            } else {
                MapError::Os {
                    map,
                    op,
                    source: s.io_error,
                }
            }
        }
        other => MapError::Os {
            map,
            op,
            source: io::Error::other(other.to_string()),
        },
    }
}

fn ignore_missing(r: Result<(), AyaMapError>) -> Result<(), AyaMapError> {
    match r {
        Err(AyaMapError::KeyNotFound) | Err(AyaMapError::ElementNotFound) => Ok(()),
        Err(AyaMapError::SyscallError(s)) if s.io_error.raw_os_error() == Some(libc::ENOENT) => {
            Ok(())
        }
        other => other,
    }
}

pub(crate) fn v4(a: Ipv4Addr) -> u32 {
    u32::from_ne_bytes(a.octets())
}

pub(crate) fn v6(a: Ipv6Addr) -> [u32; 4] {
    let o = a.octets();
    [0, 1, 2, 3].map(|i| u32::from_ne_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]))
}

fn from_v4(a: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a.to_ne_bytes()))
}

fn from_v6(w: [u32; 4]) -> IpAddr {
    let mut o = [0u8; 16];
    for (i, word) in w.iter().enumerate() {
        o[4 * i..4 * i + 4].copy_from_slice(&word.to_ne_bytes());
    }
    IpAddr::V6(Ipv6Addr::from(o))
}

/// Network byte order, as `user_port` holds it.
pub(crate) const fn port_be(p: u16) -> u16 {
    p.to_be()
}

fn key4(k: &SlotKey, a: Ipv4Addr) -> Service4Key {
    Service4Key::slot(
        v4(a),
        port_be(k.frontend.port),
        k.frontend.protocol.number(),
        k.gen_,
        k.slot,
    )
}

fn key6(k: &SlotKey, a: Ipv6Addr) -> Service6Key {
    Service6Key::slot(
        v6(a),
        port_be(k.frontend.port),
        k.frontend.protocol.number(),
        k.gen_,
        k.slot,
    )
}

fn slot_key(vip: IpAddr, port: u16, proto: u8, gen_: u8, slot: u16) -> Result<SlotKey, MapError> {
    let protocol = Protocol::from_number(proto).ok_or_else(|| MapError::Corrupt {
        map: SVC4,
        reason: format!("protocol {proto} in a service key"),
    })?;
    Ok(SlotKey {
        frontend: FrontendKey {
            vip,
            port: u16::from_be(port),
            protocol,
        },
        gen_,
        slot,
    })
}

fn take<T: TryFrom<Map, Error = AyaMapError>>(
    maps: &mut dyn FnMut(&'static str) -> Option<Map>,
    name: &'static str,
    fd: Option<&mut RawFd>,
) -> Result<T, MapError> {
    let map = maps(name).ok_or_else(|| MapError::Corrupt {
        map: name,
        reason: "missing from the object or bpffs".into(),
    })?;
    if let Some(fd) = fd {
        *fd = raw_fd(&map).ok_or_else(|| MapError::Corrupt {
            map: name,
            reason: "not a hash map".into(),
        })?;
    }
    T::try_from(map).map_err(conv(name, "open"))
}

/// A batch update through the raw fd, as a [`MapError`].
fn batch<K: Copy, V: Copy>(
    fd: RawFd,
    map: &'static str,
    keys: &[K],
    values: &[V],
) -> Result<(), MapError> {
    if keys.is_empty() {
        return Ok(());
    }
    // SAFETY: fd belongs to one of this struct's maps, which outlive the call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    sys::map_update_batch(fd, keys, values).map_err(|source| {
        if source.raw_os_error() == Some(libc::E2BIG) || source.raw_os_error() == Some(libc::ENOSPC)
        {
            MapError::Full {
                map,
                op: "batch update",
            }
        } else {
            MapError::Os {
                map,
                op: "batch update",
                source,
            }
        }
    })
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

    fn dump(&self) -> Result<Dump, MapError> {
        let mut d = Dump::default();
        for e in self.svc4.iter() {
            let (k, v) = e.map_err(conv(SVC4, "dump"))?;
            d.slots.push((
                slot_key(from_v4(k.addr), k.port, k.proto, k.gen_, k.slot)?,
                v,
            ));
        }
        for e in self.svc6.iter() {
            let (k, v) = e.map_err(conv(SVC6, "dump"))?;
            d.slots.push((
                slot_key(from_v6(k.addr), k.port, k.proto, k.gen_, k.slot)?,
                v,
            ));
        }
        for e in self.be4.iter() {
            let (id, b) = e.map_err(conv(BACKEND4, "dump"))?;
            let proto = Protocol::from_number(b.proto).unwrap_or_default();
            d.backends.push((
                id,
                Backend::new(from_v4(b.addr), u16::from_be(b.port)),
                proto,
            ));
        }
        for e in self.be6.iter() {
            let (id, b) = e.map_err(conv(BACKEND6, "dump"))?;
            let proto = Protocol::from_number(b.proto).unwrap_or_default();
            d.backends.push((
                id,
                Backend::new(from_v6(b.addr), u16::from_be(b.port)),
                proto,
            ));
        }
        for e in self.members.iter() {
            let (k, v) = e.map_err(conv(MEMBERS, "dump"))?;
            let addr = if k.family == 4 {
                from_v4(k.addr[0])
            } else {
                from_v6(k.addr)
            };
            let state = match v.state {
                MEMBER_TERMINATING => BackendState::Terminating,
                MEMBER_QUARANTINED => BackendState::Quarantined,
                _ => BackendState::Active,
            };
            d.members.push((
                k.service_id,
                Backend::new(addr, u16::from_be(k.port)),
                Protocol::from_number(k.proto).unwrap_or_default(),
                BackendOptions {
                    state,
                    weight: v.weight,
                },
            ));
        }
        for e in self.vip4.iter() {
            let (a, n) = e.map_err(conv(VIP4, "dump"))?;
            d.vips.push((from_v4(a), n));
        }
        for e in self.vip6.iter() {
            let (a, n) = e.map_err(conv(VIP6, "dump"))?;
            d.vips.push((from_v6(a), n));
        }
        Ok(d)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_in_network_order() {
        let a: Ipv4Addr = "10.96.0.10".parse().unwrap();
        assert_eq!(v4(a).to_ne_bytes(), [10, 96, 0, 10]);
        assert_eq!(from_v4(v4(a)), IpAddr::V4(a));
        let b: Ipv6Addr = "fd00:10:96::a".parse().unwrap();
        assert_eq!(from_v6(v6(b)), IpAddr::V6(b));
        assert_eq!(port_be(80).to_ne_bytes(), [0, 80]);
    }
}
