//! Ending the connections of removed backends (the complaint of
//! cilium#27300 and calico#4509: a client left talking to a backend that is
//! gone). The socket LB rewrote those sockets' peer at connect() time, so
//! the kernel sees them as connected to the backend itself; the reverse-NAT
//! map says which of them went through which VIP.
//!
//! For every network namespace on the host (each distinct
//! `/proc/*/ns/net`, and the bind-mounted ones in /run/netns), a helper
//! thread enters it and ends the sockets whose peer is a removed backend
//! and whose reverse-NAT entry names the frontend it was removed from, in
//! one of two ways ([`Method`]):
//!
//! - kernels with the `bpf_sock_destroy` kfunc (6.5+): BPF socket
//!   iterators match and destroy in the kernel ([`super::sock_iter`]);
//! - older ones: a sock_diag dump of the namespace's TCP and UDP sockets,
//!   matched here, and SOCK_DESTROY for each match (needs
//!   CONFIG_INET_DIAG_DESTROY).
//!
//! `BERTH_SOCK_DESTROY=sock_diag` forces the second on any kernel (tests
//! run both paths on one kernel); `iter` insists on the first.

use std::{
    collections::HashSet,
    fs::{self, File},
    io,
    net::IpAddr,
    os::{fd::AsRawFd, unix::fs::MetadataExt},
    path::{Path, PathBuf},
};

use tracing::debug;

use super::sock_iter::{DOOMED_ENTRIES, SockIters};
use super::sockdiag::{Diag, SockId};
use crate::model::{Backend, FrontendKey, Protocol};

/// A removed backend of a frontend: its sockets through that frontend's
/// VIP are to end.
pub(crate) type Target = (FrontendKey, Backend);

/// Answers whether socket `cookie`, connected to `backend`, went through
/// `vip:port` (a reverse-NAT lookup).
pub(crate) trait RevNat: Sync {
    fn vip_of(&self, cookie: u64, backend: &Backend) -> Option<(IpAddr, u16)>;
}

/// Bind-mounted namespaces (`ip netns`) besides those of processes.
const NETNS_DIRS: [&str; 2] = ["/run/netns", "/var/run/netns"];

/// One open handle per distinct network namespace on the host.
fn namespaces() -> Vec<(PathBuf, File)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut consider = |path: PathBuf| {
        let Ok(meta) = fs::metadata(&path) else {
            return;
        };
        if seen.insert((meta.dev(), meta.ino()))
            && let Ok(f) = File::open(&path)
        {
            out.push((path, f));
        }
    };
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let name = e.file_name();
            if name
                .to_str()
                .is_some_and(|n| n.bytes().all(|c| c.is_ascii_digit()))
            {
                consider(e.path().join("ns/net"));
            }
        }
    }
    for dir in NETNS_DIRS {
        if let Ok(entries) = fs::read_dir(Path::new(dir)) {
            for e in entries.flatten() {
                consider(e.path());
            }
        }
    }
    out
}

/// Which sockets of one namespace's dump are to go.
fn doomed<'a>(
    family: i32,
    protocol: Protocol,
    ids: &'a [SockId],
    targets: &[Target],
    revnat: &dyn RevNat,
) -> Vec<&'a SockId> {
    ids.iter()
        .filter(|id| {
            let peer = Backend::new(id.dst_addr(family), u16::from_be(id.dport));
            targets.iter().any(|(frontend, backend)| {
                frontend.protocol == protocol
                    && *backend == peer
                    && revnat.vip_of(id.cookie(), &peer) == Some((frontend.vip, frontend.port))
            })
        })
        .collect()
}

