//! The per-packet path's conntrack tables (`CT4`, `CT6`) read and pruned
//! from userspace: `berth dataplane ct list|flush`, and the flows of
//! removed backends forgotten.

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::Path,
};

use aya::maps::{HashMap as BpfHashMap, Map, MapData};
use berth_ebpf_common::{
    PROTO_TCP,
    ct::{CT_F_REPLY, CT_F_SNAT, Ct4Key, Ct4Value, Ct6Key, Ct6Value},
};

use super::{
    KernelError, maps_dir,
    nodeport::{CT4, CT6, perr},
};
use crate::model::{Backend, FrontendKey};

/// One direction of a tracked flow, either family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CtEntry {
    /// The tuple as the packet arrives: source, destination.
    pub seen: (SocketAddr, SocketAddr),
    /// The tuple it leaves with.
    pub sent: (SocketAddr, SocketAddr),
    pub proto: u8,
    /// `CT_F_*`.
    pub flags: u8,
    pub backend_id: u32,
    pub packets: u64,
    /// `bpf_ktime_get_ns` of its last packet.
    pub last_ns: u64,
}

fn v4(a: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a.to_ne_bytes()))
}

fn v6(w: [u32; 4]) -> IpAddr {
    let mut o = [0u8; 16];
    for (i, x) in w.iter().enumerate() {
        o[4 * i..4 * i + 4].copy_from_slice(&x.to_ne_bytes());
    }
    IpAddr::V6(Ipv6Addr::from(o))
}

fn at(a: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(a, u16::from_be(port))
}

impl CtEntry {
    fn of4(k: &Ct4Key, v: &Ct4Value) -> Self {
        Self {
            seen: (at(v4(k.saddr), k.sport), at(v4(k.daddr), k.dport)),
            sent: (at(v4(v.saddr), v.sport), at(v4(v.daddr), v.dport)),
            proto: k.proto,
            flags: v.flags,
            backend_id: v.backend_id,
            packets: v.packets,
            last_ns: v.last_ns,
        }
    }

    fn of6(k: &Ct6Key, v: &Ct6Value) -> Self {
        Self {
            seen: (at(v6(k.saddr), k.sport), at(v6(k.daddr), k.dport)),
            sent: (at(v6(v.saddr), v.sport), at(v6(v.daddr), v.dport)),
            proto: k.proto,
            flags: v.flags,
            backend_id: v.backend_id,
            packets: v.packets,
            last_ns: v.last_ns,
        }
    }

    /// Whether this is the reply direction.
    pub fn is_reply(&self) -> bool {
        self.flags & CT_F_REPLY != 0
    }

    /// The frontend and the backend of the flow.
    fn ends(&self) -> (SocketAddr, SocketAddr) {
        if self.is_reply() {
            (self.sent.0, self.seen.0)
        } else {
            (self.seen.1, self.sent.1)
        }
    }

    /// One line: `TCP 10.0.0.1:4000 -> 10.0.0.2:30080 => 10.0.0.2:61001 -> 10.244.1.2:8080 original snat backend=3 packets=4 idle=1s`.
    pub fn render(&self, now_ns: u64) -> String {
        format!(
            "{} {} -> {} => {} -> {} {}{} backend={} packets={} idle={}s",
            if self.proto == PROTO_TCP {
                "TCP"
            } else {
                "UDP"
            },
            self.seen.0,
            self.seen.1,
            self.sent.0,
            self.sent.1,
            if self.is_reply() { "reply" } else { "original" },
            if self.flags & CT_F_SNAT != 0 {
                " snat"
            } else {
                ""
            },
            self.backend_id,
            self.packets,
            now_ns.saturating_sub(self.last_ns) / 1_000_000_000,
        )
    }
}

fn open<K: aya::Pod, V: aya::Pod>(
    maps_dir: &Path,
    name: &'static str,
) -> Result<Option<BpfHashMap<MapData, K, V>>, KernelError> {
    let path = maps_dir.join(name);
    if !path.exists() {
        return Ok(None);
    }
    let data = MapData::from_pin(&path).map_err(perr("open pinned conntrack map"))?;
    // An LRU hash map reads and deletes as a hash map.
    Map::LruHashMap(data)
        .try_into()
        .map(Some)
        .map_err(perr("conntrack map"))
}

/// Deletes the entries of both tables `doomed` picks; returns how many.
fn delete(maps_dir: &Path, doomed: impl Fn(&CtEntry) -> bool) -> Result<usize, KernelError> {
    let mut n = 0;
    if let Some(mut m) = open::<Ct4Key, Ct4Value>(maps_dir, CT4)? {
        let keys: Vec<Ct4Key> = m
            .iter()
            .filter_map(Result::ok)
            .filter(|(k, v)| doomed(&CtEntry::of4(k, v)))
            .map(|(k, _)| k)
            .collect();
        // An entry gone meanwhile (LRU eviction) is not an error.
        n += keys.iter().filter(|k| m.remove(k).is_ok()).count();
    }
    if let Some(mut m) = open::<Ct6Key, Ct6Value>(maps_dir, CT6)? {
        let keys: Vec<Ct6Key> = m
            .iter()
            .filter_map(Result::ok)
            .filter(|(k, v)| doomed(&CtEntry::of6(k, v)))
            .map(|(k, _)| k)
            .collect();
        n += keys.iter().filter(|k| m.remove(k).is_ok()).count();
    }
    Ok(n)
}

/// Every tracked flow direction of both families.
pub fn ct_list(bpffs: &Path) -> Result<Vec<CtEntry>, KernelError> {
    let dir = maps_dir(bpffs);
    let Some(m4) = open::<Ct4Key, Ct4Value>(&dir, CT4)? else {
        return Err(KernelError::NotPinned {
            path: dir.join(CT4),
        });
    };
    let mut out = Vec::new();
    for e in m4.iter() {
        let (k, v) = e.map_err(perr("dump CT4"))?;
        out.push(CtEntry::of4(&k, &v));
    }
    if let Some(m6) = open::<Ct6Key, Ct6Value>(&dir, CT6)? {
        for e in m6.iter() {
            let (k, v) = e.map_err(perr("dump CT6"))?;
            out.push(CtEntry::of6(&k, &v));
        }
    }
    out.sort();
    Ok(out)
}

/// Deletes every tracked flow (`berth dataplane ct flush`); returns how
/// many entries went.
pub fn ct_flush(bpffs: &Path) -> Result<usize, KernelError> {
    delete(&maps_dir(bpffs), |_| true)
}

/// Deletes the flows (both directions) of external frontends to backends
/// that left them: their next packet is a new flow, which another backend
/// answers with a reset (or, with none left, is dropped). No table pinned
/// (no per-packet path): nothing to do.
pub(crate) fn ct_forget(
    maps_dir: &Path,
    removed: &[(FrontendKey, Backend)],
) -> Result<usize, KernelError> {
    let gone: BTreeSet<(SocketAddr, u8, SocketAddr)> = removed
        .iter()
        .map(|(f, b)| {
            (
                SocketAddr::new(f.vip, f.port),
                f.protocol.number(),
                b.socket_addr(),
            )
        })
        .collect();
    if gone.is_empty() || !maps_dir.join(CT4).exists() {
        return Ok(0);
    }
    delete(maps_dir, |e| {
        let (front, back) = e.ends();
        gone.contains(&(front, e.proto, back))
    })
}
