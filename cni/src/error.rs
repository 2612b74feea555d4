//! The CNI error object (`{"cniVersion","code","msg","details"}`) and the
//! well-known error codes of the CNI specification.

use std::fmt;

use serde::Serialize;

/// An error code as defined by the CNI specification (section "Error"),
/// plus Berth's own codes from 100 up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 1: incompatible CNI version.
    IncompatibleVersion,
    /// 2: unsupported field in the network configuration.
    UnsupportedField,
    /// 3: the container is unknown or does not exist.
    UnknownContainer,
    /// 4: invalid necessary environment variables (`CNI_COMMAND`, ...).
    InvalidEnv,
    /// 5: I/O failure (reading stdin, the IPAM data directory, ...).
    Io,
    /// 6: failed to decode content (malformed JSON, wrong JSON types).
    Decode,
    /// 7: invalid network configuration.
    InvalidConfig,
    /// 11: try again later (a transient condition, e.g. a lock held too long).
    TryAgain,
    /// 50: STATUS: the plugin cannot service ADD requests.
    NotAvailable,
    /// 51: STATUS: not available, and existing containers may have limited
    /// connectivity.
    NotAvailableLimited,
    /// 100: the container already holds an address from this network.
    AlreadyAllocated,
    /// 101: CHECK found the attachment different from what ADD set up.
    CheckFailed,
    /// 102: a netlink (kernel networking) operation failed.
    Netlink,
    /// 103: a range set of the address pool has no free address.
    PoolExhausted,
}

impl Code {
    /// The numeric code written into the error JSON.
    pub fn number(self) -> u32 {
        match self {
            Code::IncompatibleVersion => 1,
            Code::UnsupportedField => 2,
            Code::UnknownContainer => 3,
            Code::InvalidEnv => 4,
            Code::Io => 5,
            Code::Decode => 6,
            Code::InvalidConfig => 7,
            Code::TryAgain => 11,
            Code::NotAvailable => 50,
            Code::NotAvailableLimited => 51,
            Code::AlreadyAllocated => 100,
            Code::CheckFailed => 101,
            Code::Netlink => 102,
            Code::PoolExhausted => 103,
        }
    }
}

/// A failure of a plugin invocation, as reported to the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniError {
    /// The error code.
    pub code: Code,
    /// A short message naming the field or object and the offending value.
    pub msg: String,
    /// Longer details (the chain of causes), possibly empty.
    pub details: String,
}

impl CniError {
    /// An error with the given code and message and no details.
    pub fn new(code: Code, msg: impl Into<String>) -> CniError {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// Builds the error from any error value: `msg` is its display, `details`
    /// the display of its chain of sources.
    pub fn from_error(code: Code, err: &(dyn std::error::Error + 'static)) -> CniError {
        let mut details = Vec::new();
        let mut source = err.source();
        while let Some(s) = source {
            details.push(s.to_string());
            source = s.source();
        }
        CniError {
            code,
            msg: err.to_string(),
            details: details.join(": "),
        }
    }

    /// The spec's error JSON, for the given `cniVersion`.
    pub fn to_json(&self, cni_version: &str) -> String {
        #[derive(Serialize)]
        struct Wire<'a> {
            #[serde(rename = "cniVersion")]
            cni_version: &'a str,
            code: u32,
            msg: &'a str,
            #[serde(skip_serializing_if = "str::is_empty")]
            details: &'a str,
        }
        let wire = Wire {
            cni_version,
            code: self.code.number(),
            msg: &self.msg,
            details: &self.details,
        };
        serde_json::to_string(&wire).unwrap_or_else(|_| {
            format!(
                r#"{{"cniVersion":"{cni_version}","code":{},"msg":"error"}}"#,
                self.code.number()
            )
        })
    }
}

impl fmt::Display for CniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CNI error {}: {}", self.code.number(), self.msg)?;
        if !self.details.is_empty() {
            write!(f, " ({})", self.details)?;
        }
        Ok(())
    }
}

impl std::error::Error for CniError {}