/// Ends the matching sockets in the calling thread's namespace.
fn in_this_namespace(targets: &[Target], revnat: &dyn RevNat) -> io::Result<usize> {
    let mut diag = Diag::open()?;
    let mut n = 0;
    for (family, v6) in [(libc::AF_INET, false), (libc::AF_INET6, true)] {
        if !targets.iter().any(|(_, b)| b.addr.is_ipv6() == v6) {
            continue;
        }
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            if !targets.iter().any(|(f, _)| f.protocol == protocol) {
                continue;
            }
            let ids = diag.dump(family, protocol.number())?;
            for id in doomed(family, protocol, &ids, targets, revnat) {
                match diag.destroy(family, protocol.number(), id) {
                    Ok(()) => n += 1,
                    // Closed meanwhile.
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                        return Err(io::Error::new(
                            e.kind(),
                            "this kernel cannot destroy sockets (CONFIG_INET_DIAG_DESTROY)",
                        ));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(n)
}

/// The environment variable that picks the [`Method`]: `auto` (the
/// default), `iter` or `sock_diag`.
pub const METHOD_ENV: &str = "BERTH_SOCK_DESTROY";

/// How the sockets of one namespace are found and ended.
pub(crate) enum Method {
    /// BPF socket iterators calling bpf_sock_destroy (6.5+).
    Iter(SockIters),
    /// A sock_diag dump and SOCK_DESTROY per match.
    SockDiag,
}

impl Method {
    /// The iterators if this kernel has the kfunc (and `maps_dir` holds
    /// the reverse-NAT maps they share), sock_diag otherwise, as
    /// [`METHOD_ENV`] allows. Says which, and why, in the log.
    pub(crate) fn choose(maps_dir: Option<&Path>) -> Method {
        let wanted = std::env::var(METHOD_ENV).unwrap_or_default();
        if wanted == "sock_diag" {
            tracing::info!(
                method = "sock_diag",
                "ending connections of removed backends with sock_diag ({METHOD_ENV}=sock_diag)"
            );
            return Method::SockDiag;
        }
        let loaded = match maps_dir {
            Some(dir) => SockIters::load(dir).map_err(|e| {
                let mut msg = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg.push_str(&format!(": {s}"));
                    src = s.source();
                }
                msg
            }),
            None => Err("no pinned maps to share".to_string()),
        };
        match loaded {
            Ok(iters) => {
                tracing::info!(
                    method = "iter",
                    "ending connections of removed backends with bpf_sock_destroy iterators"
                );
                Method::Iter(iters)
            }
            Err(why) => {
                if wanted == "iter" {
                    tracing::error!(method = "sock_diag", reason = %why, "{METHOD_ENV}=iter, but the bpf_sock_destroy iterators did not load; using sock_diag");
                } else {
                    tracing::info!(method = "sock_diag", reason = %why, "ending connections of removed backends with sock_diag");
                }
                Method::SockDiag
            }
        }
    }
}

/// Starts the thread that ends connections: it takes batches of targets,
/// merges those that queued up meanwhile, and walks the namespaces once
/// per merged batch. It ends when the sender is dropped. `maps_dir` holds
/// the pinned reverse-NAT maps the in-kernel iterators share.
pub(crate) fn spawn_worker<R: RevNat + Send + 'static>(
    revnat: std::sync::Arc<R>,
    maps_dir: Option<PathBuf>,
) -> io::Result<std::sync::mpsc::Sender<Vec<Target>>> {
    let (tx, rx) = std::sync::mpsc::channel::<Vec<Target>>();
    std::thread::Builder::new()
        .name("berth-end-conns".into())
        .spawn(move || {
            let mut method = Method::choose(maps_dir.as_deref());
            while let Ok(mut targets) = rx.recv() {
                while let Ok(more) = rx.try_recv() {
                    targets.extend(more);
                }
                let started = std::time::Instant::now();
                match terminate(&targets, &*revnat, &mut method) {
                    Ok(n) => debug!(
                        backends = targets.len(),
                        sockets = n,
                        elapsed_us = started.elapsed().as_micros() as u64,
                        "ended connections to removed backends"
                    ),
                    Err(e) => tracing::warn!(backends = targets.len(), error = %e, "connections to removed backends not ended"),
                }
                if let Some(dir) = &maps_dir {
                    match super::conntrack::ct_forget(dir, &targets) {
                        Ok(0) => {}
                        Ok(n) => debug!(entries = n, "forgot external flows to removed backends"),
                        Err(e) => tracing::warn!(error = %e, "external flows to removed backends not forgotten"),
                    }
                }
            }
        })?;
    Ok(tx)
}

/// Ends the sockets of `targets` in every namespace; returns how many.
pub(crate) fn terminate(
    targets: &[Target],
    revnat: &dyn RevNat,
    method: &mut Method,
) -> io::Result<usize> {
    if targets.is_empty() {
        return Ok(0);
    }
    match method {
        Method::SockDiag => walk(&|| in_this_namespace(targets, revnat)),
        Method::Iter(iters) => {
            // `DOOMED` holds one chunk of the batch at a time.
            let mut total = 0;
            for chunk in targets.chunks(DOOMED_ENTRIES as usize) {
                let keys = iters.arm(chunk)?;
                let shared: &SockIters = iters;
                let r = walk(&|| shared.in_this_namespace());
                iters.disarm(&keys);
                total += r?;
            }
            Ok(total)
        }
    }
}

/// Enters each namespace and runs `in_namespace` there; returns the
/// sockets it ended in all of them.
fn walk(in_namespace: &(dyn Fn() -> io::Result<usize> + Sync)) -> io::Result<usize> {
    let namespaces = namespaces();
    // setns() moves only the calling thread: a thread of its own walks the
    // namespaces and ends with the last of them.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let mut total = 0;
                for (path, ns) in &namespaces {
                    // SAFETY: setns on a namespace file this thread holds open.
                    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        // Its last process exited meanwhile.
                        debug!(ns = %path.display(), error = %io::Error::last_os_error(), "setns");
                        continue;
                    }
                    match in_namespace() {
                        Ok(n) => total += n,
                        Err(e) if e.kind() == io::ErrorKind::Unsupported => return Err(e),
                        Err(e) => debug!(ns = %path.display(), error = %e, "ending sockets"),
                    }
                }
                Ok(total)
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("socket walker panicked")))
    })
}
