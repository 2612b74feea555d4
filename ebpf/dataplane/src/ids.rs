//! Id allocation for service and backend ids (1..=max), rebuilt from the
//! maps on adoption.

use std::collections::VecDeque;

/// Ids are reused first-in first-out: a released id goes to the back of the
/// queue, so a kernel reader that looked an id up just before its release
/// does not find it given to another backend a moment later.
#[derive(Debug, Clone)]
pub(crate) struct IdAlloc {
    next: u32,
    max: u32,
    free: VecDeque<u32>,
    used: u32,
}

impl IdAlloc {
    pub(crate) fn new(max: u32) -> Self {
        Self {
            next: 1,
            max,
            free: VecDeque::new(),
            used: 0,
        }
    }

    /// An allocator in which exactly `used` ids are taken.
    pub(crate) fn with_used(max: u32, used: impl IntoIterator<Item = u32>) -> Self {
        let mut taken: Vec<u32> = used
            .into_iter()
            .filter(|id| *id >= 1 && *id <= max)
            .collect();
        taken.sort_unstable();
        taken.dedup();
        let next = taken.last().map_or(1, |l| l + 1);
        let mut free = VecDeque::new();
        let mut it = taken.iter().peekable();
        for id in 1..next {
            if it.peek() == Some(&&id) {
                it.next();
            } else {
                free.push_back(id);
            }
        }
        Self {
            next,
            max,
            free,
            used: taken.len() as u32,
        }
    }

    pub(crate) fn alloc(&mut self) -> Option<u32> {
        let id = match self.free.pop_front() {
            Some(id) => id,
            None if self.next <= self.max => {
                self.next += 1;
                self.next - 1
            }
            None => return None,
        };
        self.used += 1;
        Some(id)
    }

    pub(crate) fn release(&mut self, id: u32) {
        self.used -= 1;
        self.free.push_back(id);
    }

    pub(crate) fn available(&self) -> u64 {
        u64::from(self.max - self.used)
    }

    pub(crate) fn capacity(&self) -> u64 {
        u64::from(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_up_to_max_then_reuses_released() {
        let mut a = IdAlloc::new(3);
        assert_eq!(
            [a.alloc(), a.alloc(), a.alloc(), a.alloc()],
            [Some(1), Some(2), Some(3), None]
        );
        a.release(2);
        assert_eq!(a.available(), 1);
        assert_eq!(a.alloc(), Some(2));
    }

    #[test]
    fn rebuilt_from_used_ids_never_hands_out_a_taken_one() {
        let mut a = IdAlloc::with_used(10, [3, 7, 1]);
        assert_eq!(a.available(), 7);
        let mut got: Vec<u32> = std::iter::from_fn(|| a.alloc()).collect();
        got.sort_unstable();
        assert_eq!(got, vec![2, 4, 5, 6, 8, 9, 10]);
    }
}
