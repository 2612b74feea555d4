//! One long-running `berth` process: started in a session of its own (a
//! Ctrl-C at the terminal, or the end of `berth up --detach`, does not
//! reach it), recorded in a pid file, adopted when it already runs.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

/// How often a stopping process is looked at.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// Errors of a daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A directory or file could not be written.
    #[error("{name}: writing {path}")]
    Write {
        /// The daemon.
        name: String,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The process could not be started.
    #[error("{name}: starting {program}")]
    Spawn {
        /// The daemon.
        name: String,
        /// The program.
        program: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The process ignored SIGTERM and SIGKILL.
    #[error("{name}: pid {pid} did not exit")]
    Stuck {
        /// The daemon.
        name: String,
        /// Its pid.
        pid: u32,
    },
}

/// How a start ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// A new process with this pid.
    New(u32),
    /// The process of an earlier start still ran with the same command
    /// line: it is kept.
    Adopted(u32),
}

impl Started {
    /// The pid either way.
    pub fn pid(self) -> u32 {
        match self {
            Self::New(p) | Self::Adopted(p) => p,
        }
    }
}

/// A daemon: a name, the command line, its pid file and its log.
#[derive(Debug, Clone)]
pub struct Daemon {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    pid_file: PathBuf,
    log: PathBuf,
}

impl Daemon {
    /// A daemon running `program args...`, logging to `log` (appended).
    pub fn new(
        name: &str,
        program: &Path,
        args: impl IntoIterator<Item = impl Into<OsString>>,
        pid_file: PathBuf,
        log: PathBuf,
    ) -> Self {
        Self {
            name: name.to_owned(),
            program: program.to_path_buf(),
            args: args.into_iter().map(Into::into).collect(),
            pid_file,
            log,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The pid recorded in the pid file, if that process still runs (and
    /// is not a zombie).
    pub fn recorded_pid(&self) -> Option<u32> {
        let pid: u32 = fs::read_to_string(&self.pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        alive(pid).then_some(pid)
    }

    /// The recorded pid if that process runs this daemon's command line.
    pub fn running(&self) -> Option<u32> {
        let pid = self.recorded_pid()?;
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let want: Vec<u8> = std::iter::once(self.program.as_os_str())
            .chain(self.args.iter().map(OsString::as_os_str))
            .flat_map(|a| a.as_bytes().iter().copied().chain([0]))
            .collect();
        (cmdline == want).then_some(pid)
    }

    /// Starts the process unless it already runs (then it is adopted).
    pub fn start(&self) -> Result<Started, DaemonError> {
        if let Some(pid) = self.running() {
            return Ok(Started::Adopted(pid));
        }
        let write_err = |path: &Path| {
            let (name, path) = (self.name.clone(), path.to_path_buf());
            move |source| DaemonError::Write { name, path, source }
        };
        for dir in [self.pid_file.parent(), self.log.parent()]
            .into_iter()
            .flatten()
        {
            fs::create_dir_all(dir).map_err(write_err(dir))?;
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(write_err(&self.log))?;
        let log2 = log.try_clone().map_err(write_err(&self.log))?;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        // SAFETY: setsid is async-signal-safe and touches no memory of
        // this process; it runs in the child between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|source| DaemonError::Spawn {
            name: self.name.clone(),
            program: self.program.clone(),
            source,
        })?;
        let pid = child.id();
        // The child is reaped by `stop` (or by init once we exit).
        drop(child);
        let tmp = self.pid_file.with_extension("pid.tmp");
        fs::write(&tmp, format!("{pid}\n")).map_err(write_err(&tmp))?;
        fs::rename(&tmp, &self.pid_file).map_err(write_err(&self.pid_file))?;
        Ok(Started::New(pid))
    }

    /// Whether the process of the last start still runs.
    pub fn is_alive(&self) -> bool {
        self.recorded_pid().is_some()
    }

    /// SIGTERM, then SIGKILL after `grace`; removes the pid file. Returns
    /// the pid stopped, or None when it did not run.
    pub fn stop(&self, grace: Duration) -> Result<Option<u32>, DaemonError> {
        let Some(pid) = self.recorded_pid() else {
            let _ = fs::remove_file(&self.pid_file);
            return Ok(None);
        };
        let p = Pid::from_raw(pid as i32);
        let _ = kill(p, Signal::SIGTERM);
        if !wait_gone(pid, grace) {
            let _ = kill(p, Signal::SIGKILL);
            if !wait_gone(pid, Duration::from_secs(5)) {
                return Err(DaemonError::Stuck {
                    name: self.name.clone(),
                    pid,
                });
            }
        }
        let _ = fs::remove_file(&self.pid_file);
        Ok(Some(pid))
    }
}

/// Whether `pid` is a live process (a zombie of ours is reaped and counts
/// as gone).
pub fn alive(pid: u32) -> bool {
    let p = Pid::from_raw(pid as i32);
    // Reap it if it is our exited child.
    let _ = waitpid(p, Some(WaitPidFlag::WNOHANG));
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn wait_gone(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if !alive(pid) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(EXIT_POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper(dir: &Path, secs: &str) -> Daemon {
        Daemon::new(
            "sleeper",
            Path::new("/bin/sleep"),
            [secs],
            dir.join("pids/sleeper.pid"),
            dir.join("logs/sleeper.log"),
        )
    }

    #[test]
    fn starts_adopts_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let d = sleeper(dir.path(), "30");
        let Started::New(pid) = d.start().unwrap() else {
            panic!("a fresh daemon was adopted");
        };
        assert!(d.is_alive());
        // A second start finds it.
        assert_eq!(d.start().unwrap(), Started::Adopted(pid));
        // Another command line on the same pid file is not adopted.
        let other = sleeper(dir.path(), "31");
        assert_eq!(other.running(), None);
        assert_eq!(d.stop(Duration::from_secs(5)).unwrap(), Some(pid));
        assert!(!alive(pid));
        assert!(!dir.path().join("pids/sleeper.pid").exists());
        assert_eq!(d.stop(Duration::from_secs(1)).unwrap(), None);
    }

    #[test]
    fn a_dead_process_is_started_again() {
        let dir = tempfile::tempdir().unwrap();
        let d = sleeper(dir.path(), "0");
        let first = d.start().unwrap().pid();
        assert!(wait_gone(first, Duration::from_secs(10)));
        assert!(d.running().is_none());
        let d = sleeper(dir.path(), "30");
        assert!(matches!(d.start().unwrap(), Started::New(p) if p != first));
        d.stop(Duration::from_secs(5)).unwrap();
    }
}
