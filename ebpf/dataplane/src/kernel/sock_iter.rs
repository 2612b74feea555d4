//! Ending sockets inside the kernel where it can (6.5+): the
//! `berth-sock-destroy` object's `iter/tcp` and `iter/udp` programs call
//! the `bpf_sock_destroy` kfunc on each socket whose (VIP, backend) pair is
//! in their `DOOMED` map (see `berth_ebpf_common::destroy`). An iterator
//! sees the sockets of the network namespace it is opened in, so the
//! caller still opens one per namespace; the matching and the destroying
//! happen in the kernel, without a dump to userspace.
//!
//! aya has no kfunc relocation: the program calls a helper with
//! [`SOCK_DESTROY_PLACEHOLDER`], and [`patch_kfunc_calls`] rewrites each
//! such call in the object's iterator sections into a kfunc call
//! (`src_reg = BPF_PSEUDO_KFUNC_CALL`) with the kfunc's BTF id in the
//! running kernel before aya loads it.

use std::{
    collections::HashSet,
    io::{self, Read},
    net::IpAddr,
    os::fd::{AsFd, OwnedFd},
    path::Path,
};

use aya::{
    Btf, EbpfLoader,
    maps::{HashMap, MapData},
    programs::Iter,
};
use aya_obj::btf::BtfKind;
use berth_ebpf_common::destroy::{AF_INET, AF_INET6, DoomedKey, SOCK_DESTROY_PLACEHOLDER};
use object::{Object, ObjectSection};

use super::bpf_maps::{self, port_be, v4, v6};
use super::{REVNAT_ENTRIES, sys, terminate::Target};

/// The compiled iterators, built by build.rs.
static OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/berth-sock-destroy.o"));

/// The kfunc the programs call.
const KFUNC: &str = "bpf_sock_destroy";
/// `BPF_PSEUDO_KFUNC_CALL`, as a call instruction's source register.
const PSEUDO_KFUNC_CALL: u8 = 2;
/// `BPF_JMP | BPF_CALL`.
const CALL: u8 = 0x85;
/// Entries of `DOOMED`: the (frontend, backend) pairs of one walk; a
/// larger batch is walked in chunks of this many targets.
pub(crate) const DOOMED_ENTRIES: u32 = 4096;

/// Why the in-kernel path is not used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SockIterError {
    #[error("this kernel has no {KFUNC} kfunc (it came in Linux 6.5)")]
    NoKfunc,
    #[error("reading the kernel's BTF")]
    Btf {
        #[source]
        source: aya::BtfError,
    },
    #[error("the socket-destroy object has no {KFUNC} call to rewrite")]
    NoCall,
    #[error("the socket-destroy object: {what}")]
    Object {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The loaded iterators: a link per protocol and the `DOOMED` map.
pub(crate) struct SockIters {
    tcp: OwnedFd,
    udp: OwnedFd,
    doomed: HashMap<MapData, DoomedKey, u8>,
}

impl std::fmt::Debug for SockIters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SockIters").finish_non_exhaustive()
    }
}

impl SockIters {
    /// Loads the iterators, sharing the reverse-NAT maps pinned in
    /// `maps_dir`. [`SockIterError::NoKfunc`] on kernels before 6.5.
    pub(crate) fn load(maps_dir: &Path) -> Result<SockIters, SockIterError> {
        let btf = Btf::from_sys_fs().map_err(|source| SockIterError::Btf { source })?;
        let id = btf
            .id_by_type_name_kind(KFUNC, BtfKind::Func)
            .map_err(|_| SockIterError::NoKfunc)?;
        let object = patch_kfunc_calls(OBJECT, id)?;
        let oerr = |what: &'static str| {
            move |e: Box<dyn std::error::Error + Send + Sync>| SockIterError::Object {
                what,
                source: e,
            }
        };
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(maps_dir)
            .map_max_entries(bpf_maps::REVNAT4, REVNAT_ENTRIES)
            .map_max_entries(bpf_maps::REVNAT6, REVNAT_ENTRIES)
            .map_max_entries("DOOMED", DOOMED_ENTRIES)
            .btf(Some(&btf))
            .load(object.bytes())
            .map_err(|e| oerr("load")(Box::new(e)))?;
        let mut link = |name: &'static str, iter: &str| -> Result<OwnedFd, SockIterError> {
            let prog: &mut Iter = ebpf
                .program_mut(name)
                .ok_or_else(|| oerr("program missing")(Box::from(name)))?
                .try_into()
                .map_err(|e: aya::programs::ProgramError| oerr("program type")(Box::new(e)))?;
            prog.load(iter, &btf)
                .map_err(|e| oerr("load (verifier)")(Box::new(e)))?;
            let fd = prog.fd().map_err(|e| oerr("program fd")(Box::new(e)))?;
            sys::link_create_iter(fd.as_fd()).map_err(|e| oerr("link")(Box::new(e)))
        };
        let tcp = link("berth_destroy_tcp", "tcp")?;
        let udp = link("berth_destroy_udp", "udp")?;
        let map = ebpf
            .take_map("DOOMED")
            .ok_or_else(|| oerr("map missing")(Box::from("DOOMED")))?;
        let doomed = HashMap::try_from(map).map_err(|e| oerr("DOOMED")(Box::new(e)))?;
        Ok(SockIters { tcp, udp, doomed })
    }

    /// Puts the pairs of `targets` (at most [`DOOMED_ENTRIES`]) into
    /// `DOOMED`.
    pub(crate) fn arm(&mut self, targets: &[Target]) -> io::Result<Vec<DoomedKey>> {
        let keys: Vec<DoomedKey> = targets
            .iter()
            .map(doomed_key)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for k in &keys {
            self.doomed.insert(k, 1, 0).map_err(io::Error::other)?;
        }
        Ok(keys)
    }

    /// Empties `DOOMED` after a batch.
    pub(crate) fn disarm(&mut self, keys: &[DoomedKey]) {
        for k in keys {
            let _ = self.doomed.remove(k);
        }
    }

    /// Runs both iterators in the calling thread's namespace; returns how
    /// many sockets they ended.
    pub(crate) fn in_this_namespace(&self) -> io::Result<usize> {
        let mut n = 0;
        for link in [&self.tcp, &self.udp] {
            let fd = sys::iter_create(link.as_fd())?;
            let mut f = std::fs::File::from(fd);
            let mut out = Vec::new();
            f.read_to_end(&mut out)?;
            n += out.len();
        }
        Ok(n)
    }
}

