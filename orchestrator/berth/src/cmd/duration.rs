//! Durations in flags, in the forms Kubernetes' flags take: `300` (seconds),
//! `250ms`, `1m30s`, `5m`, `1h`. jiff's "friendly" duration format reads
//! them (it also reads `5 min` and `1m 30s`); a bare number is seconds, as
//! the flags that took seconds read it.
//!
//! clap names the flag and the value when one of these refuses a value:
//! `invalid value '5x' for '--timeout <DURATION>': …`.

use std::time::Duration;

/// Why a duration flag's value is refused.
#[derive(Debug, thiserror::Error)]
pub enum DurationError {
    /// Not a duration at all.
    #[error("expected a duration such as 300, 250ms, 1m30s or 5m: {source}")]
    Syntax {
        #[source]
        source: jiff::Error,
    },
    /// Below zero.
    #[error("must not be negative")]
    Negative,
    /// Zero where a period is needed.
    #[error("must be greater than 0")]
    Zero,
    /// More seconds than a duration holds.
    #[error("too long")]
    TooLong,
    /// Finer than the flag counts.
    #[error("must be a whole number of seconds")]
    Fraction,
}

/// Any duration of zero or more.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|c| c.is_ascii_digit()) {
        return text
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| DurationError::TooLong);
    }
    parse_friendly(text)
}

fn parse_friendly(text: &str) -> Result<Duration, DurationError> {
    let d: jiff::SignedDuration = text
        .parse()
        .map_err(|source| DurationError::Syntax { source })?;
    Duration::try_from(d).map_err(|_| DurationError::Negative)
}

/// A period: more than zero.
pub fn positive(text: &str) -> Result<Duration, DurationError> {
    match parse(text)? {
        Duration::ZERO => Err(DurationError::Zero),
        d => Ok(d),
    }
}

/// A whole number of seconds, more than zero (for tools that count in
/// seconds, such as dnsperf's `-l`).
#[cfg_attr(not(feature = "bench"), allow(dead_code))]
pub fn whole_seconds(text: &str) -> Result<u64, DurationError> {
    let d = positive(text)?;
    if d.subsec_nanos() != 0 {
        return Err(DurationError::Fraction);
    }
    Ok(d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_forms() {
        for (text, want) in [
            ("300", Duration::from_secs(300)),
            ("250ms", Duration::from_millis(250)),
            ("1m30s", Duration::from_secs(90)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3600)),
            ("2h45m", Duration::from_secs(9900)),
            ("1.5s", Duration::from_millis(1500)),
            ("0", Duration::ZERO),
            (" 40s ", Duration::from_secs(40)),
        ] {
            assert_eq!(parse(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn refusals_say_why() {
        for (text, why) in [
            ("", "expected a duration"),
            ("5x", "expected a duration"),
            ("soon", "expected a duration"),
            ("-5s", "must not be negative"),
            ("99999999999999999999999", "too long"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
        assert!(matches!(positive("0s"), Err(DurationError::Zero)));
        assert!(matches!(
            whole_seconds("1.5s"),
            Err(DurationError::Fraction)
        ));
        assert_eq!(whole_seconds("1m").unwrap(), 60);
    }
}
