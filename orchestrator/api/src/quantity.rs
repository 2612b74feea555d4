//! Kubernetes resource quantities: `100m`, `1`, `0.5`, `128Mi`, `1G`, `1e3`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The regular expression Kubernetes quotes when a quantity does not parse.
pub const QUANTITY_REGEX: &str = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// A resource quantity as written in a manifest (`cpu: 250m`,
/// `memory: 128Mi`), with its exact value.
///
/// The grammar is Kubernetes': a signed decimal number followed by a binary
/// suffix (`Ki Mi Gi Ti Pi Ei`), a decimal suffix (`n u m "" k M G T P E`) or
/// a decimal exponent (`e3`, `E-2`). The value is kept in nano-units
/// (rounded up, away from zero, past the ninth decimal place, as Kubernetes
/// does). The text is kept as written and is what serialization writes back
/// (Kubernetes would write a canonical form such as `500m` for `0.5`).
///
/// Equality and ordering compare values: `1Ki` == `1024`.
#[derive(Debug, Clone)]
pub struct Quantity {
    text: String,
    nanos: i128,
}

/// Why a quantity does not parse; the messages are Kubernetes'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text does not match [`QUANTITY_REGEX`].
    #[error("quantities must match the regular expression '{QUANTITY_REGEX}'")]
    Format,
    /// The suffix is none of the known ones.
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// The number is too large to hold.
    #[error("unable to parse numeric part of quantity (out of range)")]
    Range,
}

impl Quantity {
    /// Parses a quantity.
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let nanos = parse_nanos(text)?;
        Ok(Self {
            text: text.to_owned(),
            nanos,
        })
    }

    /// A quantity of `milli` thousandths (`250` → `250m`).
    pub fn from_milli(milli: i64) -> Self {
        let text = if milli % 1000 == 0 {
            (milli / 1000).to_string()
        } else {
            format!("{milli}m")
        };
        Self {
            text,
            nanos: i128::from(milli) * 1_000_000,
        }
    }

    /// A quantity of whole units (bytes, cores): `value` written as is.
    pub fn from_units(value: i64) -> Self {
        Self {
            text: value.to_string(),
            nanos: i128::from(value) * NANOS_PER_UNIT,
        }
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value in nano-units.
    pub fn nano_value(&self) -> i128 {
        self.nanos
    }

    /// The value in thousandths, rounded up (CPU in millicores: `0.1` → 100).
    pub fn milli_value(&self) -> i128 {
        div_ceil(self.nanos, 1_000_000)
    }

    /// The value in whole units, rounded up (memory in bytes: `1Ki` → 1024,
    /// `100m` → 1).
    pub fn value(&self) -> i128 {
        div_ceil(self.nanos, NANOS_PER_UNIT)
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }
}

/// Division rounding away from zero.
fn div_ceil(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d == 0 {
        q
    } else if n > 0 {
        q + 1
    } else {
        q - 1
    }
}

