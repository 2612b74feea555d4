//! Child processes that start inside a network namespace and/or a cgroup.
//!
//! The namespace fd and the `cgroup.procs` fd are opened *before* `fork`;
//! the `pre_exec` hook only calls `write(2)` and `setns(2)` on them, which are
//! async-signal-safe and do not allocate. The fds are owned by the hook itself,
//! so they stay open exactly as long as the `Command` that may use them.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output};

use crate::cgroup::Cgroup;
use crate::netns::Netns;

/// An fd opened before fork, or the errno that opening it failed with
/// (reported when the command is spawned).
pub(crate) type PreOpened<T> = std::result::Result<T, i32>;

/// A [`Command`] that joins a cgroup and a network namespace between `fork`
/// and `exec`. Derefs to the inner `Command`, so `.arg()`, `.env()`,
/// `.stdout()`, ... work directly.
#[derive(Debug)]
pub struct NsCommand {
    command: Command,
}

/// A command for `program` that, in the child, first moves itself into
/// `cgroup` (by writing `0` to its `cgroup.procs`) and then enters `netns`.
///
/// Failing to open the namespace or the cgroup is reported by `spawn`.
pub fn in_netns_and_cgroup(
    program: impl AsRef<OsStr>,
    netns: &Netns,
    cgroup: Option<&Cgroup>,
) -> NsCommand {
    let ns_fd = netns
        .file()
        .try_clone()
        .map(OwnedFd::from)
        .map_err(|e| errno_of(&e));
    let procs = cgroup.map(|cg| {
        OpenOptions::new()
            .write(true)
            .open(cg.path().join("cgroup.procs"))
            .map_err(|e| errno_of(&e))
    });
    NsCommand {
        command: command_in(program, Some(ns_fd), procs),
    }
}

impl NsCommand {
    /// The inner command, to add arguments, environment, stdio.
    pub fn command_mut(&mut self) -> &mut Command {
        &mut self.command
    }

    /// Spawns the child (see [`Command::spawn`]).
    pub fn spawn(&mut self) -> io::Result<Child> {
        self.command.spawn()
    }

    /// Runs the child to completion, capturing its output (see [`Command::output`]).
    pub fn output(&mut self) -> io::Result<Output> {
        self.command.output()
    }

    /// Runs the child to completion (see [`Command::status`]).
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        self.command.status()
    }

    /// The plain `Command`; it keeps the pre-opened fds alive itself.
    pub fn into_command(self) -> Command {
        self.command
    }
}

impl Deref for NsCommand {
    type Target = Command;
    fn deref(&self) -> &Command {
        &self.command
    }
}

impl DerefMut for NsCommand {
    fn deref_mut(&mut self) -> &mut Command {
        &mut self.command
    }
}

impl From<NsCommand> for Command {
    fn from(c: NsCommand) -> Command {
        c.command
    }
}

/// Builds a `Command` whose `pre_exec` hook writes `0` to `cgroup_procs` and
/// then `setns(netns_fd, CLONE_NEWNET)`. The hook owns both fds.
pub(crate) fn command_in(
    program: impl AsRef<OsStr>,
    netns_fd: Option<PreOpened<OwnedFd>>,
    cgroup_procs: Option<PreOpened<File>>,
) -> Command {
    let mut command = Command::new(program);
    let hook = move || -> io::Result<()> {
        // Only raw syscalls on already-open fds below: this runs between fork
        // and exec, where allocating or taking locks can deadlock.
        if let Some(procs) = &cgroup_procs {
            let procs = procs
                .as_ref()
                .map_err(|e| io::Error::from_raw_os_error(*e))?;
            // SAFETY: `procs` is an open fd owned by this closure; the buffer
            // is a static 1-byte string. write(2) is async-signal-safe.
            let n = unsafe { libc::write(procs.as_raw_fd(), b"0".as_ptr().cast(), 1) };
            if n != 1 {
                return Err(io::Error::last_os_error());
            }
        }
        if let Some(ns) = &netns_fd {
            let ns = ns.as_ref().map_err(|e| io::Error::from_raw_os_error(*e))?;
            // SAFETY: `ns` is an open namespace fd owned by this closure.
            // setns(2) is a plain syscall and async-signal-safe.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the hook only performs async-signal-safe syscalls (write,
    // setns) on fds it owns and builds errors from raw errnos, which does not
    // allocate.
    unsafe {
        command.pre_exec(hook);
    }
    command
}

pub(crate) fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}
