//! CNI specification versions this plugin speaks.

use std::fmt;

/// Every version a configuration may declare, oldest first.
pub const SUPPORTED: [&str; 3] = ["0.4.0", "1.0.0", "1.1.0"];

/// The newest version; used when the input names none (VERSION, errors
/// before the configuration could be read).
pub const LATEST: &str = "1.1.0";

/// A supported specification version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// 0.4.0: results carry `"version"` in each IP entry.
    V0_4_0,
    /// 1.0.0.
    V1_0_0,
    /// 1.1.0: adds STATUS and GC.
    V1_1_0,
}

/// A `cniVersion` this plugin does not speak (CNI code 1).
#[derive(Debug, thiserror::Error)]
#[error("cniVersion: incompatible CNI version {value:?} (supported: 0.4.0, 1.0.0, 1.1.0)")]
pub struct VersionError {
    /// The value found.
    pub value: String,
}

impl Version {
    /// Parses a `cniVersion` value.
    pub fn parse(value: &str) -> Result<Version, VersionError> {
        match value {
            "0.4.0" => Ok(Version::V0_4_0),
            "1.0.0" => Ok(Version::V1_0_0),
            "1.1.0" => Ok(Version::V1_1_0),
            other => Err(VersionError {
                value: other.to_string(),
            }),
        }
    }

    /// The version as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V0_4_0 => "0.4.0",
            Version::V1_0_0 => "1.0.0",
            Version::V1_1_0 => "1.1.0",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The VERSION command's answer.
pub fn version_json(request_version: &str) -> String {
    serde_json::json!({
        "cniVersion": request_version,
        "supportedVersions": SUPPORTED,
    })
    .to_string()
}
