//! Encoded responses of the cluster zone, keyed by the request bytes.
//!
//! A zone answer depends only on the request (every byte but the id) and
//! the zone — plus, with autopath, the client's namespace — so a hit is a
//! copy and a two-byte id patch. Each worker owns one; it is emptied when
//! the zone is swapped and when it is full.

use std::collections::HashMap;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

/// Default number of cached responses per worker.
pub(crate) const DEFAULT_CAPACITY: usize = 50_000;

/// One cached response and what the metrics need to know about it.
#[derive(Debug)]
pub(crate) struct Cached {
    pub(crate) bytes: Box<[u8]>,
    pub(crate) qtype: RecordType,
    pub(crate) rcode: ResponseCode,
}

/// The cache; capacity 0 disables it.
#[derive(Debug)]
pub(crate) struct ResponseCache {
    map: HashMap<Box<[u8]>, Cached>,
    capacity: usize,
}

impl ResponseCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            capacity,
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<&Cached> {
        self.map.get(key)
    }

    pub(crate) fn insert(&mut self, key: &[u8], value: Cached) {
        if self.capacity == 0 {
            return;
        }
        if self.map.len() >= self.capacity {
            self.map.clear();
        }
        self.map.insert(key.into(), value);
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }
}

/// `bytes` with its message id replaced by `id`.
pub(crate) fn with_id(bytes: &[u8], id: [u8; 2], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(bytes);
    out[..2].copy_from_slice(&id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(b: &[u8]) -> Cached {
        Cached {
            bytes: b.into(),
            qtype: RecordType::A,
            rcode: ResponseCode::NoError,
        }
    }

    #[test]
    fn bounded_and_disabled() {
        let mut c = ResponseCache::new(2);
        c.insert(b"a", cached(b"1"));
        c.insert(b"b", cached(b"2"));
        assert!(c.get(b"a").is_some());
        c.insert(b"c", cached(b"3"));
        assert!(c.get(b"a").is_none() && c.get(b"c").is_some());
        let mut off = ResponseCache::new(0);
        off.insert(b"a", cached(b"1"));
        assert!(off.get(b"a").is_none());
    }

    #[test]
    fn id_is_patched() {
        let mut out = Vec::new();
        with_id(&[0, 0, 9, 9], [0xab, 0xcd], &mut out);
        assert_eq!(out, [0xab, 0xcd, 9, 9]);
    }
}
