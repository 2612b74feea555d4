//! `IntOrString`: a port number or name (`targetPort: 8080`,
//! `targetPort: http`) or a count or percentage (`maxSurge: 25%`).

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An integer or a string, as Kubernetes' `intstr.IntOrString`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IntOrString {
    /// An integer (`8080`, `1`).
    Int(i32),
    /// A string (`http`, `25%`).
    String(String),
}

/// Why an [`IntOrString`] is not a valid count or percentage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value for IntOrString: invalid type: string is not a percentage: {value:?}")]
pub struct PercentError {
    /// The string given.
    pub value: String,
}

impl Default for IntOrString {
    fn default() -> Self {
        Self::Int(0)
    }
}

impl IntOrString {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i32> {
        match self {
            Self::Int(i) => Some(*i),
            Self::String(_) => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Int(_) => None,
            Self::String(s) => Some(s),
        }
    }

    /// The percentage, if this is a string of digits followed by `%`.
    pub fn percent(&self) -> Option<i32> {
        let digits = self.as_str()?.strip_suffix('%')?;
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// The value as a count out of `total`, as Kubernetes'
    /// `GetScaledValueFromIntOrPercent`: an integer as is, a percentage of
    /// `total` rounded up or down.
    pub fn scaled_value(&self, total: i32, round_up: bool) -> Result<i32, PercentError> {
        match self {
            Self::Int(i) => Ok(*i),
            Self::String(s) => {
                let percent = self
                    .percent()
                    .ok_or_else(|| PercentError { value: s.clone() })?;
                let product = i64::from(percent) * i64::from(total);
                let v = if round_up {
                    (product + 99).div_euclid(100)
                } else {
                    product.div_euclid(100)
                };
                Ok(i32::try_from(v).unwrap_or(i32::MAX))
            }
        }
    }
}

impl From<i32> for IntOrString {
    fn from(v: i32) -> Self {
        Self::Int(v)
    }
}

impl From<&str> for IntOrString {
    fn from(v: &str) -> Self {
        Self::String(v.to_owned())
    }
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::String(s) => f.write_str(s),
        }
    }
}

impl Serialize for IntOrString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Int(i) => serializer.serialize_i32(*i),
            Self::String(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntOrStringVisitor;

        impl Visitor<'_> for IntOrStringVisitor {
            type Value = IntOrString;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrString, E> {
                i32::try_from(v).map(IntOrString::Int).map_err(|_| {
                    E::custom(format_args!(
                        "Invalid value: {v}: out of range of a 32-bit integer"
                    ))
                })
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrString, E> {
                i32::try_from(v).map(IntOrString::Int).map_err(|_| {
                    E::custom(format_args!(
                        "Invalid value: {v}: out of range of a 32-bit integer"
                    ))
                })
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::String(v.to_owned()))
            }
        }

        deserializer.deserialize_any(IntOrStringVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled() {
        let p = IntOrString::from("25%");
        assert_eq!(p.percent(), Some(25));
        assert_eq!(p.scaled_value(10, true), Ok(3));
        assert_eq!(p.scaled_value(10, false), Ok(2));
        assert_eq!(IntOrString::from(4).scaled_value(10, true), Ok(4));
        assert!(IntOrString::from("http").scaled_value(10, true).is_err());
        assert_eq!(IntOrString::from("%").percent(), None);
        assert_eq!(IntOrString::from("-1%").percent(), None);
    }

    #[test]
    fn serde() {
        let v: IntOrString = serde_json::from_str("8080").unwrap();
        assert_eq!(v, IntOrString::Int(8080));
        let v: IntOrString = serde_json::from_str("\"http\"").unwrap();
        assert_eq!(v, IntOrString::from("http"));
        assert!(serde_json::from_str::<IntOrString>("1.5").is_err());
        assert!(serde_json::from_str::<IntOrString>("4294967296").is_err());
        assert_eq!(
            serde_json::to_string(&IntOrString::from("25%")).unwrap(),
            "\"25%\""
        );
        assert_eq!(serde_json::to_string(&IntOrString::Int(1)).unwrap(), "1");
    }
}
