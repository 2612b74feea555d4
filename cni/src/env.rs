//! The `CNI_*` environment of one invocation, and its validation.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::mac::{Mac, MacError};

/// The environment variables a runtime passes to a plugin. Built from the
/// process environment by the binary and from a map by tests.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// The `CNI_*` variables of this process.
    pub fn from_process() -> Env {
        Env::from_pairs(std::env::vars().filter(|(k, _)| k.starts_with("CNI_")))
    }

    /// An environment made of the given pairs.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Env
    where
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value of `key`, if set and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Failures to read the environment; all map to CNI code 4.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// A variable the command needs is not set.
    #[error("{var}: missing (required for {command})")]
    Missing {
        /// The variable's name.
        var: &'static str,
        /// The command that needs it.
        command: &'static str,
    },
    /// A variable has a value the spec does not allow.
    #[error("{var}: invalid value {value:?}: {reason}")]
    Invalid {
        /// The variable's name.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why it is invalid.
        reason: &'static str,
    },
}

/// The operation requested by `CNI_COMMAND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Attach a container to the network.
    Add,
    /// Detach it; idempotent.
    Del,
    /// Verify an attachment.
    Check,
    /// Report the supported versions.
    Version,
    /// Report whether the plugin can serve ADDs.
    Status,
    /// Free everything not in `cni.dev/valid-attachments`.
    Gc,
}

impl Command {
    /// Reads `CNI_COMMAND`.
    pub fn from_env(env: &Env) -> Result<Command, EnvError> {
        let value = env.get("CNI_COMMAND").ok_or(EnvError::Missing {
            var: "CNI_COMMAND",
            command: "every command",
        })?;
        Ok(match value {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "VERSION" => Command::Version,
            "STATUS" => Command::Status,
            "GC" => Command::Gc,
            other => {
                return Err(EnvError::Invalid {
                    var: "CNI_COMMAND",
                    value: other.to_string(),
                    reason: "expected ADD, DEL, CHECK, VERSION, STATUS or GC",
                });
            }
        })
    }

    /// The command as the spec spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Version => "VERSION",
            Command::Status => "STATUS",
            Command::Gc => "GC",
        }
    }
}

/// The attachment an ADD, DEL or CHECK is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_NETNS`; optional for DEL.
    pub netns: Option<PathBuf>,
    /// `CNI_ARGS` as key/value pairs.
    pub args: Vec<(String, String)>,
}

impl Attachment {
    /// Reads and validates the per-attachment variables for `command`.
    pub fn from_env(env: &Env, command: Command) -> Result<Attachment, EnvError> {
        let name = command.as_str();
        let container_id = env.get("CNI_CONTAINERID").ok_or(EnvError::Missing {
            var: "CNI_CONTAINERID",
            command: name,
        })?;
        validate_container_id(container_id)?;
        let ifname = env.get("CNI_IFNAME").ok_or(EnvError::Missing {
            var: "CNI_IFNAME",
            command: name,
        })?;
        validate_ifname("CNI_IFNAME", ifname)?;
        let netns = env.get("CNI_NETNS").map(PathBuf::from);
        if netns.is_none() && command != Command::Del {
            return Err(EnvError::Missing {
                var: "CNI_NETNS",
                command: name,
            });
        }
        let args = parse_args(env.get("CNI_ARGS").unwrap_or(""))?;
        Ok(Attachment {
            container_id: container_id.to_string(),
            ifname: ifname.to_string(),
            netns,
            args,
        })
    }
}

impl Attachment {
    /// `MAC` from `CNI_ARGS` (the reference plugins' convention), if given.
    pub fn mac_arg(&self) -> Result<Option<Mac>, EnvError> {
        let Some((_, value)) = self.args.iter().rev().find(|(k, _)| k == "MAC") else {
            return Ok(None);
        };
        value
            .parse()
            .map(Some)
            .map_err(|e: MacError| EnvError::Invalid {
                var: "CNI_ARGS",
                value: format!("MAC={value}"),
                reason: e.reason(),
            })
    }
}

/// The spec: alphanumeric, then alphanumerics, `_`, `.` and `-`.
pub(crate) fn validate_container_id(id: &str) -> Result<(), EnvError> {
    let mut bytes = id.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(EnvError::Invalid {
            var: "CNI_CONTAINERID",
            value: id.to_string(),
            reason: "must start with a letter or digit and contain only letters, digits, '_', '.' and '-'",
        })
    }
}

/// A Linux interface name: 1-15 bytes, no '/', ':' or whitespace, not `.`/`..`.
pub(crate) fn validate_ifname(var: &'static str, name: &str) -> Result<(), EnvError> {
    let bad_char = name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if name.is_empty() || name.len() > 15 || bad_char || name == "." || name == ".." {
        return Err(EnvError::Invalid {
            var,
            value: name.to_string(),
            reason: "not a valid interface name (1-15 bytes, no '/', ':' or whitespace)",
        });
    }
    Ok(())
}

/// `CNI_ARGS`: `K1=V1;K2=V2`.
fn parse_args(raw: &str) -> Result<Vec<(String, String)>, EnvError> {
    raw.split(';')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(EnvError::Invalid {
                var: "CNI_ARGS",
                value: raw.to_string(),
                reason: "expected KEY=VALUE pairs separated by ';'",
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids() {
        assert!(validate_container_id("abc-1_2.3").is_ok());
        assert!(validate_container_id("-abc").is_err());
        assert!(validate_container_id("a b").is_err());
        assert!(validate_container_id("").is_err());
    }

    #[test]
    fn ifnames() {
        assert!(validate_ifname("CNI_IFNAME", "eth0").is_ok());
        assert!(validate_ifname("CNI_IFNAME", "0123456789abcdef").is_err());
        assert!(validate_ifname("CNI_IFNAME", "a/b").is_err());
        assert!(validate_ifname("CNI_IFNAME", "..").is_err());
    }

    #[test]
    fn args() {
        let a = parse_args("IgnoreUnknown=1;K8S_POD_NAME=x").unwrap_or_default();
        assert_eq!(a.len(), 2);
        assert!(parse_args("novalue").is_err());
        assert!(parse_args("").is_ok_and(|v| v.is_empty()));
    }
}