fn parse_nanos(text: &str) -> Result<i128, QuantityError> {
    let b = text.as_bytes();
    let mut pos = 0;
    let negative = match b.first() {
        Some(b'-') => {
            pos = 1;
            true
        }
        Some(b'+') => {
            pos = 1;
            false
        }
        _ => false,
    };
    // The number: digits with at most one '.', at least one digit.
    let num_start = pos;
    while pos < b.len() && (b[pos].is_ascii_digit() || b[pos] == b'.') {
        pos += 1;
    }
    let number = &text[num_start..pos];
    if number.is_empty() || number.bytes().filter(|&c| c == b'.').count() > 1 || number == "." {
        return Err(QuantityError::Format);
    }
    // The suffix: letters from the suffix set, then an optional sign and digits.
    let suffix = &text[pos..];
    let letters = suffix
        .bytes()
        .take_while(|c| b"eEinumkKMGTP".contains(c))
        .count();
    let mut rest = &suffix.as_bytes()[letters..];
    if let Some(b'+' | b'-') = rest.first() {
        rest = &rest[1..];
    }
    if !rest.iter().all(u8::is_ascii_digit) {
        return Err(QuantityError::Format);
    }
    let (mut exp10, exp2): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        s if s.len() > 1 && (s.starts_with('e') || s.starts_with('E')) => {
            let e: i32 = s[1..].parse().map_err(|_| QuantityError::Suffix)?;
            (e, 0)
        }
        _ => return Err(QuantityError::Suffix),
    };
    // Mantissa as an integer, the fraction moving the exponent.
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    exp10 = exp10
        .checked_sub(i32::try_from(frac_part.len()).map_err(|_| QuantityError::Range)?)
        .ok_or(QuantityError::Range)?;
    // Nano-units: shift by 9 decimal places.
    exp10 = exp10.checked_add(9).ok_or(QuantityError::Range)?;
    let mut nanos: i128 = 0;
    if !digits.is_empty() {
        // Keep at most 38 significant digits; what is dropped only rounds up.
        let (kept, dropped) = digits.split_at(digits.len().min(38));
        let mut mantissa: i128 = kept.parse().map_err(|_| QuantityError::Range)?;
        let mut inexact = dropped.bytes().any(|c| c != b'0');
        exp10 = exp10
            .checked_add(i32::try_from(dropped.len()).map_err(|_| QuantityError::Range)?)
            .ok_or(QuantityError::Range)?;
        mantissa = mantissa
            .checked_mul(1i128.checked_shl(exp2).ok_or(QuantityError::Range)?)
            .ok_or(QuantityError::Range)?;
        if exp10 >= 0 {
            let scale = 10i128
                .checked_pow(u32::try_from(exp10).map_err(|_| QuantityError::Range)?)
                .ok_or(QuantityError::Range)?;
            nanos = mantissa.checked_mul(scale).ok_or(QuantityError::Range)?;
        } else {
            let shift = exp10.unsigned_abs();
            if shift > 38 {
                inexact |= mantissa != 0;
                nanos = 0;
            } else {
                let scale = 10i128.pow(shift);
                inexact |= mantissa % scale != 0;
                nanos = mantissa / scale;
            }
            if inexact {
                nanos += 1;
            }
        }
        if inexact && exp10 >= 0 {
            // Dropped digits below a positive exponent: the value is too large to matter.
            return Err(QuantityError::Range);
        }
    }
    Ok(if negative { -nanos } else { nanos })
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl std::hash::Hash for Quantity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QuantityVisitor;

        fn make<E: de::Error>(text: String) -> Result<Quantity, E> {
            Quantity::parse(&text)
                .map_err(|e| E::custom(format_args!("Invalid value: {text:?}: {e}")))
        }

        impl Visitor<'_> for QuantityVisitor {
            type Value = Quantity;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity such as \"100m\" or \"128Mi\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                make(v.to_owned())
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                make(v.to_string())
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                make(v.to_string())
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                // YAML `cpu: 0.5` or `1e3` arrives as a float: write it in
                // plain decimal, as the user meant it.
                if !v.is_finite() {
                    return Err(E::custom(format_args!(
                        "Invalid value: {v}: {}",
                        QuantityError::Format
                    )));
                }
                let text = if v.fract() == 0.0 && v.abs() < 1e15 {
                    format!("{}", v as i64)
                } else {
                    format!("{v}")
                };
                make(text)
            }
        }

        deserializer.deserialize_any(QuantityVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn values() {
        assert_eq!(q("100m").milli_value(), 100);
        assert_eq!(q("1").milli_value(), 1000);
        assert_eq!(q("0.5").milli_value(), 500);
        assert_eq!(q(".5").milli_value(), 500);
        assert_eq!(q("1.").milli_value(), 1000);
        assert_eq!(q("128Mi").value(), 128 * 1024 * 1024);
        assert_eq!(q("1G").value(), 1_000_000_000);
        assert_eq!(q("1e3").value(), 1000);
        assert_eq!(q("1E3").value(), 1000);
        assert_eq!(q("1E").value(), 1_000_000_000_000_000_000);
        assert_eq!(q("1Ei").value(), 1 << 60);
        assert_eq!(q("2.5Gi").value(), 5 * (1 << 29));
        assert_eq!(q("1e-3").milli_value(), 1);
        assert_eq!(q("+1k").value(), 1000);
        assert_eq!(q("-1").value(), -1);
        assert_eq!(q("0").value(), 0);
        assert_eq!(q("1n").nano_value(), 1);
        assert_eq!(q("1u").nano_value(), 1000);
        // Rounded up past nano precision and to whole units.
        assert_eq!(q("0.1n").nano_value(), 1);
        assert_eq!(q("100m").value(), 1);
        assert_eq!(q("1.0001m").milli_value(), 2);
        assert_eq!(
            q("0.000000000000000000000000000000000000000001").nano_value(),
            1
        );
        assert_eq!(q("1Ki"), q("1024"));
        assert!(q("1Mi") > q("1M"));
        assert_eq!(q("100m").to_string(), "100m");
    }

    #[test]
    fn errors() {
        for (text, err) in [
            ("", QuantityError::Format),
            ("m", QuantityError::Format),
            ("1.2.3", QuantityError::Format),
            ("128MB", QuantityError::Format),
            ("1 Gi", QuantityError::Format),
            ("1Zi", QuantityError::Format),
            ("abc", QuantityError::Format),
            ("1kk", QuantityError::Suffix),
            ("1K", QuantityError::Suffix),
            ("1e", QuantityError::Suffix),
            ("1e99", QuantityError::Range),
            ("99999999999999999999999999999999Ei", QuantityError::Range),
        ] {
            assert_eq!(Quantity::parse(text).unwrap_err(), err, "{text:?}");
        }
    }

    #[test]
    fn constructors() {
        assert_eq!(Quantity::from_milli(250).as_str(), "250m");
        assert_eq!(Quantity::from_milli(2000).as_str(), "2");
        assert_eq!(Quantity::from_units(1024), q("1Ki"));
    }

    #[test]
    fn serde_numbers_and_strings() {
        let v: Quantity = serde_json::from_str("0.5").unwrap();
        assert_eq!(v.as_str(), "0.5");
        let v: Quantity = serde_json::from_str("1000.0").unwrap();
        assert_eq!(v.as_str(), "1000");
        let v: Quantity = serde_json::from_str("2").unwrap();
        assert_eq!(v.as_str(), "2");
        let e = serde_json::from_str::<Quantity>("\"128MB\"").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Invalid value: \"128MB\": quantities must match"),
            "{e}"
        );
        assert_eq!(serde_json::to_string(&q("1Gi")).unwrap(), "\"1Gi\"");
    }
}
