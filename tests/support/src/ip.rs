//! Running `ip` (iproute2) and other helper commands, with errors that say
//! what was run and what it complained about.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// The iproute2 binary.
pub(crate) const IP: &str = "ip";

/// Runs `cmd` to completion with stdin closed; returns its stdout, or
/// [`Error::Command`] carrying its stderr when it fails.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    run_with_stdin(cmd, None)
}

/// Like [`run`], feeding `input` to the command's stdin.
pub(crate) fn run_with_stdin(cmd: &mut Command, input: Option<&str>) -> Result<String> {
    let desc = describe(cmd);
    tracing::trace!(cmd = %desc, "running");
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("spawn `{desc}`"), e))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // A failed write shows up as the command's own failure below.
        if let Err(e) = stdin.write_all(input.as_bytes()) {
            tracing::debug!(cmd = %desc, error = %e, "writing stdin failed");
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io(format!("wait for `{desc}`"), e))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        let stderr = if stderr.is_empty() {
            out.status.to_string()
        } else {
            stderr
        };
        let cmd = match input {
            Some(input) => format!("{desc} <<< {:?}", input.trim_end()),
            None => desc,
        };
        return Err(Error::Command { cmd, stderr });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip [-n netns] args...`
pub(crate) fn ip(netns: Option<&str>, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new(IP);
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    run(cmd.args(args))
}

/// True when a failed `ip` command only said that the object (device or
/// namespace) is already gone.
pub(crate) fn is_gone(err: &Error) -> bool {
    match err {
        Error::Command { stderr, .. } => {
            stderr.contains("Cannot find device")
                || stderr.contains("does not exist")
                || stderr.contains("No such file or directory")
                || stderr.contains("Cannot open network namespace")
                || stderr.contains("No such device")
        }
        _ => false,
    }
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
