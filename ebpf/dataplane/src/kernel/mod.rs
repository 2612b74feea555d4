//! The kernel side: loads the programs, pins maps and links under a bpffs
//! directory, attaches to a cgroup-v2 path, and hands out [`BpfMaps`].
//!
//! Layout under the bpffs directory (default `/sys/fs/bpf/berth`):
//! `maps-v<MAP_LAYOUT_VERSION>/<MAP>` and `links/<program>`. A restart finds
//! both: maps are reused as they are, and each pinned link gets the newly
//! loaded program by an atomic link update, so traffic never sees a moment
//! without translation.

mod bpf_maps;
mod conntrack;
mod nodeport;
mod sock_iter;
mod sockdiag;
mod sys;
mod terminate;

use std::{
    fs, io,
    os::fd::AsFd,
    path::{Path, PathBuf},
};

use aya::{
    EbpfLoader,
    maps::{Map, MapData},
    programs::{CgroupAttachMode, CgroupSockAddr, links::FdLink},
};
use berth_ebpf_common::MAP_LAYOUT_VERSION;
use tracing::{debug, info};

pub use bpf_maps::BpfMaps;
pub use conntrack::{CtEntry, ct_flush, ct_list};
pub use nodeport::{DEFAULT_CT_ENTRIES, NodePort, NodePortStats, nodeport_stats, start_nodeport};

use crate::{error::MapError, model::Limits, table::Lb};

/// The compiled programs, built by build.rs.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/berth-sock-lb.o"));

/// Program names in the object: one per cgroup sock_addr attach point.
pub const PROGRAMS: [&str; 8] = [
    "berth_connect4",
    "berth_sendmsg4",
    "berth_recvmsg4",
    "berth_getpeername4",
    "berth_connect6",
    "berth_sendmsg6",
    "berth_recvmsg6",
    "berth_getpeername6",
];

/// Default bpffs directory.
pub const DEFAULT_BPFFS: &str = "/sys/fs/bpf/berth";
/// Reverse-NAT (socket) entries kept, per family.
pub const REVNAT_ENTRIES: u32 = 65_536;
/// Affinity entries kept (clients × affinity frontends), least recently
/// used first out.
pub const AFFINITY_ENTRIES: u32 = 65_536;

/// Errors of the kernel side.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("loading the eBPF object")]
    Load {
        #[source]
        source: Box<aya::EbpfError>,
    },
    #[error("program {program}: {what}")]
    Program {
        program: &'static str,
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("reading the pinned maps")]
    Maps {
        #[source]
        source: MapError,
    },
    #[error("no data plane is pinned at {path} (is `berth dataplane run` running?)")]
    NotPinned { path: PathBuf },
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> KernelError {
    let path = path.to_path_buf();
    move |source| KernelError::Io { what, path, source }
}

/// Where a data plane keeps its pins and which cgroup it serves.
#[derive(Clone, Debug)]
pub struct KernelConfig {
    pub bpffs: PathBuf,
    pub cgroup: PathBuf,
    pub limits: Limits,
}

impl KernelConfig {
    pub fn maps_dir(&self) -> PathBuf {
        maps_dir(&self.bpffs)
    }

    pub fn links_dir(&self) -> PathBuf {
        self.bpffs.join("links")
    }
}

fn maps_dir(bpffs: &Path) -> PathBuf {
    bpffs.join(format!("maps-v{MAP_LAYOUT_VERSION}"))
}

/// The cgroup-v2 root of this machine: where cgroup2 is mounted
/// (`/sys/fs/cgroup/unified` on hybrid hosts, `/sys/fs/cgroup` on unified).
pub fn cgroup2_root() -> io::Result<PathBuf> {
    berth_mountinfo::cgroup2_root()
}

/// How many BPF programs are attached to the cgroup at `cgroup` itself
/// (not inherited), over every attach type (BPF_PROG_QUERY).
pub fn cgroup_programs(cgroup: &Path) -> io::Result<usize> {
    let dir = fs::File::open(cgroup)?;
    sys::cgroup_programs(dir.as_fd())
}

