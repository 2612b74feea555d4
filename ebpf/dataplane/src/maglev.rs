//! Maglev lookup tables (Eisenbud et al., "Maglev: A Fast and Reliable
//! Software Network Load Balancer", NSDI 2016, §3.4), weighted.
//!
//! Each backend walks its own permutation of the table's entries, given by
//! an offset and a skip derived from a hash of its address; in turn, each
//! backend takes the next free entry of its permutation, `weight` times per
//! round. Every backend gets a share of the table proportional to its
//! weight, and a change of the backend set moves about 1/N of the entries.
//! The hash depends only on the address, so every node builds the same
//! table for the same backends.

use berth_ebpf_common::select::client_hash;

use crate::model::Backend;

/// Whether `n` is prime (table sizes must be: every skip is then coprime
/// with the size and each permutation visits every entry).
pub fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2u32;
    while d.saturating_mul(d) <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

/// FNV-1a over the backend's address and port: stable across processes.
fn backend_hash(b: &Backend) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes: Vec<u8> = match b.addr {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    };
    for byte in bytes.iter().chain(&b.port.to_be_bytes()) {
        h ^= u64::from(*byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The table: for each of its `size` entries, the index (into `backends`)
/// of the backend it holds. `size` must be a prime larger than the number
/// of backends; backends of weight 0 get no entry. Empty when no backend
/// has a weight.
pub fn table(backends: &[(Backend, u32)], size: u32) -> Vec<u32> {
    let m = u64::from(size);
    let mut live: Vec<(usize, u64, u64, u32)> = backends
        .iter()
        .enumerate()
        .filter(|(_, (_, w))| *w > 0)
        .map(|(i, (b, w))| {
            let h = backend_hash(b);
            let offset = u64::from(client_hash(h)) % m;
            let skip = u64::from(client_hash(h ^ 0x9e37_79b9_7f4a_7c15)) % (m - 1) + 1;
            (i, offset, skip, *w)
        })
        .collect();
    // Turns are taken in the order of the addresses, not of the input, so
    // the same set always gives the same table.
    live.sort_by_key(|(i, ..)| backends[*i].0);
    if live.is_empty() || size < 2 {
        return Vec::new();
    }
    const FREE: u32 = u32::MAX;
    let mut entries = vec![FREE; size as usize];
    let mut next = vec![0u64; live.len()];
    let mut filled = 0u64;
    'fill: loop {
        for (n, (i, offset, skip, weight)) in live.iter().enumerate() {
            for _ in 0..*weight {
                let slot = loop {
                    let c = (offset + next[n] * skip) % m;
                    next[n] += 1;
                    if entries[c as usize] == FREE {
                        break c;
                    }
                };
                entries[slot as usize] = *i as u32;
                filled += 1;
                if filled == m {
                    break 'fill;
                }
            }
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backends(n: usize) -> Vec<(Backend, u32)> {
        (0..n)
            .map(|i| {
                let b = Backend::from(
                    format!("10.244.{}.{}:8080", i / 250, i % 250 + 2)
                        .parse::<std::net::SocketAddr>()
                        .unwrap(),
                );
                (b, 1)
            })
            .collect()
    }

    fn owners(t: &[u32], set: &[(Backend, u32)]) -> Vec<Backend> {
        t.iter().map(|i| set[*i as usize].0).collect()
    }

    #[test]
    fn primes() {
        assert!(is_prime(16_381) && is_prime(2) && is_prime(251));
        assert!(!is_prime(16_383) && !is_prime(1) && !is_prime(0) && !is_prime(65_536));
    }

    #[test]
    fn every_backend_gets_an_even_share() {
        let set = backends(10);
        let t = table(&set, 16_381);
        assert_eq!(t.len(), 16_381);
        let mut count = [0u32; 10];
        for i in &t {
            count[*i as usize] += 1;
        }
        // 1638 each when perfectly even; Maglev stays within a few entries.
        assert!(
            count.iter().all(|c| (1_600..=1_680).contains(c)),
            "{count:?}"
        );
    }

    #[test]
    fn removing_one_of_ten_moves_about_a_tenth() {
        let set = backends(10);
        let before = owners(&table(&set, 16_381), &set);
        let fewer: Vec<_> = set
            .iter()
            .copied()
            .filter(|(b, _)| *b != set[3].0)
            .collect();
        let after = owners(&table(&fewer, 16_381), &fewer);
        let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        let share = moved as f64 / 16_381.0;
        // The removed backend's tenth must move; Maglev moves a little more.
        assert!((0.09..=0.15).contains(&share), "moved {share:.3}");
        // Entries that did not belong to the removed backend mostly stay.
        let kept_elsewhere = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| **a != set[3].0 && a == b)
            .count();
        assert!(kept_elsewhere as f64 / 16_381.0 > 0.85);
    }

    #[test]
    fn the_table_depends_only_on_the_backends() {
        let mut set = backends(7);
        let a = owners(&table(&set, 251), &set);
        set.reverse();
        let b = owners(&table(&set, 251), &set);
        assert_eq!(a, b, "order of the input does not matter");
    }

    #[test]
    fn weights_share_the_table_and_zero_drains() {
        let mut set = backends(3);
        set[0].1 = 2;
        set[2].1 = 0;
        let t = table(&set, 16_381);
        let mut count = [0u32; 3];
        for i in &t {
            count[*i as usize] += 1;
        }
        assert_eq!(count[2], 0, "weight 0 gets nothing");
        let ratio = f64::from(count[0]) / f64::from(count[1]);
        assert!((1.9..=2.1).contains(&ratio), "{count:?}");
        assert!(table(&[(set[2].0, 0)], 251).is_empty());
    }
}