/// The `DOOMED` key of a (frontend, removed backend) pair.
fn doomed_key((frontend, backend): &Target) -> DoomedKey {
    let words = |a: IpAddr| match a {
        IpAddr::V4(a) => [v4(a), 0, 0, 0],
        IpAddr::V6(a) => v6(a),
    };
    DoomedKey {
        backend: words(backend.addr),
        vip: words(frontend.vip),
        backend_port: port_be(backend.port),
        vip_port: port_be(frontend.port),
        family: if backend.addr.is_ipv4() {
            AF_INET
        } else {
            AF_INET6
        },
        proto: frontend.protocol.number(),
        _pad: [0; 2],
    }
}

/// An 8-byte aligned copy of an object (aya's ELF parser reads its
/// structures in place).
pub(crate) struct Aligned {
    words: Vec<u64>,
    len: usize,
}

impl Aligned {
    fn new(bytes: &[u8]) -> Aligned {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            *w = u64::from_ne_bytes(b);
        }
        Aligned {
            words,
            len: bytes.len(),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: words holds at least len initialised bytes; u8 has no
        // alignment or validity requirements.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, through the unique borrow of self.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<u8>(), self.len) }
    }
}

/// Rewrites every `call SOCK_DESTROY_PLACEHOLDER` in the object's
/// `iter/*` sections into a kfunc call of BTF id `btf_id`.
pub(crate) fn patch_kfunc_calls(object: &[u8], btf_id: u32) -> Result<Aligned, SockIterError> {
    let ranges: Vec<(u64, u64)> = {
        let file = object::File::parse(object).map_err(|e| SockIterError::Object {
            what: "parse",
            source: Box::new(e),
        })?;
        file.sections()
            .filter(|s| s.name().is_ok_and(|n| n.starts_with("iter/")))
            .filter_map(|s| s.file_range())
            .collect()
    };
    let mut out = Aligned::new(object);
    let bytes = out.bytes_mut();
    let mut patched = 0;
    for (start, size) in ranges {
        let (start, end) = (start as usize, (start + size) as usize);
        for insn in bytes[start..end].chunks_exact_mut(8) {
            let imm = u32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]);
            if insn[0] == CALL && insn[1] == 0 && imm == SOCK_DESTROY_PLACEHOLDER {
                insn[1] = PSEUDO_KFUNC_CALL << 4;
                insn[4..8].copy_from_slice(&btf_id.to_le_bytes());
                patched += 1;
            }
        }
    }
    if patched == 0 {
        return Err(SockIterError::NoCall);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_object_has_its_kfunc_calls_rewritten() {
        let patched = patch_kfunc_calls(OBJECT, 0x1234).expect("patched");
        let file = object::File::parse(patched.bytes()).expect("parse");
        let mut kfunc_calls = 0;
        for s in file
            .sections()
            .filter(|s| s.name().is_ok_and(|n| n.starts_with("iter/")))
        {
            let data = s.data().expect("data");
            for insn in data.chunks_exact(8) {
                let imm = u32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]);
                assert!(
                    !(insn[0] == CALL && imm == SOCK_DESTROY_PLACEHOLDER),
                    "a placeholder call is left"
                );
                if insn[0] == CALL && insn[1] >> 4 == PSEUDO_KFUNC_CALL {
                    assert_eq!(imm, 0x1234);
                    kfunc_calls += 1;
                }
            }
        }
        // One per program: iter/tcp and iter/udp.
        assert_eq!(kfunc_calls, 2);
    }

    #[test]
    fn doomed_keys_are_in_network_order() {
        use crate::model::{Backend, FrontendKey, Protocol};
        let f = FrontendKey {
            vip: "10.96.0.1".parse().expect("ip"),
            port: 80,
            protocol: Protocol::Tcp,
        };
        let b = Backend::new("10.244.1.2".parse().expect("ip"), 8080);
        let k = doomed_key(&(f, b));
        assert_eq!(k.backend[0].to_ne_bytes(), [10, 244, 1, 2]);
        assert_eq!(k.vip[0].to_ne_bytes(), [10, 96, 0, 1]);
        assert_eq!(k.backend_port.to_ne_bytes(), [0x1f, 0x90]);
        assert_eq!(k.vip_port.to_ne_bytes(), [0, 80]);
        assert_eq!((k.family, k.proto), (AF_INET, 6));
    }
}
