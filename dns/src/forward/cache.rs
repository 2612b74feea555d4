//! The bounded answer cache: entries expire with their TTL and, when the
//! cache is full, the entry closest to expiry makes room.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};

/// What an answer depends on: the question (name case-folded) and the
/// DNSSEC bits the upstream saw.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) name: Name,
    pub(crate) qtype: RecordType,
    pub(crate) qclass: DNSClass,
    /// EDNS DO: the answer carries DNSSEC records.
    pub(crate) dnssec_ok: bool,
    /// CD: the upstream did not validate.
    pub(crate) checking_disabled: bool,
}

impl CacheKey {
    /// The key of `question` asked with these bits.
    pub(crate) fn new(question: &Query, dnssec_ok: bool, checking_disabled: bool) -> Self {
        let mut name = question.name().to_lowercase();
        name.set_fqdn(true);
        Self {
            name,
            qtype: question.query_type(),
            qclass: question.query_class(),
            dnssec_ok,
            checking_disabled,
        }
    }
}

#[derive(Debug)]
struct Entry {
    /// The answer as stored, TTLs as of `stored`.
    message: Message,
    stored: Instant,
    expires: Instant,
    /// Tie-breaker in `by_expiry`.
    seq: u64,
}

/// A bounded map from question to answer.
#[derive(Debug)]
pub(crate) struct Cache {
    capacity: usize,
    entries: HashMap<CacheKey, Entry>,
    /// Every entry, soonest expiry first.
    by_expiry: BTreeMap<(Instant, u64), CacheKey>,
    next_seq: u64,
}

impl Cache {
    /// An empty cache of at most `capacity` entries (0: caches nothing).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::new(),
            by_expiry: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Number of entries, expired ones not yet dropped included.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The cached answer to `key` with its TTLs lowered by the whole seconds
    /// spent in the cache, or `None` (an expired entry is dropped).
    pub(crate) fn get(&mut self, key: &CacheKey, now: Instant) -> Option<Message> {
        let entry = self.entries.get(key)?;
        if now >= entry.expires {
            self.remove(key);
            return None;
        }
        let elapsed = now.saturating_duration_since(entry.stored).as_secs();
        let mut message = entry.message.clone();
        super::ttl::age_ttls(&mut message, u32::try_from(elapsed).unwrap_or(u32::MAX));
        Some(message)
    }

    /// Stores `message` for `ttl` seconds (0: not at all), replacing an
    /// entry for the same key; when full, first drops the entries closest
    /// to expiry (expired ones first of all).
    pub(crate) fn insert(&mut self, key: CacheKey, message: Message, ttl: u32, now: Instant) {
        if self.capacity == 0 || ttl == 0 {
            return;
        }
        self.remove(&key);
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.by_expiry.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        let expires = now + Duration::from_secs(u64::from(ttl));
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.by_expiry.insert((expires, seq), key.clone());
        self.entries.insert(
            key,
            Entry {
                message,
                stored: now,
                expires,
                seq,
            },
        );
    }

    fn remove(&mut self, key: &CacheKey) {
        if let Some(entry) = self.entries.remove(key) {
            self.by_expiry.remove(&(entry.expires, entry.seq));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::op::{OpCode, ResponseCode};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};

    use super::*;

    fn key(name: &str) -> CacheKey {
        CacheKey::new(
            &Query::query(Name::from_ascii(name).unwrap(), RecordType::A),
            false,
            false,
        )
    }

    fn answer(name: &str, ttl: u32) -> Message {
        let mut m = Message::error_msg(7, OpCode::Query, ResponseCode::NoError);
        m.add_answer(Record::from_rdata(
            Name::from_ascii(name).unwrap(),
            ttl,
            RData::A(A(Ipv4Addr::LOCALHOST)),
        ));
        m
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn key_folds_case_and_keeps_bits() {
        assert_eq!(key("Example.COM"), key("example.com."));
        let q = Query::query(Name::from_ascii("example.com.").unwrap(), RecordType::A);
        assert_ne!(
            CacheKey::new(&q, true, false),
            CacheKey::new(&q, false, false)
        );
        assert_ne!(
            CacheKey::new(&q, false, true),
            CacheKey::new(&q, false, false)
        );
        let aaaa = Query::query(Name::from_ascii("example.com.").unwrap(), RecordType::AAAA);
        assert_ne!(CacheKey::new(&aaaa, false, false), key("example.com."));
    }

    #[test]
    fn ttl_counts_down_then_expires() {
        let mut cache = Cache::new(10);
        let t0 = Instant::now();
        cache.insert(key("a."), answer("a.", 30), 30, t0);
        assert_eq!(cache.get(&key("a."), t0).unwrap().answers[0].ttl, 30);
        let later = cache.get(&key("A."), t0 + Duration::from_millis(10_900));
        assert_eq!(later.unwrap().answers[0].ttl, 20);
        assert_eq!(
            cache.get(&key("a."), t0 + secs(29)).unwrap().answers[0].ttl,
            1
        );
        assert!(cache.get(&key("a."), t0 + secs(30)).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn full_cache_evicts_the_soonest_to_expire() {
        let mut cache = Cache::new(3);
        let t0 = Instant::now();
        cache.insert(key("long."), answer("long.", 300), 300, t0);
        cache.insert(key("short."), answer("short.", 10), 10, t0);
        cache.insert(key("mid."), answer("mid.", 100), 100, t0);
        cache.insert(key("new."), answer("new.", 50), 50, t0 + secs(1));
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&key("short."), t0 + secs(1)).is_none());
        for name in ["long.", "mid.", "new."] {
            assert!(cache.get(&key(name), t0 + secs(1)).is_some(), "{name}");
        }
        // Expired entries are the first to go.
        cache.insert(key("next."), answer("next.", 500), 500, t0 + secs(60));
        assert!(cache.get(&key("new."), t0 + secs(60)).is_none());
        assert!(cache.get(&key("long."), t0 + secs(60)).is_some());
        assert!(cache.get(&key("mid."), t0 + secs(60)).is_some());
    }

    #[test]
    fn replace_keeps_one_entry() {
        let mut cache = Cache::new(2);
        let t0 = Instant::now();
        cache.insert(key("a."), answer("a.", 10), 10, t0);
        cache.insert(key("a."), answer("a.", 20), 20, t0);
        cache.insert(key("b."), answer("b.", 5), 5, t0);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&key("a."), t0).unwrap().answers[0].ttl, 20);
        assert_eq!(cache.by_expiry.len(), 2);
    }

    #[test]
    fn zero_capacity_or_ttl_stores_nothing() {
        let t0 = Instant::now();
        let mut off = Cache::new(0);
        off.insert(key("a."), answer("a.", 10), 10, t0);
        assert!(off.get(&key("a."), t0).is_none());
        let mut cache = Cache::new(5);
        cache.insert(key("a."), answer("a.", 0), 0, t0);
        assert_eq!(cache.len(), 0);
    }
}