/// Makes sure the parent of `bpffs` is a BPF file system (mounting one at
/// /sys/fs/bpf when nothing is there) and creates the directory.
pub fn ensure_bpffs(bpffs: &Path) -> Result<(), KernelError> {
    let parent = bpffs.parent().unwrap_or(Path::new("/sys/fs/bpf"));
    fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
    if !sys::is_bpffs(parent).map_err(io_err("statfs", parent))? {
        sys::mount_bpffs(parent).map_err(io_err("mounting bpffs at", parent))?;
        info!(path = %parent.display(), "mounted bpffs");
    }
    fs::create_dir_all(bpffs).map_err(io_err("creating", bpffs))
}

/// Loads and attaches the programs (adopting pinned maps and links), and
/// returns the load balancer over the maps, adopted and repaired.
pub fn start(cfg: &KernelConfig) -> Result<Lb<BpfMaps>, KernelError> {
    ensure_bpffs(&cfg.bpffs)?;
    let maps_dir = cfg.maps_dir();
    let links_dir = cfg.links_dir();
    fs::create_dir_all(&maps_dir).map_err(io_err("creating", &maps_dir))?;
    fs::create_dir_all(&links_dir).map_err(io_err("creating", &links_dir))?;
    // Pinned maps keep the sizes they were created with: a restart with
    // other limits adopts them as they are (a resize is a `down` + start).
    let l = if maps_dir.join(bpf_maps::SVC4).exists() {
        let pinned = pinned_limits(&maps_dir, cfg.limits.maglev_table_size)?;
        if pinned != cfg.limits {
            tracing::warn!(?pinned, requested = ?cfg.limits, "pinned maps keep their sizes");
        }
        pinned
    } else {
        cfg.limits
    };
    let mut loader = loader(&maps_dir, &l);
    let mut ebpf = loader.load(OBJECT).map_err(|e| KernelError::Load {
        source: Box::new(e),
    })?;
    let cgroup = fs::File::open(&cfg.cgroup).map_err(io_err("opening cgroup", &cfg.cgroup))?;
    for name in PROGRAMS {
        let perr = |what: &'static str| {
            move |e: Box<dyn std::error::Error + Send + Sync>| KernelError::Program {
                program: name,
                what,
                source: e,
            }
        };
        let prog: &mut CgroupSockAddr = ebpf
            .program_mut(name)
            .ok_or_else(|| perr("missing from the object")(Box::from("not found")))?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| perr("type")(Box::new(e)))?;
        prog.load()
            .map_err(|e| perr("load (verifier)")(Box::new(e)))?;
        let pin = links_dir.join(name);
        if pin.exists() {
            let link = sys::obj_get(&pin).map_err(|e| perr("open pinned link")(Box::new(e)))?;
            let fd = prog.fd().map_err(|e| perr("fd")(Box::new(e)))?;
            sys::link_update(link.as_fd(), fd.as_fd())
                .map_err(|e| perr("link update")(Box::new(e)))?;
            debug!(program = name, "replaced program of pinned link");
        } else {
            // A link-based cgroup attachment takes no flags and always lets
            // other programs coexist (aya maps Single to flags 0).
            let id = prog
                .attach(&cgroup, CgroupAttachMode::Single)
                .map_err(|e| perr("attach")(Box::new(e)))?;
            let link: FdLink = prog
                .take_link(id)
                .map_err(|e| perr("take link")(Box::new(e)))?
                .try_into()
                .map_err(|e: aya::programs::links::LinkError| perr("link")(Box::new(e)))?;
            link.pin(&pin).map_err(|e| perr("pin link")(Box::new(e)))?;
            debug!(program = name, cgroup = %cfg.cgroup.display(), "attached");
        }
    }
    let mut members = Some(
        bpf_maps::open_or_create_members(&maps_dir.join(bpf_maps::MEMBERS), l.backends)
            .map_err(|source| KernelError::Maps { source })?,
    );
    let mut maps = BpfMaps::from_maps(|name| match name {
        bpf_maps::MEMBERS => members.take(),
        _ => ebpf.take_map(name),
    })
    .map_err(|source| KernelError::Maps { source })?;
    maps.start_terminator(Some(&maps_dir))
        .map_err(|source| KernelError::Maps { source })?;
    let mut lb = Lb::adopt(maps, l).map_err(|source| KernelError::Maps { source })?;
    lb.repair().map_err(|source| KernelError::Maps { source })?;
    Ok(lb)
}

