//! [`Bytes`]: the binary values of Secrets and ConfigMaps, written in
//! manifests as standard, padded base64 (the `base64` crate), decoded as
//! Go's `encoding/base64.StdEncoding` does: line breaks are ignored and
//! errors name the offending byte's offset in the text as given.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Go's `StdEncoding`: padding required, non-zero trailing bits accepted.
const STD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// Bytes written in manifests as a base64 string (`data:` of a Secret,
/// `binaryData:` of a ConfigMap).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

/// Why a base64 string does not decode; the message is Go's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal base64 data at input byte {offset}")]
pub struct Base64Error {
    /// The offset of the first offending byte in the text as given.
    pub offset: usize,
}

/// Encodes `data` as padded standard base64.
pub fn encode(data: &[u8]) -> String {
    STD.encode(data)
}

/// Decodes padded standard base64; `\r` and `\n` are skipped.
pub fn decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    let is_break = |c: &u8| *c == b'\r' || *c == b'\n';
    let kept: Vec<u8> = text.bytes().filter(|c| !is_break(c)).collect();
    STD.decode(&kept).map_err(|e| {
        use base64::DecodeError as E;
        // Offsets into `kept`, mapped back to `text`.
        let at = match e {
            E::InvalidByte(at, _) | E::InvalidLastSymbol(at, _) => at,
            E::InvalidLength(_) | E::InvalidPadding => kept.len(),
        };
        let offset = text
            .bytes()
            .enumerate()
            .filter(|(_, c)| !is_break(c))
            .nth(at)
            .map_or(text.len(), |(i, _)| i);
        Base64Error { offset }
    })
}

impl Bytes {
    /// The bytes as UTF-8 text, if they are.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secret values stay out of logs: print the size only.
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Self {
        Self(v.to_vec())
    }
}

impl From<&str> for Bytes {
    fn from(v: &str) -> Self {
        Self(v.as_bytes().to_vec())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        decode(&text).map(Bytes).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc_4648_vectors() {
        // RFC 4648 §10, and what `kubectl create secret generic
        // --from-literal=password=password` writes.
        for (data, text) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
            (b"password", "cGFzc3dvcmQ="),
            (&[0, 255, 128, 7], "AP+ABw=="),
        ] {
            assert_eq!(encode(data), text);
            assert_eq!(decode(text).unwrap(), data);
        }
    }

    #[test]
    fn line_breaks_are_ignored_as_go_does() {
        // `base64` (coreutils) wraps at 76 columns; manifests carry that.
        assert_eq!(decode("cGFz\nc3dvcmQ=\n").unwrap(), b"password");
        assert_eq!(decode("cGFz\r\nc3dv\r\ncmQ=").unwrap(), b"password");
        // Go accepts non-zero trailing bits ("Zm9=" decodes as "fo").
        assert_eq!(decode("Zm9=").unwrap(), b"fo");
    }

    #[test]
    fn errors_name_the_offset_in_the_text_as_given() {
        assert_eq!(decode("pa$$").unwrap_err().offset, 2);
        assert_eq!(decode("not base64!").unwrap_err().offset, 3);
        assert_eq!(decode("ab\ncd\n$").unwrap_err().offset, 6);
        assert_eq!(decode("cGFzc3dvcmQ").unwrap_err().offset, 11);
        assert!(decode("Zm8=Zm8=").is_err());
        assert!(decode("Z===").is_err());
        assert!(decode("Zm=8").is_err());
        assert_eq!(
            decode("pa$$").unwrap_err().to_string(),
            "illegal base64 data at input byte 2"
        );
    }
}
