//! The network configuration: parsing (with the JSON path of any wrong
//! field) and validation.

mod ipam;
mod raw;

use ipnet::IpNet;
use serde_json::Value;

pub use self::ipam::{DEFAULT_DATA_DIR, IpamConf, Route};
use self::raw::RawConf;
pub use self::raw::RawDns as Dns;
use crate::mac::{Mac, MacError};
use crate::version::{Version, VersionError};

/// The plugin's `type`.
pub const PLUGIN_TYPE: &str = "berth-cni";

/// The bridge used when `bridge` is not given.
pub const DEFAULT_BRIDGE: &str = "berth0";

/// Whether the bridge carries the gateway addresses and whether the
/// container gets default routes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayMode {
    /// Plain L2 bridge (`isGateway: false`).
    None,
    /// Gateway addresses on the bridge (`isGateway: true`).
    OnBridge,
    /// As `OnBridge`, plus default routes via the gateways
    /// (`isDefaultGateway: true`).
    DefaultRoute,
}

/// `hairpinMode`: whether frames may leave a bridge port they came in on
/// (a pod reaching itself through a service VIP needs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hairpin {
    /// `hairpinMode: true`.
    On,
    /// The default.
    Off,
}

/// `promiscMode`: whether the bridge is put into promiscuous mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promisc {
    /// `promiscMode: true`.
    On,
    /// The default.
    Off,
}

/// A validated network configuration.
#[derive(Debug, Clone)]
pub struct NetConf {
    /// The declared specification version.
    pub cni_version: Version,
    /// Network name; also the IPAM directory name.
    pub name: String,
    /// Bridge device name.
    pub bridge: String,
    /// MTU of the bridge and both veth ends (kernel default when absent).
    pub mtu: Option<u32>,
    /// Gateway handling.
    pub gateway: GatewayMode,
    /// Hairpin mode of the container's bridge port.
    pub hairpin: Hairpin,
    /// Promiscuous mode of the bridge.
    pub promisc: Promisc,
    /// The container interface's MAC (`runtimeConfig.mac`, else
    /// `args.cni.mac`); `MAC` in `CNI_ARGS` is used when neither is given.
    pub mac: Option<Mac>,
    /// `ipMasq`: masquerade traffic from the pod leaving its pod CIDR.
    pub ip_masq: bool,
    /// `nonMasqueradeCIDRs` (Berth's extension): with `ipMasq`, traffic to
    /// these networks is not masqueraded either (the cluster's pod CIDR:
    /// pods on other nodes see the pod's own address).
    pub non_masq: Vec<IpNet>,
    /// Address management.
    pub ipam: IpamConf,
    /// Passed through to the result.
    pub dns: Dns,
    /// A previous plugin's result (chained invocations, CHECK).
    pub prev_result: Option<Value>,
    /// GC: the attachments to keep, as (container id, ifname).
    pub valid_attachments: Option<Vec<(String, String)>>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not JSON at all (CNI code 6).
    #[error("network configuration: malformed JSON: {source}")]
    Syntax {
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A field has the wrong JSON type (CNI code 6).
    #[error("{field}: {source}")]
    WrongType {
        /// JSON path of the field.
        field: String,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// `cniVersion` names a version this plugin does not speak (code 1).
    #[error(transparent)]
    Version {
        /// The version error.
        #[from]
        source: VersionError,
    },
    /// A required field is absent (code 7).
    #[error("{field}: missing")]
    Missing {
        /// JSON path of the field.
        field: String,
    },
    /// A field's value is not acceptable (code 7).
    #[error("{field}: invalid value {value:?}: {reason}")]
    Invalid {
        /// JSON path of the field.
        field: String,
        /// The value found.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A field this plugin does not implement (code 2).
    #[error("unsupported field {field}: {value:?}: {reason}")]
    Unsupported {
        /// JSON path of the field.
        field: String,
        /// The value found.
        value: String,
        /// What to do instead.
        reason: &'static str,
    },
}

impl NetConf {
    /// Parses and validates a network configuration.
    pub fn from_json(bytes: &[u8]) -> Result<NetConf, ConfigError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let raw: RawConf = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            let source = e.into_inner();
            if source.is_data() {
                ConfigError::WrongType { field, source }
            } else {
                ConfigError::Syntax { source }
            }
        })?;
        validate(raw)
    }
}

/// The `cniVersion` of a configuration, as far as it can be read; used to
/// version error replies.
pub fn declared_version(bytes: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    v.get("cniVersion")?.as_str().map(str::to_string)
}

