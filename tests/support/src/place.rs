//! Where a network device lives: a named namespace, or the namespace a thread
//! was in when the object was created (kept open by fd).

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::Arc;

use crate::cmd;
use crate::error::{Error, Result};
use crate::ip;
use crate::netns::Netns;

/// A network namespace that `ip` commands can be aimed at.
#[derive(Debug, Clone)]
pub(crate) enum Place {
    /// A namespace under `/run/netns`.
    Named { name: String, ino: u64 },
    /// The namespace of the thread that created the object.
    Fd { fd: Arc<OwnedFd>, ino: u64 },
}

impl Place {
    /// `Some(ns)` is that namespace, `None` the calling thread's namespace.
    pub(crate) fn of(ns: Option<&Netns>) -> Result<Place> {
        match ns {
            Some(ns) => Ok(Place::Named {
                name: ns.name().to_owned(),
                ino: ns.ino(),
            }),
            None => {
                let path = "/proc/thread-self/ns/net";
                let file = File::open(path).map_err(|e| Error::io(format!("open {path}"), e))?;
                let ino = file
                    .metadata()
                    .map_err(|e| Error::io(format!("stat {path}"), e))?
                    .ino();
                Ok(Place::Fd {
                    fd: Arc::new(file.into()),
                    ino,
                })
            }
        }
    }

    /// The namespace's inode number: equal inodes mean the same namespace.
    pub(crate) fn ino(&self) -> u64 {
        match self {
            Place::Named { ino, .. } | Place::Fd { ino, .. } => *ino,
        }
    }

    /// An `ip` command that operates inside this namespace.
    pub(crate) fn ip_command(&self) -> Command {
        match self {
            Place::Named { name, .. } => {
                let mut c = Command::new(ip::IP);
                c.args(["-n", name]);
                c
            }
            Place::Fd { fd, .. } => {
                let dup = fd.try_clone().map_err(|e| cmd::errno_of(&e));
                cmd::command_in(ip::IP, Some(dup), None)
            }
        }
    }

    /// `ip args...` inside this namespace.
    pub(crate) fn ip(&self, args: &[&str]) -> Result<String> {
        ip::run(self.ip_command().args(args))
    }

    /// `ip -batch -` inside this namespace, one command per line; stops at
    /// the first failing line.
    pub(crate) fn ip_batch(&self, lines: &[String]) -> Result<()> {
        let input = lines.join("\n") + "\n";
        ip::run_with_stdin(self.ip_command().args(["-batch", "-"]), Some(&input)).map(drop)
    }

    /// How `ip link set DEV netns X` can name this namespace from another
    /// process: the netns name, or our fd through `/proc/<pid>/fd/<n>`.
    pub(crate) fn netns_arg(&self) -> String {
        match self {
            Place::Named { name, .. } => name.clone(),
            Place::Fd { fd, .. } => format!("/proc/{}/fd/{}", std::process::id(), fd.as_raw_fd()),
        }
    }

    /// For log messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Place::Named { name, .. } => format!("netns {name}"),
            Place::Fd { ino, .. } => format!("netns net:[{ino}]"),
        }
    }
}
