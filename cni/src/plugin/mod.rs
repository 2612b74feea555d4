//! One invocation: read the environment and stdin, dispatch the command,
//! write the result or the spec's error object on stdout.

mod add;
mod chain;
mod check;
mod del;
mod error;
mod gc;
mod undo;

use std::io::Write;

pub use self::error::PluginError;
pub use self::gc::{gc, status};
use crate::config::{self, NetConf};
use crate::env::{Attachment, Command, Env};
use crate::error::CniError;
use crate::version::{self, LATEST};

/// The process exit status of an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exit code 0.
    Success,
    /// Exit code 1 (the error JSON is on stdout).
    Failure,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        match e {
            Exit::Success => std::process::ExitCode::SUCCESS,
            Exit::Failure => std::process::ExitCode::FAILURE,
        }
    }
}

/// Runs one plugin invocation as a runtime performs it: `env` holds the
/// `CNI_*` variables, `stdin` the network configuration. The result (ADD,
/// VERSION) or the error object is written to `out`; logs never go there.
pub fn run(env: &Env, stdin: &[u8], out: &mut impl Write) -> Exit {
    let (text, exit) = match execute(env, stdin) {
        Ok(Some(json)) => (json, Exit::Success),
        Ok(None) => (String::new(), Exit::Success),
        Err(e) => {
            let v = config::declared_version(stdin)
                .filter(|v| version::SUPPORTED.contains(&v.as_str()))
                .unwrap_or_else(|| LATEST.to_string());
            tracing::error!(code = e.code.number(), msg = %e.msg, details = %e.details, "CNI command failed");
            (e.to_json(&v), Exit::Failure)
        }
    };
    if !text.is_empty() {
        let written = out
            .write_all(text.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        if let Err(e) = written {
            tracing::error!(error = %e, "could not write to stdout");
            return Exit::Failure;
        }
    }
    exit
}

/// Like [`run`], returning the stdout text (if any) or the error.
pub fn execute(env: &Env, stdin: &[u8]) -> Result<Option<String>, CniError> {
    dispatch(env, stdin).map_err(|e| e.to_cni())
}

fn dispatch(env: &Env, stdin: &[u8]) -> Result<Option<String>, PluginError> {
    let command = Command::from_env(env)?;
    if command == Command::Version {
        let requested = config::declared_version(stdin).unwrap_or_else(|| LATEST.to_string());
        return Ok(Some(version::version_json(&requested)));
    }
    let conf = NetConf::from_json(stdin)?;
    tracing::debug!(command = command.as_str(), network = %conf.name, "CNI invocation");
    match command {
        Command::Add => {
            let att = Attachment::from_env(env, command)?;
            let result = add::add(&conf, &att)?;
            Ok(Some(result.for_version(conf.cni_version).to_json()))
        }
        Command::Del => {
            let att = Attachment::from_env(env, command)?;
            del::del(&conf, &att)?;
            Ok(None)
        }
        Command::Check => {
            let att = Attachment::from_env(env, command)?;
            check::check(&conf, &att)?;
            Ok(None)
        }
        Command::Gc => {
            let valid = conf
                .valid_attachments
                .clone()
                .ok_or(PluginError::MissingForCommand {
                    field: "cni.dev/valid-attachments",
                    command: "GC",
                })?;
            gc::gc_inner(&conf, &valid)?;
            Ok(None)
        }
        Command::Status => {
            gc::status_inner(&conf)?;
            Ok(None)
        }
        Command::Version => Ok(None),
    }
}
