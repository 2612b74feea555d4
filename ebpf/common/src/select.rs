//! Backend selection and slot-generation logic, shared by the kernel
//! programs and the userspace table writer so that both agree, and unit
//! tested on the host (cgroup sock_addr programs have no BPF_PROG_TEST_RUN).

use crate::lb::INLINE_BACKENDS;

/// Which slot (1..=count) a random number picks, or `None` when the
/// frontend has no backend. One division, no loop.
#[inline(always)]
pub fn pick_slot(count: u32, random: u32) -> Option<u16> {
    if count == 0 {
        return None;
    }
    // count <= u16::MAX is enforced by userspace; the cast keeps the verifier
    // free of a bound check.
    Some(((random % count) + 1) as u16)
}

/// The generation a new backend set is written into.
#[inline(always)]
pub const fn next_gen(current: u8) -> u8 {
    (current ^ 1) & 1
}

/// Where the backend id of a picked slot is: inline in the master (index
/// into `ServiceValue::inline`) or in a slot entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Inline(usize),
    Slot(u16),
}

/// Where slot `slot` (1..=count) of a frontend with `count` backends lives.
#[inline(always)]
pub fn place(count: u32, slot: u16) -> Place {
    if count <= INLINE_BACKENDS {
        // The mask keeps the index provably in bounds for the verifier.
        Place::Inline((slot.wrapping_sub(1) as usize) & (INLINE_BACKENDS as usize - 1))
    } else {
        Place::Slot(slot)
    }
}

/// Slots a replacement writes and deletes, as ranges `1..=n` of the two
/// generations: the new set goes to `next_gen(old_gen)` slots `1..=new_count`,
/// then the master flips, then the old generation's `1..=old_count` go.
/// Sets of at most [`INLINE_BACKENDS`] live in the master and have no slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotPlan {
    /// Generation the new slots are written into and the master points at.
    pub write_gen: u8,
    /// Slots 1..=write_count are written before the flip.
    pub write_count: u16,
    /// Generation whose slots are deleted after the flip.
    pub delete_gen: u8,
    /// Slots 1..=delete_count of `delete_gen` are deleted after the flip.
    pub delete_count: u16,
}

/// Plans the replacement of a frontend's backend set.
pub const fn plan_replace(old_gen: u8, old_count: u16, new_count: u16) -> SlotPlan {
    const fn slots(count: u16) -> u16 {
        if count as u32 <= INLINE_BACKENDS {
            0
        } else {
            count
        }
    }
    SlotPlan {
        write_gen: next_gen(old_gen),
        write_count: slots(new_count),
        delete_gen: old_gen & 1,
        delete_count: slots(old_count),
    }
}

/// Nanoseconds in a second, for affinity timeouts.
const NS_PER_S: u64 = 1_000_000_000;

/// Whether a client's affinity entry, last used at `last_ns`, still holds
/// at `now_ns` (both `bpf_ktime_get_ns`): less than `timeout_s` since the
/// client's last connection, as kube-proxy's `recent --rcheck --seconds`.
#[inline(always)]
pub const fn affinity_holds(now_ns: u64, last_ns: u64, timeout_s: u32) -> bool {
    now_ns.wrapping_sub(last_ns) < timeout_s as u64 * NS_PER_S
}

/// The hash of a client (its network-namespace cookie) that indexes a
/// Maglev table: the 64-bit finaliser of MurmurHash3, folded to 32 bits,
/// so that consecutive cookies spread over the whole table.
#[inline(always)]
pub const fn client_hash(cookie: u64) -> u32 {
    let mut h = cookie;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h ^ (h >> 32)) as u32
}

/// The entry of a Maglev table of `size` entries a client hash picks, or
/// `None` for an empty table.
#[inline(always)]
pub const fn maglev_index(hash: u32, size: u32) -> Option<u32> {
    if size == 0 { None } else { Some(hash % size) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_backend_picks_nothing() {
        assert_eq!(pick_slot(0, 12345), None);
    }

    #[test]
    fn picks_stay_in_range_and_cover_every_slot() {
        for count in 1..=7u32 {
            let mut seen = [false; 8];
            for r in 0..1000u32 {
                let slot = pick_slot(count, r.wrapping_mul(2_654_435_761)).expect("slot");
                assert!(
                    (1..=count as u16).contains(&slot),
                    "count {count} slot {slot}"
                );
                seen[slot as usize] = true;
            }
            assert!(seen[1..=count as usize].iter().all(|s| *s), "count {count}");
        }
    }

    #[test]
    fn extremes_of_random_stay_in_range() {
        // 2^32 - 1 is divisible by 3: the last residue is 0, slot 1.
        assert_eq!(pick_slot(3, u32::MAX), Some(1));
        assert_eq!(pick_slot(u16::MAX as u32, u32::MAX - 1), Some(u16::MAX));
        assert_eq!(pick_slot(1, 0), Some(1));
    }

    #[test]
    fn affinity_holds_until_the_timeout_after_the_last_use() {
        let s = NS_PER_S;
        assert!(affinity_holds(5 * s, 5 * s, 1));
        assert!(affinity_holds(5 * s + s - 1, 5 * s, 1));
        assert!(!affinity_holds(6 * s, 5 * s, 1));
        assert!(affinity_holds(10_800 * s, 1, 10_800));
        // A timeout of 0 never holds.
        assert!(!affinity_holds(5, 5, 0));
    }

    #[test]
    fn client_hashes_spread_consecutive_cookies() {
        let size = 16_381;
        let mut buckets = [0u32; 10];
        for cookie in 1..=10_000u64 {
            let i = maglev_index(client_hash(cookie), size).unwrap();
            assert!(i < size);
            buckets[(i * 10 / size) as usize] += 1;
        }
        // 1000 per tenth ± 30 (one sd); 800 would mean a skewed hash.
        assert!(buckets.iter().all(|b| *b > 800), "{buckets:?}");
        assert_eq!(maglev_index(7, 0), None);
    }

    #[test]
    fn generations_alternate() {
        assert_eq!(next_gen(0), 1);
        assert_eq!(next_gen(1), 0);
        assert_eq!(next_gen(next_gen(0)), 0);
    }

    #[test]
    fn replace_writes_the_other_generation_and_deletes_the_old() {
        let p = plan_replace(0, 6, 9);
        assert_eq!(
            p,
            SlotPlan {
                write_gen: 1,
                write_count: 9,
                delete_gen: 0,
                delete_count: 6
            }
        );
        let q = plan_replace(p.write_gen, 9, 0);
        assert_eq!((q.write_gen, q.write_count), (0, 0));
        assert_eq!((q.delete_gen, q.delete_count), (1, 9));
    }

    #[test]
    fn small_sets_live_inline_and_have_no_slots() {
        assert_eq!(plan_replace(0, 3, 4).write_count, 0);
        assert_eq!(plan_replace(0, 3, 4).delete_count, 0);
        assert_eq!(plan_replace(0, 4, 5).write_count, 5);
        assert_eq!(plan_replace(1, 5, 2).delete_count, 5);
        assert_eq!(place(4, 1), Place::Inline(0));
        assert_eq!(place(4, 4), Place::Inline(3));
        assert_eq!(place(5, 5), Place::Slot(5));
        for count in 1..=INLINE_BACKENDS {
            for r in 0..100 {
                let slot = pick_slot(count, r).unwrap();
                assert!(matches!(place(count, slot), Place::Inline(i) if i < count as usize));
            }
        }
    }
}
