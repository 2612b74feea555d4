//! The per-packet path (NodePort, externalIPs): loads `berth-nodeport`
//! over the load balancer's pinned maps, sets the SNAT address and ports,
//! attaches its tc ingress program to each named device (tcx links,
//! pinned as `links/nodeport@<device>`, so a restart swaps the program in
//! without a moment of no program and no flow is lost), and reads and
//! flushes the conntrack table (`CT4`, pinned, LRU).

use std::{
    collections::BTreeSet,
    fs,
    net::{Ipv4Addr, Ipv6Addr},
    os::fd::AsFd,
    path::{Path, PathBuf},
};

use aya::{
    maps::{Array, Map, MapData, PerCpuArray},
    programs::{SchedClassifier, TcAttachType, links::FdLink},
};
use berth_ebpf_common::ct::{NP_STATS_LEN, NodePortConfig as WireConfig, SNAT_PORTS};
use tracing::{debug, info};

use super::{KernelConfig, KernelError, io_err, loader, maps_dir, sys};

/// The compiled per-packet object, built by build.rs.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/berth-nodeport.o"));

/// The tc ingress program.
pub const PROGRAM: &str = "berth_nodeport_ingress";
pub(super) const CT4: &str = "CT4";
pub(super) const CT6: &str = "CT6";
const NP_CONFIG: &str = "NP_CONFIG";
const NP_STATS: &str = "NP_STATS";
/// Prefix of the pinned tc links, one per device.
const LINK_PREFIX: &str = "nodeport@";

/// Default size of the conntrack table (entries, two per flow).
pub const DEFAULT_CT_ENTRIES: u32 = 262_144;

/// What the per-packet path serves, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePort {
    /// Devices whose ingress gets the program: those clients come in on
    /// and those replies of SNATed flows come back on (the pods' bridge,
    /// the links to other nodes).
    pub devices: Vec<String>,
    /// The node's addresses SNAT uses (externalTrafficPolicy Cluster).
    pub snat4: Option<Ipv4Addr>,
    pub snat6: Option<Ipv6Addr>,
    /// SNAT source ports (inclusive).
    pub snat_ports: (u16, u16),
    /// Conntrack entries (two per flow), fixed when the map is created.
    pub ct_entries: u32,
}

impl Default for NodePort {
    fn default() -> Self {
        Self {
            devices: Vec::new(),
            snat4: None,
            snat6: None,
            snat_ports: SNAT_PORTS,
            ct_entries: DEFAULT_CT_ENTRIES,
        }
    }
}

/// An IPv6 address as the kernel's four network-order words.
pub(super) fn words(o: [u8; 16]) -> [u32; 4] {
    std::array::from_fn(|i| {
        u32::from_ne_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]])
    })
}

pub(super) fn perr<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl FnOnce(E) -> KernelError {
    move |e| KernelError::Program {
        program: PROGRAM,
        what,
        source: Box::new(e),
    }
}

/// Loads the per-packet program over the pinned maps of a started data
/// plane ([`super::start`] first), writes its settings and attaches it to
/// every device of `np` (links of devices no longer named are removed).
pub fn start_nodeport(cfg: &KernelConfig, np: &NodePort) -> Result<(), KernelError> {
    let maps_dir = cfg.maps_dir();
    let links_dir = cfg.links_dir();
    let mut l = loader(&maps_dir, &cfg.limits);
    l.map_max_entries(CT4, np.ct_entries)
        .map_max_entries(CT6, np.ct_entries)
        .map_max_entries(NP_STATS, NP_STATS_LEN);
    let mut ebpf = l.load(OBJECT).map_err(|e| KernelError::Load {
        source: Box::new(e),
    })?;
    let mut config: Array<_, WireConfig> = ebpf
        .map_mut(NP_CONFIG)
        .ok_or_else(|| perr("NP_CONFIG missing")(std::io::Error::other("not in the object")))?
        .try_into()
        .map_err(perr("NP_CONFIG"))?;
    let wire = WireConfig {
        snat4: np.snat4.map_or(0, |a| u32::from_ne_bytes(a.octets())),
        snat_port_min: np.snat_ports.0,
        snat_port_max: np.snat_ports.1,
        snat6: np.snat6.map_or([0; 4], |a| words(a.octets())),
    };
    config.set(0, wire, 0).map_err(perr("write NP_CONFIG"))?;
    let prog: &mut SchedClassifier = ebpf
        .program_mut(PROGRAM)
        .ok_or_else(|| perr("missing from the object")(std::io::Error::other("not found")))?
        .try_into()
        .map_err(perr("type"))?;
    prog.load().map_err(perr("load (verifier)"))?;
    let wanted: BTreeSet<&str> = np.devices.iter().map(String::as_str).collect();
    for dev in &wanted {
        attach(prog, &links_dir, dev)?;
    }
    for (dev, pin) in pinned_links(&links_dir) {
        if !wanted.contains(dev.as_str()) {
            detach(&pin)?;
            info!(device = %dev, "nodeport program detached (device no longer named)");
        }
    }
    Ok(())
}

