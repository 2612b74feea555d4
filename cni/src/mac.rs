//! A container interface's hardware address, as given in `CNI_ARGS`
//! (`MAC=...`), `args.cni.mac` or `runtimeConfig.mac`.

use std::fmt;
use std::str::FromStr;

/// A unicast Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

/// Why a string is not a usable MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    /// Not six hexadecimal octets.
    #[error("{}", self.reason())]
    Syntax,
    /// The group (multicast) bit is set or the address is all zeros: the
    /// kernel refuses it for an Ethernet interface.
    #[error("{}", self.reason())]
    NotUnicast,
}

impl MacError {
    /// Why the value is refused, for error messages.
    pub fn reason(self) -> &'static str {
        match self {
            MacError::Syntax => {
                "not a MAC address (six hexadecimal octets separated by ':' or '-')"
            }
            MacError::NotUnicast => "not a unicast MAC address (multicast bit set or all zeros)",
        }
    }
}

impl FromStr for Mac {
    type Err = MacError;

    fn from_str(s: &str) -> Result<Mac, MacError> {
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for byte in &mut out {
            let p = parts.next().ok_or(MacError::Syntax)?;
            if p.len() != 2 {
                return Err(MacError::Syntax);
            }
            *byte = u8::from_str_radix(p, 16).map_err(|_| MacError::Syntax)?;
        }
        if parts.next().is_some() {
            return Err(MacError::Syntax);
        }
        if out[0] & 1 == 1 || out == [0; 6] {
            return Err(MacError::NotUnicast);
        }
        Ok(Mac(out))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let m: Mac = "0A:58:0a:f4:01:05".parse().unwrap_or(Mac([0; 6]));
        assert_eq!(m.to_string(), "0a:58:0a:f4:01:05");
        assert_eq!("0a-58-0a-f4-01-05".parse::<Mac>(), Ok(m));
        assert_eq!("0a:58:0a:f4:01".parse::<Mac>(), Err(MacError::Syntax));
        assert_eq!("0a:58:0a:f4:01:05:06".parse::<Mac>(), Err(MacError::Syntax));
        assert_eq!("0a:58:0a:f4:01:zz".parse::<Mac>(), Err(MacError::Syntax));
        assert_eq!("0a:58:0a:f4:1:05".parse::<Mac>(), Err(MacError::Syntax));
        assert_eq!(
            "01:00:5e:00:00:01".parse::<Mac>(),
            Err(MacError::NotUnicast)
        );
        assert_eq!(
            "00:00:00:00:00:00".parse::<Mac>(),
            Err(MacError::NotUnicast)
        );
    }
}
