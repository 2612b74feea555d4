//! Named network namespaces (`/run/netns/NAME`) that disappear on drop.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;

use nix::sched::{CloneFlags, setns};

use crate::cmd;
use crate::error::{Error, Result};
use crate::ip;
use crate::name;

/// Where iproute2 keeps named namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Serialises `ip netns add` until one has succeeded in this process: the
/// first one turns `/run/netns` into a shared mount point, and two racing
/// first calls can stack two mounts there.
static FIRST_ADD: Mutex<bool> = Mutex::new(false);

/// A network namespace created by this process, with `lo` up.
/// Dropping it runs `ip netns del`.
#[derive(Debug)]
pub struct Netns {
    name: String,
    path: PathBuf,
    file: File,
    ino: u64,
}

impl Netns {
    /// Creates `/run/netns/<unique name>` and brings `lo` up in it.
    pub fn new() -> Result<Netns> {
        let name = name::unique("n");
        add(&name)?;
        let path = Path::new(NETNS_RUN_DIR).join(&name);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                delete(&name);
                return Err(Error::io(format!("open {}", path.display()), e));
            }
        };
        let ino = match file.metadata() {
            Ok(m) => m.ino(),
            Err(e) => {
                delete(&name);
                return Err(Error::io(format!("stat {}", path.display()), e));
            }
        };
        let ns = Netns {
            name,
            path,
            file,
            ino,
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        tracing::debug!(netns = %ns.name, "created network namespace");
        Ok(ns)
    }

    /// The namespace's name (for `ip -n`, `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/NAME`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An fd of the namespace, e.g. for `setns(2)`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// The opened namespace file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The namespace's inode number, as in `readlink /proc/PID/ns/net`
    /// (`net:[INODE]`).
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Moves the calling thread (only) into this namespace. Sockets created
    /// afterwards by this thread belong to the namespace.
    pub fn enter_current_thread(&self) -> Result<()> {
        setns(&self.file, CloneFlags::CLONE_NEWNET)
            .map_err(|e| Error::errno(format!("setns into netns {}", self.name), e))
    }

    /// Turns IPv4 forwarding on in this namespace (a router, a node).
    pub fn enable_ip_forward(&self) -> Result<()> {
        self.run(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"))?
            .map_err(|e| Error::io(format!("enable ip_forward in netns {}", self.name), e))
    }

    /// Runs `f` on a fresh thread inside this namespace and waits for it.
    /// A panic in `f` is resumed on the calling thread.
    pub fn run<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        std::thread::scope(|s| {
            let handle = std::thread::Builder::new()
                .name(thread_name(&self.name))
                .spawn_scoped(s, || -> Result<R> {
                    self.enter_current_thread()?;
                    Ok(f())
                })
                .map_err(|e| Error::io("spawn thread", e))?;
            match handle.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Starts `f` on a new thread that first enters this namespace.
    ///
    /// # Panics
    /// If the thread cannot be created or cannot enter the namespace; see
    /// [`Netns::try_spawn`] for the fallible version.
    pub fn spawn<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.try_spawn(f)
            .unwrap_or_else(|e| panic!("spawning a thread in netns {}: {e}", self.name))
    }

    /// Starts `f` on a new thread inside this namespace; returns once the
    /// thread has entered it (or failed to).
    pub fn try_spawn<F, R>(&self, f: F) -> Result<JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let fd: OwnedFd = self
            .file
            .try_clone()
            .map_err(|e| Error::io(format!("dup fd of netns {}", self.name), e))?
            .into();
        let (entered_tx, entered_rx) = mpsc::sync_channel::<Result<()>>(1);
        let ns_name = self.name.clone();
        let handle = std::thread::Builder::new()
            .name(thread_name(&self.name))
            .spawn(move || {
                let entered = setns(&fd, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::errno(format!("setns into netns {ns_name}"), e));
                drop(fd);
                let ok = entered.is_ok();
                // The receiver waits for this message; it cannot be gone.
                let _ = entered_tx.send(entered);
                if !ok {
                    // Never run `f` outside the namespace.
                    std::panic::resume_unwind(Box::new("thread could not enter netns"));
                }
                f()
            })
            .map_err(|e| Error::io("spawn thread", e))?;
        match entered_rx.recv() {
            Ok(Ok(())) => Ok(handle),
            Ok(Err(e)) => {
                let _ = handle.join();
                Err(e)
            }
            Err(_) => {
                let _ = handle.join();
                Err(Error::io(
                    format!("thread for netns {}", self.name),
                    std::io::Error::other("exited before entering the namespace"),
                ))
            }
        }
    }

    /// `ip -n NAME args...`; returns stdout.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        ip::ip(Some(&self.name), args)
    }

    /// A `Command` that runs `program` inside this namespace (via a
    /// `pre_exec` `setns` on an fd opened now). Other namespaces, such as the
    /// mount namespace, are inherited unchanged.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let fd = self
            .file
            .try_clone()
            .map(OwnedFd::from)
            .map_err(|e| cmd::errno_of(&e));
        cmd::command_in(program, Some(fd), None)
    }
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        delete(&self.name);
    }
}

fn add(name: &str) -> Result<()> {
    let mut first = FIRST_ADD.lock().unwrap_or_else(|p| p.into_inner());
    if *first {
        drop(first);
        return ip::ip(None, &["netns", "add", name]).map(drop);
    }
    ip::ip(None, &["netns", "add", name])?;
    *first = true;
    Ok(())
}

/// `ip netns del NAME`, logging instead of failing.
pub(crate) fn delete(name: &str) {
    if !Path::new(NETNS_RUN_DIR).join(name).exists() {
        tracing::debug!(netns = name, "network namespace already gone");
        return;
    }
    match ip::ip(None, &["netns", "del", name]) {
        Ok(_) => tracing::debug!(netns = name, "deleted network namespace"),
        Err(e) if ip::is_gone(&e) => {
            tracing::debug!(netns = name, "network namespace already gone")
        }
        Err(e) => tracing::warn!(netns = name, error = %e, "could not delete network namespace"),
    }
}

fn thread_name(ns: &str) -> String {
    format!("ns-{ns}")
}
