//! Settings of the forwarder, their defaults and their validation.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default time one attempt at one upstream may take.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time one client query may take across all its attempts (below
/// the 5 s a glibc stub waits, so the client hears SERVFAIL rather than
/// nothing).
pub(crate) const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(4);
/// Default limit of queries outstanding at the upstreams (CoreDNS
/// `forward` `max_concurrent`).
pub(crate) const DEFAULT_MAX_IN_FLIGHT: usize = 1000;
/// Default number of cached answers.
pub(crate) const DEFAULT_CACHE_CAPACITY: usize = 10_000;
/// Default cap on the TTL of cached positive answers, in seconds (CoreDNS
/// `cache`).
pub(crate) const DEFAULT_MAX_TTL: u32 = 3600;
/// Default cap on the TTL of cached NXDOMAIN and NODATA answers, in seconds
/// (CoreDNS `cache` `denial`).
pub(crate) const DEFAULT_MAX_NEGATIVE_TTL: u32 = 1800;
/// Default time an upstream's SERVFAIL is cached, in seconds (CoreDNS
/// `cache` `servfail`).
pub(crate) const DEFAULT_SERVFAIL_TTL: u32 = 5;
/// Default time between health probes of an upstream marked down (CoreDNS
/// `forward` `health_check`).
pub(crate) const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_millis(500);
/// Default number of consecutive failures that mark an upstream down
/// (CoreDNS `forward` `max_fails`).
pub(crate) const DEFAULT_FAIL_THRESHOLD: u32 = 2;

/// Errors of the forwarder's configuration.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// A setting is out of range.
    #[error("forward setting {field} = {value}: {reason}")]
    InvalidConfig {
        /// The field, e.g. `timeout`.
        field: &'static str,
        /// The value given.
        value: String,
        /// What it must be.
        reason: &'static str,
    },
    /// The resolv.conf file could not be read.
    #[error("reading resolver configuration {path:?}")]
    ReadResolvConf {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The resolv.conf file names no usable nameserver.
    #[error("resolver configuration {path:?} has no usable nameserver line")]
    NoNameservers {
        /// The file.
        path: PathBuf,
    },
}

/// Settings of the [`crate::Forwarder`].
///
/// Upstreams are tried in the order given (failover goes to the next healthy
/// one). TTL caps are in seconds, like record TTLs; 0 disables caching of
/// that kind of answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardConfig {
    /// The upstream resolvers (`--upstream ADDR`); the default is empty: the
    /// caller fills it, e.g. from [`crate::upstreams_from_resolv_conf`].
    pub upstreams: Vec<SocketAddr>,
    /// Time one attempt at one upstream may take: the UDP exchange plus,
    /// after a truncated answer, the TCP one (default 2 s). Also the time a
    /// health probe may take.
    pub timeout: Duration,
    /// Time one client query may take across all its attempts; when it is
    /// spent the answer is SERVFAIL (default 4 s, below the 5 s a glibc
    /// client waits).
    pub query_timeout: Duration,
    /// Queries outstanding at the upstreams beyond which new cache misses
    /// are answered REFUSED at once (default 1000, CoreDNS
    /// `max_concurrent`).
    pub max_in_flight: usize,
    /// Number of cached answers; when full, the answer closest to expiry is
    /// evicted (default 10 000). 0 disables the cache.
    pub cache_capacity: usize,
    /// Cap on the TTL of cached positive answers, in seconds (default 3600,
    /// like CoreDNS `cache`).
    pub max_ttl: u32,
    /// Cap on the TTL of cached NXDOMAIN and NODATA answers, in seconds
    /// (their TTL is the SOA's, per RFC 2308; default 1800, like CoreDNS
    /// `cache` `denial`).
    pub max_negative_ttl: u32,
    /// Time an upstream's SERVFAIL answer is cached, in seconds, at most 300
    /// (never the SERVFAIL the forwarder makes up itself; default 5, like
    /// CoreDNS `cache` `servfail`).
    pub servfail_ttl: u32,
    /// Time between health probes of an upstream marked down (default
    /// 500 ms, like CoreDNS `health_check`).
    pub health_interval: Duration,
    /// Consecutive failed attempts that mark an upstream down (at least 1;
    /// default 2, like CoreDNS `max_fails`).
    pub fail_threshold: u32,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        Self {
            upstreams: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            max_ttl: DEFAULT_MAX_TTL,
            max_negative_ttl: DEFAULT_MAX_NEGATIVE_TTL,
            servfail_ttl: DEFAULT_SERVFAIL_TTL,
            health_interval: DEFAULT_HEALTH_INTERVAL,
            fail_threshold: DEFAULT_FAIL_THRESHOLD,
        }
    }
}

