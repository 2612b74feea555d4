//! Generated names (`web-7d4b9c-x2b4c`) and template hashes, in the
//! alphabet Kubernetes uses so that no name spells a word or starts
//! ambiguous (`k8s.io/apimachinery/pkg/util/rand`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Consonants and digits without look-alikes.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

static STATE: AtomicU64 = AtomicU64::new(0);

fn seed() -> u64 {
    use std::io::Read as _;
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom")
        && f.read_exact(&mut b).is_ok()
    {
        return u64::from_le_bytes(b) | 1;
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    t | 1
}

/// A random 64-bit number (splitmix64 over a seed from /dev/urandom).
pub fn random_u64() -> u64 {
    if STATE.load(Ordering::Relaxed) == 0 {
        let _ = STATE.compare_exchange(0, seed(), Ordering::Relaxed, Ordering::Relaxed);
    }
    let mut z = STATE
        .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `n` random characters of the safe alphabet.
pub fn random_suffix(n: usize) -> String {
    let mut v = random_u64();
    (0..n)
        .map(|i| {
            if i > 0 && i % 12 == 0 {
                v = random_u64();
            }
            let c = ALPHANUMS[(v % ALPHANUMS.len() as u64) as usize];
            v /= ALPHANUMS.len() as u64;
            c as char
        })
        .collect()
}

/// `prefix` + `-` + 5 random characters, cut so that the name stays
/// within `max` (63 for names that become labels or hostnames).
pub fn generate(prefix: &str, max: usize) -> String {
    let keep = prefix.len().min(max.saturating_sub(6));
    format!(
        "{}-{}",
        prefix[..keep].trim_end_matches('-'),
        random_suffix(5)
    )
}

/// FNV-1a, 32 bits.
pub fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// Kubernetes' SafeEncodeString of a number's decimal digits.
pub fn safe_encode(n: u32) -> String {
    n.to_string()
        .bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_safe_and_short() {
        let a = generate("web-7d4b9c", 63);
        assert!(a.starts_with("web-7d4b9c-") && a.len() == 16, "{a}");
        assert!(a[11..].bytes().all(|b| ALPHANUMS.contains(&b)));
        assert_ne!(generate("x", 63), generate("x", 63));
        let long = "a".repeat(80);
        assert_eq!(generate(&long, 63).len(), 63);
    }

    #[test]
    fn hashes_are_stable() {
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        assert_eq!(safe_encode(0), "4");
        assert_eq!(safe_encode(12), safe_encode(12));
    }
}
