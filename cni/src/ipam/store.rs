//! On-disk reservations: one file per address under
//! `<dataDir>/<network>/`, holding `<container id>\r\n<ifname>` (the format
//! host-local writes), guarded by an exclusive `flock` on `lock`.
//!
//! Every file is written crash-safely: into a temporary file, `fsync`ed,
//! renamed into place, and the directory `fsync`ed. A reservation file is
//! therefore either complete or absent; a crash leaves at most a stale
//! `.tmp-*` file, which is ignored and swept by [`Locked::list`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

const LOCK_FILE: &str = "lock";
const LAST_PREFIX: &str = "last_reserved_ip.";
const TMP_PREFIX: &str = ".tmp-";

/// Who holds an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
}

impl Owner {
    /// An owner from its two parts.
    pub fn new(container_id: impl Into<String>, ifname: impl Into<String>) -> Owner {
        Owner {
            container_id: container_id.into(),
            ifname: ifname.into(),
        }
    }

    fn encode(&self) -> String {
        format!("{}\r\n{}", self.container_id, self.ifname)
    }

    fn decode(text: &str) -> Option<Owner> {
        let mut lines = text.lines();
        let id = lines.next()?.trim();
        let ifname = lines.next().map_or("", str::trim);
        (!id.is_empty()).then(|| Owner::new(id, ifname))
    }
}

/// One reservation file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The reserved address.
    pub ip: IpAddr,
    /// Its holder; `None` when the file could not be decoded (never written
    /// by this plugin; such a file is left alone except by GC).
    pub owner: Option<Owner>,
}

/// Failures of the reservation store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was attempted.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Another invocation held the lock for too long.
    #[error("lock {path}: still held by another invocation after {waited:?}")]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long this invocation waited.
        waited: Duration,
    },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError + use<> {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}

/// The reservation directory of one network.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// `<data_dir>/<network>`, created if missing.
    pub fn open(data_dir: &Path, network: &str) -> Result<Store, StoreError> {
        let dir = data_dir.join(network);
        fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        Ok(Store { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the network's lock, waiting at most `timeout`.
    pub fn lock(&self, timeout: Duration) -> Result<Locked<'_>, StoreError> {
        let path = self.dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        let began = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => {
                    return Ok(Locked {
                        store: self,
                        _lock: lock,
                    });
                }
                Err((f, Errno::EWOULDBLOCK | Errno::EINTR)) => file = f,
                Err((_, e)) => return Err(io_err("flock", &path)(io::Error::from(e))),
            }
            if began.elapsed() >= timeout {
                return Err(StoreError::LockTimeout {
                    path,
                    waited: began.elapsed(),
                });
            }
            std::thread::sleep(pause);
            // Short pauses: a waiter that sleeps long lets the others overtake
            // it again and again (flock is not fair), which made the tail.
            pause = (pause * 2).min(Duration::from_millis(1));
        }
    }
}

/// The store with its lock held; dropping it releases the lock.
#[derive(Debug)]
pub struct Locked<'a> {
    store: &'a Store,
    _lock: Flock<File>,
}

impl Locked<'_> {
    fn path_of(&self, ip: IpAddr) -> PathBuf {
        self.store.dir.join(ip.to_string())
    }

    /// Whether `ip` is reserved.
    pub fn is_reserved(&self, ip: IpAddr) -> Result<bool, StoreError> {
        let path = self.path_of(ip);
        match fs::symlink_metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("stat", &path)(e)),
        }
    }

    /// Reserves `ip` for `owner` and remembers it as the last address taken
    /// from range set `set`. Durable when it returns.
    pub fn reserve(&self, ip: IpAddr, owner: &Owner, set: usize) -> Result<(), StoreError> {
        self.write_atomically(&ip.to_string(), owner.encode().as_bytes(), Sync::File)?;
        self.write_atomically(
            &format!("{LAST_PREFIX}{set}"),
            ip.to_string().as_bytes(),
            Sync::None,
        )?;
        self.sync_dir()
    }

    /// Removes the reservation of `ip` (absent is fine). Durable when it
    /// returns.
    pub fn release(&self, ip: IpAddr) -> Result<(), StoreError> {
        let path = self.path_of(ip);
        match fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &path)(e)),
        }
    }

    /// The last address reserved from range set `set`.
    pub fn last_reserved(&self, set: usize) -> Option<IpAddr> {
        let path = self.store.dir.join(format!("{LAST_PREFIX}{set}"));
        fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// Every reservation; removes leftovers of crashed writers on the way.
    pub fn list(&self) -> Result<Vec<Reservation>, StoreError> {
        let dir = &self.store.dir;
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err("read directory", dir))? {
            let entry = entry.map_err(io_err("read directory", dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TMP_PREFIX) {
                // Only writers holding the lock create these: this one is stale.
                let _ = fs::remove_file(entry.path());
                continue;
            }
            let Ok(ip) = name.parse::<IpAddr>() else {
                continue;
            };
            let owner = match fs::read_to_string(entry.path()) {
                Ok(text) => Owner::decode(&text),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("read", &entry.path())(e)),
            };
            out.push(Reservation { ip, owner });
        }
        out.sort_by_key(|r| r.ip);
        Ok(out)
    }

    fn write_atomically(&self, name: &str, content: &[u8], sync: Sync) -> Result<(), StoreError> {
        let tmp = self.store.dir.join(format!("{TMP_PREFIX}{name}"));
        let dst = self.store.dir.join(name);
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(content).map_err(io_err("write", &tmp))?;
        if sync == Sync::File {
            f.sync_all().map_err(io_err("fsync", &tmp))?;
        }
        drop(f);
        fs::rename(&tmp, &dst).map_err(io_err("rename into place", &dst))
    }

    fn sync_dir(&self) -> Result<(), StoreError> {
        let dir = &self.store.dir;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync directory", dir))
    }
}

/// Whether a temporary file is `fsync`ed before its rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// Content must survive a crash (reservations).
    File,
    /// Losing the content is harmless (the round-robin hint).
    None,
}
