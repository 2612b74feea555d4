//! Running the helper programs containerd comes with (`ctr`, `runc`) with a
//! time limit, and finding programs in `PATH`.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::Command;

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
/// returns its stdout.
pub(crate) async fn run(
    program: &Path,
    args: &[&std::ffi::OsStr],
    timeout: Duration,
) -> Result<String, CommandError> {
    let command = command_line(program, args);
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| CommandError::Spawn {
            command: command.clone(),
            source,
        })?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_elapsed) => return Err(CommandError::Timeout { command, timeout }),
        Ok(Err(source)) => return Err(CommandError::Wait { command, source }),
        Ok(Ok(output)) => output,
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if stderr.is_empty() {
            stderr = stdout.trim().to_string();
        }
        return Err(CommandError::Failed {
            command,
            status: output.status,
            stderr,
        });
    }
    Ok(stdout)
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