fn validate(raw: RawConf) -> Result<NetConf, ConfigError> {
    let version = raw
        .cni_version
        .clone()
        .ok_or_else(|| ConfigError::Missing {
            field: "cniVersion".into(),
        })?;
    let cni_version = Version::parse(&version)?;
    unsupported(&raw)?;
    let mac = conf_mac(&raw)?;
    let name = raw.name.ok_or_else(|| ConfigError::Missing {
        field: "name".into(),
    })?;
    let name_ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !name_ok {
        return Err(invalid(
            "name",
            &name,
            "must start with a letter or digit and contain only letters, digits, '_', '.' and '-'",
        ));
    }
    match raw.kind.as_deref() {
        Some(PLUGIN_TYPE) => {}
        Some(other) => return Err(invalid("type", other, "expected \"berth-cni\"")),
        None => {
            return Err(ConfigError::Missing {
                field: "type".into(),
            });
        }
    }
    let bridge = raw
        .bridge
        .clone()
        .unwrap_or_else(|| DEFAULT_BRIDGE.to_string());
    if crate::env::validate_ifname("bridge", &bridge).is_err() {
        return Err(invalid(
            "bridge",
            &bridge,
            "not a valid interface name (1-15 bytes, no '/', ':' or whitespace)",
        ));
    }
    if let Some(mtu) = raw.mtu
        && !(68..=65535).contains(&mtu)
    {
        return Err(invalid(
            "mtu",
            &mtu.to_string(),
            "must be between 68 and 65535",
        ));
    }
    let gateway = match (
        raw.is_gateway.unwrap_or(false),
        raw.is_default_gateway.unwrap_or(false),
    ) {
        (_, true) => GatewayMode::DefaultRoute,
        (true, false) => GatewayMode::OnBridge,
        (false, false) => GatewayMode::None,
    };
    let ipam = ipam::validate(raw.ipam.ok_or_else(|| ConfigError::Missing {
        field: "ipam".into(),
    })?)?;
    let non_masq = raw
        .non_masquerade_cidrs
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.parse::<IpNet>().map(|n| n.trunc()).map_err(|_| {
                invalid(
                    &format!("nonMasqueradeCIDRs[{i}]"),
                    c,
                    "not a CIDR (10.244.0.0/16, fd00:10:244::/56)",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NetConf {
        cni_version,
        name,
        bridge,
        mtu: raw.mtu,
        gateway,
        hairpin: if raw.hairpin_mode.unwrap_or(false) {
            Hairpin::On
        } else {
            Hairpin::Off
        },
        promisc: if raw.promisc_mode.unwrap_or(false) {
            Promisc::On
        } else {
            Promisc::Off
        },
        mac,
        ip_masq: raw.ip_masq.unwrap_or(false),
        non_masq,
        ipam,
        dns: raw.dns.unwrap_or_default(),
        prev_result: raw.prev_result,
        valid_attachments: raw
            .valid_attachments
            .map(|v| v.into_iter().map(|a| (a.container_id, a.ifname)).collect()),
    })
}

/// Refuses reference-bridge options this plugin does not implement when they
/// ask for something other than the default behaviour.
fn unsupported(raw: &RawConf) -> Result<(), ConfigError> {
    let flags = [
        (
            "preserveDefaultVlan",
            raw.preserve_default_vlan,
            "VLANs are not implemented",
        ),
        ("macspoofchk", raw.macspoofchk, "not implemented"),
        (
            "enabledad",
            raw.enabledad,
            "addresses are added without DAD",
        ),
        ("forceAddress", raw.force_address, "not implemented"),
        ("portIsolation", raw.port_isolation, "not implemented"),
        (
            "disableContainerInterface",
            raw.disable_container_interface,
            "not implemented",
        ),
    ];
    for (field, value, reason) in flags {
        if value == Some(true) {
            return Err(ConfigError::Unsupported {
                field: field.into(),
                value: "true".into(),
                reason,
            });
        }
    }
    if let Some(vlan) = raw.vlan.filter(|v| *v != 0) {
        return Err(ConfigError::Unsupported {
            field: "vlan".into(),
            value: vlan.to_string(),
            reason: "VLANs are not implemented",
        });
    }
    if raw.vlan_trunk.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(ConfigError::Unsupported {
            field: "vlanTrunk".into(),
            value: "…".into(),
            reason: "VLANs are not implemented",
        });
    }
    Ok(())
}

/// `runtimeConfig.mac` takes precedence over `args.cni.mac`, as in the
/// reference `bridge` plugin.
fn conf_mac(raw: &RawConf) -> Result<Option<Mac>, ConfigError> {
    let runtime = raw.runtime_config.as_ref().and_then(|r| r.mac.as_deref());
    let args = raw
        .args
        .as_ref()
        .and_then(|a| a.cni.as_ref())
        .and_then(|c| c.mac.as_deref());
    let (field, value) = match (runtime, args) {
        (Some(v), _) if !v.is_empty() => ("runtimeConfig.mac", v),
        (_, Some(v)) if !v.is_empty() => ("args.cni.mac", v),
        _ => return Ok(None),
    };
    value
        .parse()
        .map(Some)
        .map_err(|e: MacError| invalid(field, value, e.reason()))
}

fn invalid(field: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests;