/// A loader that finds (or creates and pins) the load balancer's maps in
/// `maps_dir` with the sizes of `l`: every object of the data plane shares
/// them by name.
fn loader(maps_dir: &Path, l: &Limits) -> EbpfLoader<'static> {
    let mut loader = EbpfLoader::new();
    loader
        .default_map_pin_directory(maps_dir)
        .map_max_entries(bpf_maps::SVC4, l.service_map_entries())
        .map_max_entries(bpf_maps::SVC6, l.service_map_entries())
        .map_max_entries(bpf_maps::BACKEND4, l.backends)
        .map_max_entries(bpf_maps::BACKEND6, l.backends)
        .map_max_entries(bpf_maps::VIP4, l.frontends)
        .map_max_entries(bpf_maps::VIP6, l.frontends)
        .map_max_entries(bpf_maps::REVNAT4, REVNAT_ENTRIES)
        .map_max_entries(bpf_maps::REVNAT6, REVNAT_ENTRIES)
        .map_max_entries(bpf_maps::AFFINITY, AFFINITY_ENTRIES)
        .map_max_entries(bpf_maps::AFFINITY_MATCH, l.backends)
        .map_max_entries(bpf_maps::MAGLEV, l.maglev_frontends.max(1))
        .map_pin_path(bpf_maps::MAGLEV, maps_dir.join(bpf_maps::MAGLEV))
        .map_max_entries(bpf_maps::SVC_STATS, l.frontends + 1)
        .map_max_entries(bpf_maps::BACKEND_STATS, l.backends + 1);
    loader
}

fn open_pin(dir: &Path, name: &'static str) -> Option<Map> {
    let data = MapData::from_pin(dir.join(name)).ok()?;
    Map::from_map_data(data).ok()
}

/// The limits the pinned maps were created with.
/// The Maglev table size is not a property of the maps (each master says
/// its table's size): `maglev_table_size` is what new tables get.
fn pinned_limits(dir: &Path, maglev_table_size: u32) -> Result<Limits, KernelError> {
    let max = |name: &'static str| -> Result<u32, KernelError> {
        let data = MapData::from_pin(dir.join(name)).map_err(|e| KernelError::Program {
            program: name,
            what: "open pinned map",
            source: Box::new(e),
        })?;
        let info = data.info().map_err(|e| KernelError::Program {
            program: name,
            what: "map info",
            source: Box::new(e),
        })?;
        Ok(info.max_entries())
    };
    let frontends = max(bpf_maps::VIP4)?;
    let backends = max(bpf_maps::BACKEND4)?;
    let svc = max(bpf_maps::SVC4)?;
    let maglev_frontends = max(bpf_maps::MAGLEV)?;
    Ok(Limits {
        maglev_frontends,
        maglev_table_size,
        frontends,
        backends,
        backends_per_frontend: svc
            .saturating_sub(frontends + backends)
            .min(u32::from(u16::MAX)) as u16,
    })
}

/// Reads what a running (or killed) data plane left pinned, without
/// changing anything: for `berth dataplane list`.
pub fn open_pinned(bpffs: &Path) -> Result<Lb<BpfMaps>, KernelError> {
    let dir = maps_dir(bpffs);
    if !dir.join(bpf_maps::SVC4).exists() {
        return Err(KernelError::NotPinned { path: dir });
    }
    let limits = pinned_limits(&dir, Limits::default().maglev_table_size)?;
    let maps = BpfMaps::from_maps(|name| open_pin(&dir, name))
        .map_err(|source| KernelError::Maps { source })?;
    Lb::adopt(maps, limits).map_err(|source| KernelError::Maps { source })
}

