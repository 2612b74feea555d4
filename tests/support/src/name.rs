//! Unique, parseable names for everything this crate creates.
//!
//! A short name looks like `btn4711-1a`: the reserved [`PREFIX`] `bt`, one
//! letter for the kind of object (`n`etns, `v`eth, `b`ridge, ...), the owner's
//! pid in decimal, a dash, and a process-wide counter in base 36. It always
//! fits `IFNAMSIZ` (15 characters) for real pids (Linux pids have at most 7
//! digits), so it can name interfaces as well as namespaces. The counter uses
//! whatever room the pid leaves (at least 4 base-36 digits, 1.6 million names)
//! and wraps after that.
//!
//! Objects that live in trees with roomier names (cgroups, bpffs directories)
//! use [`LONG_PREFIX`] followed by a short name: `berth-test-btc4711-2`.
//!
//! [`owner_pid`] parses both forms back, which lets
//! [`cleanup::stale`](crate::cleanup::stale) recognise leftovers of dead
//! processes without ever touching anything else.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every short name created by this crate starts with this.
pub const PREFIX: &str = "bt";

/// Prefix of long names (cgroups, bpffs directories): `berth-test-<short name>`.
pub const LONG_PREFIX: &str = "berth-test-";

/// Where the BPF filesystem is normally mounted.
pub const BPFFS_ROOT: &str = "/sys/fs/bpf";

/// Linux `IFNAMSIZ` minus the terminating NUL.
pub const MAX_IFNAME_LEN: usize = 15;

/// Counter digits never shrink below this, even for 7-digit pids.
const MIN_COUNTER_DIGITS: usize = 4;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique within this machine for the lifetime of this process:
/// `bt<kind letter><pid>-<counter>`, at most 15 characters.
///
/// `kind` is only a hint for humans; its first ASCII letter is used.
pub fn unique(kind: &str) -> String {
    unique_for_pid(kind, std::process::id())
}

/// Like [`unique`] but claiming `pid` as the owner.
///
/// Meant for tests of stale-object cleanup, which need names that look like
/// they were left behind by a dead process.
pub fn unique_for_pid(kind: &str, pid: u32) -> String {
    let letter = kind
        .chars()
        .find(char::is_ascii_alphabetic)
        .map_or('x', |c| c.to_ascii_lowercase());
    let head = format!("{PREFIX}{letter}{pid}-");
    let width = MAX_IFNAME_LEN
        .saturating_sub(head.len())
        .max(MIN_COUNTER_DIGITS);
    let modulus = 36u64.saturating_pow(u32::try_from(width).unwrap_or(u32::MAX));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) % modulus;
    format!("{head}{}", base36(n))
}

/// A long name: [`LONG_PREFIX`] followed by a [`unique`] short name.
pub fn unique_long(kind: &str) -> String {
    format!("{LONG_PREFIX}{}", unique(kind))
}

/// `/sys/fs/bpf/berth-test-<unique>`: a fresh place to pin maps and links.
/// The directory is not created.
pub fn unique_bpffs_dir() -> PathBuf {
    PathBuf::from(BPFFS_ROOT).join(unique_long("f"))
}

/// The pid that created `name`, if `name` is a short or long name produced by
/// this module; `None` for anything else.
pub fn owner_pid(name: &str) -> Option<u32> {
    let short = name.strip_prefix(LONG_PREFIX).unwrap_or(name);
    if short.len() > MAX_IFNAME_LEN + 3 {
        return None;
    }
    let rest = short.strip_prefix(PREFIX)?;
    let mut chars = rest.chars();
    if !chars.next()?.is_ascii_lowercase() {
        return None;
    }
    let rest = chars.as_str();
    let (pid, counter) = rest.split_once('-')?;
    let pid_ok =
        !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && !pid.starts_with('0');
    let counter_ok = !counter.is_empty()
        && counter
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    if !pid_ok || !counter_ok {
        return None;
    }
    pid.parse().ok()
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_fit_ifnamsiz_and_roundtrip() {
        for pid in [1, 42, 32_767, 999_999, 4_194_303] {
            for kind in ["netns", "veth", "", "9x"] {
                let n = unique_for_pid(kind, pid);
                assert!(n.len() <= MAX_IFNAME_LEN, "{n} too long");
                assert!(n.starts_with(PREFIX));
                assert_eq!(owner_pid(&n), Some(pid), "{n}");
                assert_eq!(owner_pid(&format!("{LONG_PREFIX}{n}")), Some(pid));
            }
        }
    }

    #[test]
    fn names_are_unique() {
        let names: HashSet<String> = (0..10_000).map(|_| unique("v")).collect();
        assert_eq!(names.len(), 10_000);
    }

    #[test]
    fn foreign_names_are_not_ours() {
        for n in [
            "bt0",
            "bta",
            "btn-1",
            "btn12",
            "btn012-1",
            "btnx-1",
            "btn12-",
            "btn12-A",
            "eth0",
            "berth-test-",
            "berth-test-foo",
            "bT n1-1",
            "berth0",
            "btN12-1",
        ] {
            assert_eq!(owner_pid(n), None, "{n}");
        }
    }

    #[test]
    fn base36_digits() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
    }

    #[test]
    fn bpffs_dir_is_owned() {
        let d = unique_bpffs_dir();
        assert!(d.starts_with(BPFFS_ROOT));
        let file = d.file_name().and_then(|s| s.to_str()).unwrap_or_default();
        assert_eq!(owner_pid(file), Some(std::process::id()));
    }
}