/// Longest a SERVFAIL may be cached, in seconds (RFC 2308 section 7.1).
const MAX_SERVFAIL_TTL: u32 = 300;
/// Longest accepted `timeout`, `query_timeout` and `health_interval`.
const MAX_DURATION: Duration = Duration::from_secs(3600);

impl ForwardConfig {
    /// The default settings with these upstreams.
    pub fn with_upstreams(upstreams: Vec<SocketAddr>) -> Self {
        Self {
            upstreams,
            ..Self::default()
        }
    }

    /// Checks every setting; the error names the first bad field and value.
    pub fn validate(&self) -> Result<(), ForwardError> {
        let invalid = |field, value: String, reason| {
            Err(ForwardError::InvalidConfig {
                field,
                value,
                reason,
            })
        };
        if self.upstreams.is_empty() {
            return invalid("upstreams", "[]".into(), "at least one upstream is needed");
        }
        if let Some(addr) = self
            .upstreams
            .iter()
            .find(|a| a.port() == 0 || a.ip().is_unspecified())
        {
            return invalid(
                "upstreams",
                addr.to_string(),
                "an upstream needs an address and a port",
            );
        }
        for (field, value) in [
            ("timeout", self.timeout),
            ("query_timeout", self.query_timeout),
            ("health_interval", self.health_interval),
        ] {
            if value.is_zero() || value > MAX_DURATION {
                return invalid(
                    field,
                    format!("{value:?}"),
                    "must be above 0 and at most 1h",
                );
            }
        }
        if self.servfail_ttl > MAX_SERVFAIL_TTL {
            return invalid(
                "servfail_ttl",
                self.servfail_ttl.to_string(),
                "must be at most 300 (RFC 2308 section 7.1)",
            );
        }
        if self.max_in_flight == 0 {
            return invalid("max_in_flight", "0".into(), "must be at least 1");
        }
        if self.fail_threshold == 0 {
            return invalid("fail_threshold", "0".into(), "must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(config: &ForwardConfig) -> String {
        config.validate().unwrap_err().to_string()
    }

    #[test]
    fn defaults_need_only_upstreams() {
        let config = ForwardConfig::default();
        assert_eq!(
            err_of(&config),
            "forward setting upstreams = []: at least one upstream is needed"
        );
        let config = ForwardConfig::with_upstreams(vec!["127.0.0.1:53".parse().unwrap()]);
        config.validate().unwrap();
        assert_eq!(config.timeout, Duration::from_secs(2));
        assert_eq!(config.max_in_flight, 1000);
        assert_eq!(config.cache_capacity, 10_000);
        assert_eq!((config.max_ttl, config.max_negative_ttl), (3600, 1800));
        assert_eq!(config.health_interval, Duration::from_millis(500));
    }

    #[test]
    fn errors_name_field_and_value() {
        let good = ForwardConfig::with_upstreams(vec!["127.0.0.1:53".parse().unwrap()]);
        let cases: Vec<(ForwardConfig, &str)> = vec![
            (
                ForwardConfig {
                    upstreams: vec!["127.0.0.1:0".parse().unwrap()],
                    ..good.clone()
                },
                "upstreams = 127.0.0.1:0",
            ),
            (
                ForwardConfig {
                    upstreams: vec!["[::]:53".parse().unwrap()],
                    ..good.clone()
                },
                "upstreams = [::]:53",
            ),
            (
                ForwardConfig {
                    timeout: Duration::ZERO,
                    ..good.clone()
                },
                "timeout = 0ns",
            ),
            (
                ForwardConfig {
                    query_timeout: Duration::from_secs(7200),
                    ..good.clone()
                },
                "query_timeout = 7200s",
            ),
            (
                ForwardConfig {
                    health_interval: Duration::ZERO,
                    ..good.clone()
                },
                "health_interval = 0ns",
            ),
            (
                ForwardConfig {
                    servfail_ttl: 301,
                    ..good.clone()
                },
                "servfail_ttl = 301",
            ),
            (
                ForwardConfig {
                    max_in_flight: 0,
                    ..good.clone()
                },
                "max_in_flight = 0",
            ),
            (
                ForwardConfig {
                    fail_threshold: 0,
                    ..good.clone()
                },
                "fail_threshold = 0",
            ),
        ];
        for (config, expected) in cases {
            let message = err_of(&config);
            assert!(message.contains(expected), "{message}");
        }
        let no_cache = ForwardConfig {
            cache_capacity: 0,
            max_ttl: 0,
            ..good
        };
        no_cache.validate().unwrap();
    }
}
