//! Running the helper programs containerd comes with (`ctr`, `runc`) with a
//! time limit, and finding programs in `PATH`.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often a running command is looked at.
const WAIT_POLL: Duration = Duration::from_millis(10);

/// Why a helper command did not give its output.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program could not be started.
    #[error("could not start `{command}`")]
    Spawn {
        /// The command line.
        command: String,
        /// What exec said.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for it failed.
    #[error("waiting for `{command}`")]
    Wait {
        /// The command line.
        command: String,
        /// What wait said.
        #[source]
        source: std::io::Error,
    },
    /// It ran longer than its limit and was killed.
    #[error("`{command}` did not finish within {timeout:?} and was killed")]
    Timeout {
        /// The command line.
        command: String,
        /// The limit it exceeded.
        timeout: Duration,
    },
    /// It exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// What it wrote to stderr (and stdout, when stderr was empty),
        /// trimmed.
        stderr: String,
    },
}

/// `program` and `args` as a shell-like line, for messages.
pub(crate) fn command_line(program: &Path, args: &[&std::ffi::OsStr]) -> String {
    let mut line = program.display().to_string();
    for a in args {
        line.push(' ');
        line.push_str(&a.to_string_lossy());
    }
    line
}

/// Runs `program args` to completion within `timeout`, stdin closed;
/// returns its stdout. Blocks the calling thread; [`run`] is the async
/// form.
pub fn run_blocking(
    program: &Path,
    args: &[&std::ffi::OsStr],
    timeout: Duration,
) -> Result<String, CommandError> {
    let command = command_line(program, args);
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CommandError::Spawn {
            command: command.clone(),
            source,
        })?;
    // Drained while it runs, so that a full pipe never stalls it.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(WAIT_POLL),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CommandError::Timeout { command, timeout });
            }
            Err(source) => return Err(CommandError::Wait { command, source }),
        }
    };
    let stdout = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
    if !status.success() {
        let mut stderr = String::from_utf8_lossy(&err.join().unwrap_or_default())
            .trim()
            .to_string();
        if stderr.is_empty() {
            stderr = stdout.trim().to_string();
        }
        return Err(CommandError::Failed {
            command,
            status,
            stderr,
        });
    }
    Ok(stdout)
}

/// [`run_blocking`] on a thread of the blocking pool.
pub(crate) async fn run(
    program: &Path,
    args: &[&std::ffi::OsStr],
    timeout: Duration,
) -> Result<String, CommandError> {
    let program = program.to_path_buf();
    let args: Vec<std::ffi::OsString> = args.iter().map(|a| a.to_os_string()).collect();
    let command = command_line(
        &program,
        &args.iter().map(|a| a.as_os_str()).collect::<Vec<_>>(),
    );
    tokio::task::spawn_blocking(move || {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        run_blocking(&program, &args, timeout)
    })
    .await
    .map_err(|e| CommandError::Wait {
        command,
        source: std::io::Error::other(e),
    })?
}

/// `program` found in `PATH`, else in /usr/sbin or /usr/bin (where Debian
/// puts containerd's programs, and which a minimal `PATH` may lack).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
