//! Backend entries shared by every frontend that uses the same address,
//! port and protocol (as Cilium's backend map): one map entry and one id
//! per distinct backend, reference-counted by the slots that point at it.

use std::collections::HashMap;

use crate::{
    ids::IdAlloc,
    model::{Backend, Protocol},
};

#[derive(Debug, Clone)]
pub(crate) struct BackendTable {
    ids: IdAlloc,
    refs: HashMap<u32, u32>,
    by_addr: HashMap<(Backend, Protocol), u32>,
}

impl BackendTable {
    pub(crate) fn new(max: u32) -> Self {
        Self {
            ids: IdAlloc::new(max),
            refs: HashMap::new(),
            by_addr: HashMap::new(),
        }
    }

    /// Rebuilt from the live slots found in the maps: one item per slot.
    pub(crate) fn adopted(
        max: u32,
        slots: impl IntoIterator<Item = (u32, Backend, Protocol)>,
    ) -> Self {
        let mut refs: HashMap<u32, u32> = HashMap::new();
        let mut by_addr = HashMap::new();
        for (id, b, p) in slots {
            *refs.entry(id).or_default() += 1;
            by_addr.entry((b, p)).or_insert(id);
        }
        Self {
            ids: IdAlloc::with_used(max, refs.keys().copied()),
            refs,
            by_addr,
        }
    }

    /// An id for the backend: the existing one (one more reference) or a
    /// new one, `fresh` then being true (its map entry must be written).
    /// None when every id is taken.
    pub(crate) fn acquire(&mut self, b: Backend, p: Protocol) -> Option<(u32, bool)> {
        if let Some(id) = self.by_addr.get(&(b, p)) {
            *self.refs.get_mut(id).expect("refs of a known backend") += 1;
            return Some((*id, false));
        }
        let id = self.ids.alloc()?;
        self.refs.insert(id, 1);
        self.by_addr.insert((b, p), id);
        Some((id, true))
    }

    /// Drops one reference; true when it was the last (the map entry must
    /// be deleted and the id is free again).
    pub(crate) fn release(&mut self, id: u32, b: Backend, p: Protocol) -> bool {
        let Some(n) = self.refs.get_mut(&id) else {
            return false;
        };
        *n -= 1;
        if *n > 0 {
            return false;
        }
        self.refs.remove(&id);
        if self.by_addr.get(&(b, p)) == Some(&id) {
            self.by_addr.remove(&(b, p));
        }
        self.ids.release(id);
        true
    }

    /// How many new ids the given backends would need (distinct ones not
    /// known yet).
    pub(crate) fn needed<'a>(
        &self,
        backends: impl IntoIterator<Item = (&'a Backend, Protocol)>,
    ) -> u64 {
        let mut seen = std::collections::HashSet::new();
        backends
            .into_iter()
            .filter(|(b, p)| !self.by_addr.contains_key(&(**b, *p)) && seen.insert((**b, *p)))
            .count() as u64
    }

    pub(crate) fn available(&self) -> u64 {
        self.ids.available()
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.ids.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Backend {
        Backend::from(s.parse::<std::net::SocketAddr>().unwrap())
    }

    #[test]
    fn shared_backends_have_one_id_until_the_last_reference_goes() {
        let mut t = BackendTable::new(10);
        let (a, fresh) = t.acquire(b("10.0.0.1:80"), Protocol::Tcp).unwrap();
        assert!(fresh);
        assert_eq!(t.acquire(b("10.0.0.1:80"), Protocol::Tcp), Some((a, false)));
        let (u, fresh) = t.acquire(b("10.0.0.1:80"), Protocol::Udp).unwrap();
        assert!(fresh && u != a, "another protocol is another backend");
        assert!(!t.release(a, b("10.0.0.1:80"), Protocol::Tcp));
        assert!(t.release(a, b("10.0.0.1:80"), Protocol::Tcp));
        assert_eq!(t.available(), 9);
        assert!(t.acquire(b("10.0.0.1:80"), Protocol::Tcp).unwrap().1);
    }

    #[test]
    fn needed_counts_distinct_unknown_backends() {
        let mut t = BackendTable::new(10);
        t.acquire(b("10.0.0.1:80"), Protocol::Tcp);
        let x = [b("10.0.0.1:80"), b("10.0.0.2:80"), b("10.0.0.2:80")];
        assert_eq!(t.needed(x.iter().map(|b| (b, Protocol::Tcp))), 1);
    }

    #[test]
    fn adoption_counts_every_slot() {
        let mut t = BackendTable::adopted(
            10,
            [
                (3, b("10.0.0.1:80"), Protocol::Tcp),
                (3, b("10.0.0.1:80"), Protocol::Tcp),
            ],
        );
        assert!(!t.release(3, b("10.0.0.1:80"), Protocol::Tcp));
        assert!(t.release(3, b("10.0.0.1:80"), Protocol::Tcp));
    }
}