/// Kernel memory of the pinned maps in bytes (the `memlock` the kernel
/// accounts for each, which counts what is allocated, not the limits, for
/// the maps that allocate on demand).
pub fn map_memory(bpffs: &Path) -> Result<u64, KernelError> {
    let dir = maps_dir(bpffs);
    let mut total = 0;
    for name in bpf_maps::ALL {
        let data = MapData::from_pin(dir.join(name)).map_err(|e| KernelError::Program {
            program: name,
            what: "open pinned map",
            source: Box::new(e),
        })?;
        let fd = {
            use std::os::fd::AsRawFd;
            data.fd().as_fd().as_raw_fd()
        };
        let path = PathBuf::from(format!("/proc/self/fdinfo/{fd}"));
        let text = fs::read_to_string(&path).map_err(io_err("reading", &path))?;
        total += text
            .lines()
            .find_map(|l| l.strip_prefix("memlock:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

/// Kernel memory (`memlock`) of the map behind `fd`.
fn memlock(fd: std::os::fd::BorrowedFd<'_>) -> Result<u64, KernelError> {
    use std::os::fd::AsRawFd;
    let path = PathBuf::from(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()));
    let text = fs::read_to_string(&path).map_err(io_err("reading", &path))?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("memlock:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0))
}

/// The Maglev tables a data plane holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaglevMemory {
    /// Tables in use.
    pub tables: u64,
    /// At most this many (`--max-maglev-frontends`).
    pub cap: u32,
    /// Kernel memory of the tables, in bytes.
    pub bytes: u64,
}

/// Counts the pinned Maglev tables and their kernel memory.
pub fn maglev_memory(bpffs: &Path) -> Result<MaglevMemory, KernelError> {
    use aya::maps::HashOfMaps;
    let path = maps_dir(bpffs).join(bpf_maps::MAGLEV);
    let perr = |what: &'static str| {
        move |e: aya::maps::MapError| KernelError::Program {
            program: bpf_maps::MAGLEV,
            what,
            source: Box::new(e),
        }
    };
    let data = MapData::from_pin(&path).map_err(perr("open pinned map"))?;
    let cap = data.info().map_err(perr("map info"))?.max_entries();
    let map = Map::from_map_data(data).map_err(perr("open"))?;
    let outer: HashOfMaps<MapData, u32, MapData> = map.try_into().map_err(perr("open"))?;
    let mut m = MaglevMemory {
        tables: 0,
        cap,
        bytes: 0,
    };
    for key in outer.keys() {
        let key = key.map_err(perr("keys"))?;
        let inner = outer.get(&key, 0).map_err(perr("inner map"))?;
        m.tables += 1;
        m.bytes += memlock(inner.fd().as_fd())?;
    }
    Ok(m)
}

/// Detaches every program and removes every pin (`berth dataplane down`).
/// Returns what was removed. Missing pieces are not an error.
pub fn down(bpffs: &Path) -> Result<Vec<PathBuf>, KernelError> {
    let links = bpffs.join("links");
    let mut removed = nodeport::down(&links)?;
    for name in PROGRAMS {
        let p = links.join(name);
        if p.exists() {
            // Detach first, synchronously: once `down` returns, no socket
            // of the cgroup is translated any more.
            let link = sys::obj_get(&p).map_err(io_err("opening pinned link", &p))?;
            sys::link_detach(link.as_fd()).map_err(io_err("detaching link", &p))?;
            fs::remove_file(&p).map_err(io_err("unpinning", &p))?;
            removed.push(p);
        }
    }
    if let Ok(entries) = fs::read_dir(bpffs) {
        for e in entries.flatten() {
            let dir = e.path();
            let is_maps = dir
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("maps-v"));
            if !is_maps {
                continue;
            }
            for m in fs::read_dir(&dir)
                .map_err(io_err("reading", &dir))?
                .flatten()
            {
                fs::remove_file(m.path()).map_err(io_err("unpinning", &m.path()))?;
                removed.push(m.path());
            }
            fs::remove_dir(&dir).map_err(io_err("removing", &dir))?;
        }
    }
    for d in [links.as_path(), bpffs] {
        if d.exists() {
            fs::remove_dir(d).map_err(io_err("removing", d))?;
        }
    }
    Ok(removed)
}
