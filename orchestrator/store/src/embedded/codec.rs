//! Byte layouts of the embedded backend's records. Integers are
//! little-endian; lengths are u32.
//!
//! - item (items table, by key): `create_revision u64 | mod_revision u64 | value`
//! - event (log table, by revision): `kind u8 | key_len | key | body | prev`,
//!   body for a put: `create_revision u64 | value_len | value`, none for a
//!   delete; prev: `0u8`, or `1u8 | create u64 | mod u64 | value_len | value`.

use bytes::Bytes;

use crate::{Event, Item, Result, Revision, StoreError};

const PUT: u8 = 1;
const DELETE: u8 = 2;

/// Encodes an item's record in the items table.
pub(crate) fn encode_item(
    create_revision: Revision,
    mod_revision: Revision,
    value: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + value.len());
    out.extend_from_slice(&create_revision.to_le_bytes());
    out.extend_from_slice(&mod_revision.to_le_bytes());
    out.extend_from_slice(value);
    out
}

/// Decodes an item's record.
pub(crate) fn decode_item(key: &str, bytes: &[u8]) -> Result<Item> {
    let mut r = Reader::new(bytes, || format!("item {key:?}"));
    let create_revision = r.u64()?;
    let mod_revision = r.u64()?;
    Ok(Item {
        key: key.to_owned(),
        value: Bytes::copy_from_slice(r.rest()),
        create_revision,
        mod_revision,
    })
}

/// Encodes an event's record in the log.
pub(crate) fn encode_event(event: &Event) -> Vec<u8> {
    let mut out = Vec::new();
    let prev = match event {
        Event::Put { item, prev } => {
            out.push(PUT);
            put_bytes(&mut out, item.key.as_bytes());
            out.extend_from_slice(&item.create_revision.to_le_bytes());
            put_bytes(&mut out, &item.value);
            prev
        }
        Event::Delete { key, prev, .. } => {
            out.push(DELETE);
            put_bytes(&mut out, key.as_bytes());
            prev
        }
    };
    match prev {
        None => out.push(0),
        Some(p) => {
            out.push(1);
            out.extend_from_slice(&p.create_revision.to_le_bytes());
            out.extend_from_slice(&p.mod_revision.to_le_bytes());
            put_bytes(&mut out, &p.value);
        }
    }
    out
}

/// The key of an event's record, without decoding the rest.
pub(crate) fn event_key(revision: Revision, bytes: &[u8]) -> Result<&str> {
    let mut r = Reader::new(bytes, || format!("event at revision {revision}"));
    r.u8()?;
    r.str()
}

/// Decodes the event stored at `revision`.
pub(crate) fn decode_event(revision: Revision, bytes: &[u8]) -> Result<Event> {
    let mut r = Reader::new(bytes, || format!("event at revision {revision}"));
    let kind = r.u8()?;
    let key = r.str()?.to_owned();
    let put = match kind {
        PUT => {
            let create_revision = r.u64()?;
            let value = Bytes::copy_from_slice(r.bytes()?);
            Some(Item {
                key: key.clone(),
                value,
                create_revision,
                mod_revision: revision,
            })
        }
        DELETE => None,
        _ => return Err(r.corrupt("unknown event kind")),
    };
    let prev = match r.u8()? {
        0 => None,
        1 => {
            let create_revision = r.u64()?;
            let mod_revision = r.u64()?;
            Some(Item {
                key: key.clone(),
                value: Bytes::copy_from_slice(r.bytes()?),
                create_revision,
                mod_revision,
            })
        }
        _ => return Err(r.corrupt("bad prev flag")),
    };
    Ok(match put {
        Some(item) => Event::Put { item, prev },
        None => Event::Delete {
            key,
            revision,
            prev,
        },
    })
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Values and keys are far below 4 GiB: the API layer caps object size.
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(b);
}

struct Reader<'a, F> {
    bytes: &'a [u8],
    what: F,
}

impl<'a, F: Fn() -> String> Reader<'a, F> {
    fn new(bytes: &'a [u8], what: F) -> Self {
        Self { bytes, what }
    }

    fn corrupt(&self, why: &str) -> StoreError {
        StoreError::Corrupt {
            what: format!("{}: {why}", (self.what)()),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(self.corrupt("truncated"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn str(&mut self) -> Result<&'a str> {
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|_| self.corrupt("key is not UTF-8"))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, value: &str, c: Revision, m: Revision) -> Item {
        Item {
            key: key.into(),
            value: Bytes::copy_from_slice(value.as_bytes()),
            create_revision: c,
            mod_revision: m,
        }
    }

    #[test]
    fn item_round_trip() {
        let b = encode_item(3, 9, b"hello");
        assert_eq!(decode_item("/k", &b).unwrap(), item("/k", "hello", 3, 9));
        assert!(decode_item("/k", &b[..10]).is_err());
    }

    #[test]
    fn event_round_trip() {
        let events = [
            Event::Put {
                item: item("/a", "v2", 4, 7),
                prev: Some(item("/a", "v1", 4, 4)),
            },
            Event::Put {
                item: item("/b", "", 8, 8),
                prev: None,
            },
            Event::Delete {
                key: "/a".into(),
                revision: 9,
                prev: Some(item("/a", "v2", 4, 7)),
            },
            Event::Delete {
                key: "/c".into(),
                revision: 10,
                prev: None,
            },
        ];
        for ev in events {
            let b = encode_event(&ev);
            assert_eq!(event_key(ev.revision(), &b).unwrap(), ev.key());
            assert_eq!(decode_event(ev.revision(), &b).unwrap(), ev);
            let err = decode_event(ev.revision(), &b[..b.len() - 1]).unwrap_err();
            assert!(err.to_string().contains("truncated"), "{err}");
        }
    }
}
