//! Timestamps as Kubernetes writes them: RFC 3339 in UTC
//! (`2024-05-01T12:00:00Z`), read and written by `jiff`.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, stored as seconds and nanoseconds since the Unix epoch.
///
/// It is written in RFC 3339 form in UTC. Whole seconds are written without a
/// fraction, as Kubernetes writes `metav1.Time`; a fraction given on input
/// (as in `eventTime`, a `MicroTime`) is kept and written back, without
/// trailing zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time {
    secs: i64,
    nanos: u32,
}

/// Why a timestamp does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parsing time {value:?} as RFC 3339 (\"2006-01-02T15:04:05Z07:00\"): {reason}")]
pub struct TimeError {
    /// The text given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Time {
    /// The current time.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// The time `secs` seconds and `nanos` nanoseconds after the Unix epoch
    /// (`nanos` is reduced to whole seconds when it is 10⁹ or more).
    pub fn from_unix(secs: i64, nanos: u32) -> Self {
        Self {
            secs: secs.saturating_add(i64::from(nanos / 1_000_000_000)),
            nanos: nanos % 1_000_000_000,
        }
    }

    /// Whole seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.secs
    }

    /// Nanoseconds past [`Time::unix_seconds`].
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// The same time truncated to whole seconds (what `metav1.Time` keeps).
    pub fn truncated(&self) -> Self {
        Self {
            secs: self.secs,
            nanos: 0,
        }
    }

    /// The time as a [`SystemTime`].
    pub fn to_system_time(&self) -> SystemTime {
        let sub = Duration::from_nanos(u64::from(self.nanos));
        if self.secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(self.secs.unsigned_abs()) + sub
        } else {
            UNIX_EPOCH - Duration::from_secs(self.secs.unsigned_abs()) + sub
        }
    }
}

impl From<SystemTime> for Time {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Self::from_unix(d.as_secs().try_into().unwrap_or(i64::MAX), d.subsec_nanos()),
            Err(e) => {
                let d = e.duration();
                let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                if d.subsec_nanos() == 0 {
                    Self::from_unix(-secs, 0)
                } else {
                    Self::from_unix(-secs - 1, 1_000_000_000 - d.subsec_nanos())
                }
            }
        }
    }
}

const NANOS: i128 = 1_000_000_000;

impl Time {
    /// The same instant as a [`jiff::Timestamp`] (clamped to jiff's range,
    /// years -9999 to 9999).
    fn timestamp(&self) -> jiff::Timestamp {
        let nanos = i32::try_from(self.nanos).unwrap_or(0);
        jiff::Timestamp::new(self.secs, nanos).unwrap_or(if self.secs < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        })
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // jiff writes UTC with `Z` and the fraction without trailing zeros
        // (none for whole seconds), as Kubernetes does.
        fmt::Display::fmt(&self.timestamp(), f)
    }
}

impl FromStr for Time {
    type Err = TimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| TimeError {
            value: s.to_owned(),
            reason,
        };
        let t: jiff::Timestamp = s.parse().map_err(|e: jiff::Error| err(e.to_string()))?;
        // jiff also reads forms RFC 3339 does not have (a space for `T`,
        // bracketed zones, `±hh` offsets); Go's RFC 3339 parser, which
        // kubectl's objects went through, refuses them.
        let b = s.as_bytes();
        if !matches!(b.get(10), Some(b'T' | b't')) {
            return Err(err("expected T between the date and the time".into()));
        }
        let zone_ok = match b.last() {
            Some(b'Z' | b'z') => true,
            _ => b.len() >= 6 && matches!(b[b.len() - 6], b'+' | b'-') && b[b.len() - 3] == b':',
        };
        if !zone_ok {
            return Err(err("expected Z or a ±hh:mm offset at the end".into()));
        }
        // Before 1970 jiff's fraction is negative; ours counts forward.
        let ns = t.as_nanosecond();
        let secs = i64::try_from(ns.div_euclid(NANOS)).map_err(|_| err("out of range".into()))?;
        let nanos = u32::try_from(ns.rem_euclid(NANOS)).map_err(|_| err("out of range".into()))?;
        Ok(Self::from_unix(secs, nanos))
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59Z",
            "1969-12-31T23:59:59.5Z",
            "2038-01-19T03:14:08.123456Z",
        ] {
            let t: Time = text.parse().unwrap();
            assert_eq!(t.to_string(), text);
        }
        // Kubernetes' own examples (metav1.Time, MicroTime, a lowercase
        // form RFC 3339 allows).
        let t: Time = "2006-01-02T15:04:05.999999Z".parse().unwrap();
        assert_eq!(t.subsec_nanos(), 999_999_000);
        assert_eq!(t.truncated().to_string(), "2006-01-02T15:04:05Z");
        let t: Time = "2006-01-02t15:04:05z".parse().unwrap();
        assert_eq!(t.to_string(), "2006-01-02T15:04:05Z");
        let t: Time = "1969-12-31T23:59:59.5Z".parse().unwrap();
        assert_eq!((t.unix_seconds(), t.subsec_nanos()), (-1, 500_000_000));
        let t: Time = "2024-05-01T14:00:00+02:00".parse().unwrap();
        assert_eq!(t.to_string(), "2024-05-01T12:00:00Z");
        assert_eq!(t.unix_seconds(), 1_714_564_800);
        assert_eq!(Time::from(t.to_system_time()), t);
    }

    #[test]
    fn rejects() {
        for text in [
            "",
            "2024-02-30T00:00:00Z",
            "2024-01-01T00:00:00+02",
            "2024-01-01T00:00:00Z[Europe/Paris]",
            "2024-13-01T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T24:00:00Z",
        ] {
            assert!(text.parse::<Time>().is_err(), "{text}");
        }
    }
}