/// Attaches (or, when a pinned link is there, swaps in) the program on
/// `dev`'s ingress.
fn attach(prog: &mut SchedClassifier, links_dir: &Path, dev: &str) -> Result<(), KernelError> {
    let pin = links_dir.join(format!("{LINK_PREFIX}{dev}"));
    if pin.exists() {
        let fd = prog.fd().map_err(perr("fd"))?;
        let updated =
            sys::obj_get(&pin).and_then(|link| sys::link_update(link.as_fd(), fd.as_fd()));
        match updated {
            Ok(()) => {
                debug!(device = dev, "replaced nodeport program of pinned link");
                return Ok(());
            }
            // The device went away (and maybe came back): the link is
            // dead. A fresh one replaces it.
            Err(e) => {
                debug!(device = dev, error = %e, "pinned nodeport link unusable; attaching anew");
                fs::remove_file(&pin).map_err(io_err("unpinning", &pin))?;
            }
        }
    }
    let id = prog
        .attach(dev, TcAttachType::Ingress)
        .map_err(perr("attach (tcx)"))?;
    let link: FdLink = prog
        .take_link(id)
        .map_err(perr("take link"))?
        .try_into()
        .map_err(perr("link"))?;
    link.pin(&pin).map_err(perr("pin link"))?;
    info!(device = dev, mode = "tc (tcx)", "nodeport program attached");
    Ok(())
}

/// The pinned nodeport links: (device, pin).
fn pinned_links(links_dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(links_dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let dev = name.strip_prefix(LINK_PREFIX)?.to_string();
            Some((dev, e.path()))
        })
        .collect()
}

/// Detaches and unpins one link.
fn detach(pin: &Path) -> Result<(), KernelError> {
    // A dead link (its device gone) cannot be detached and needs not be.
    if let Ok(link) = sys::obj_get(pin) {
        let _ = sys::link_detach(link.as_fd());
    }
    fs::remove_file(pin).map_err(io_err("unpinning", pin))
}

/// Detaches every nodeport link under `links_dir` (`berth dataplane
/// down`); returns the pins removed.
pub(super) fn down(links_dir: &Path) -> Result<Vec<PathBuf>, KernelError> {
    let mut removed = Vec::new();
    for (_, pin) in pinned_links(links_dir) {
        detach(&pin)?;
        removed.push(pin);
    }
    Ok(removed)
}

/// The per-packet path's counters, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodePortStats {
    pub new_flows: u64,
    pub tracked_packets: u64,
    pub dropped_no_backend: u64,
    pub dropped_no_snat_port: u64,
    pub fib_misses: u64,
}

/// Reads the counters.
pub fn nodeport_stats(bpffs: &Path) -> Result<NodePortStats, KernelError> {
    let path = maps_dir(bpffs).join(NP_STATS);
    if !path.exists() {
        return Err(KernelError::NotPinned { path });
    }
    let data = MapData::from_pin(&path).map_err(perr("open pinned NP_STATS"))?;
    let map: PerCpuArray<_, u64> = Map::PerCpuArray(data)
        .try_into()
        .map_err(perr("NP_STATS"))?;
    let sum = |i: u32| -> Result<u64, KernelError> {
        Ok(map.get(&i, 0).map_err(perr("read NP_STATS"))?.iter().sum())
    };
    use berth_ebpf_common::ct::*;
    Ok(NodePortStats {
        new_flows: sum(NP_STAT_NEW)?,
        tracked_packets: sum(NP_STAT_TRACKED)?,
        dropped_no_backend: sum(NP_STAT_NO_BACKEND)?,
        dropped_no_snat_port: sum(NP_STAT_NO_SNAT_PORT)?,
        fib_misses: sum(NP_STAT_FIB_MISS)?,
    })
}
