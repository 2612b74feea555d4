//! Base64 (standard alphabet, padded) for Secret and ConfigMap binary data,
//! decoding as Go's `encoding/base64.StdEncoding` does (line breaks ignored).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Bytes written in manifests as a base64 string (`data:` of a Secret,
/// `binaryData:` of a ConfigMap).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

/// Why a base64 string does not decode; the message is Go's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal base64 data at input byte {offset}")]
pub struct Base64Error {
    /// The offset of the first offending byte.
    pub offset: usize,
}

/// Encodes `data` as padded standard base64.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes padded standard base64; `\r` and `\n` are skipped.
pub fn decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut quad = [0u8; 4];
    let mut filled = 0;
    let mut padding = 0;
    let mut last = 0;
    for (offset, c) in text.bytes().enumerate() {
        if c == b'\r' || c == b'\n' {
            continue;
        }
        last = offset;
        if c == b'=' {
            // Padding only in the last two places of a quad.
            if filled < 2 {
                return Err(Base64Error { offset });
            }
            padding += 1;
            quad[filled] = 0;
            filled += 1;
        } else {
            if padding > 0 {
                return Err(Base64Error { offset });
            }
            let v = ALPHABET
                .iter()
                .position(|&a| a == c)
                .ok_or(Base64Error { offset })?;
            quad[filled] = v as u8;
            filled += 1;
        }
        if filled == 4 {
            let n = quad.iter().fold(0u32, |n, &v| (n << 6) | u32::from(v));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.extend_from_slice(&bytes[..3 - padding]);
            filled = 0;
            if padding > 0 {
                // Nothing may follow the padding.
                if let Some(extra) = text
                    .bytes()
                    .skip(offset + 1)
                    .position(|c| c != b'\r' && c != b'\n')
                {
                    return Err(Base64Error {
                        offset: offset + 1 + extra,
                    });
                }
                return Ok(out);
            }
        }
    }
    if filled != 0 {
        return Err(Base64Error {
            offset: if filled == 1 { last } else { last + 1 },
        });
    }
    Ok(out)
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
    fn round_trip() {
        for data in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"fooba",
            b"foobar",
            &[0, 255, 128, 7],
        ] {
            assert_eq!(decode(&encode(data)).unwrap(), data);
        }
        assert_eq!(encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode(b"fo"), "Zm8=");
        assert_eq!(decode("cGFz\nc3dvcmQ=\n").unwrap(), b"password");
    }

    #[test]
    fn errors() {
        assert_eq!(decode("cGFzc3dvcmQ").unwrap_err().offset, 11);
        assert_eq!(decode("pa$$").unwrap_err().offset, 2);
        assert_eq!(decode("Zm8=Zm8=").unwrap_err().offset, 4);
        assert_eq!(decode("Z===").unwrap_err().offset, 1);
        assert_eq!(decode("Zm=8").unwrap_err().offset, 3);
    }
}
