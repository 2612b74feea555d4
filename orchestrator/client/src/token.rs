//! The bearer token a client sends: fixed, or kept in a file that is read
//! again whenever it changes. A node agent rotates its node credential by
//! rewriting that file; its own client and its DNS process (another
//! process, given the same file) send the new token from their next call.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tonic::metadata::{Ascii, MetadataValue};

/// A bearer token, shared by every clone of a client.
#[derive(Debug, Clone)]
pub struct Token(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    file: Option<PathBuf>,
    /// The header, and the file's stamp it was read at.
    state: Mutex<(MetadataValue<Ascii>, Option<Stamp>)>,
}

/// A file's (modification time, length): what tells a rewrite.
type Stamp = (SystemTime, u64);

fn header(token: &str) -> MetadataValue<Ascii> {
    // Checked to be printable ASCII where the token was read; a token that
    // is not still yields a header, which the server refuses.
    format!("Bearer {}", token.trim())
        .parse()
        .unwrap_or_else(|_| MetadataValue::from_static("Bearer invalid"))
}

impl Token {
    /// Always `token`.
    pub fn fixed(token: &str) -> Self {
        Self(Arc::new(Inner {
            file: None,
            state: Mutex::new((header(token), None)),
        }))
    }

    /// The token in `file` (whose content now is `token`), read again when
    /// the file changes.
    pub fn file(file: PathBuf, token: &str) -> Self {
        let seen = stamp(&file);
        Self(Arc::new(Inner {
            file: Some(file),
            state: Mutex::new((header(token), seen)),
        }))
    }

    /// The `authorization` header to send now.
    pub fn header(&self) -> MetadataValue<Ascii> {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(file) = &self.0.file {
            let now = stamp(file);
            if now.is_some() && now != state.1 {
                // A file being replaced is renamed into place whole; one
                // that reads empty is kept for the next call.
                if let Ok(text) = std::fs::read_to_string(file)
                    && !text.trim().is_empty()
                {
                    *state = (header(&text), now);
                }
            }
        }
        state.0.clone()
    }
}

fn stamp(file: &PathBuf) -> Option<Stamp> {
    let m = std::fs::metadata(file).ok()?;
    Some((m.modified().ok()?, m.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_token_follows_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "old\n").unwrap();
        let t = Token::file(path.clone(), "old");
        assert_eq!(t.header(), "Bearer old");
        std::fs::write(path.with_extension("tmp"), "newer-token\n").unwrap();
        std::fs::rename(path.with_extension("tmp"), &path).unwrap();
        assert_eq!(t.clone().header(), "Bearer newer-token");
        assert_eq!(Token::fixed("x").header(), "Bearer x");
    }
}
