//! Unmounting whatever is mounted under a directory.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, umount2};

/// Mount points at or below `dir`, deepest first, from
/// `/proc/self/mountinfo`.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    points
}

/// Unmounts everything at or below `dir` (lazily when busy); returns what
/// could not be unmounted.
pub fn unmount_all(dir: &Path) -> Vec<(PathBuf, nix::Error)> {
    let mut failed = Vec::new();
    // Stacked mounts show up once per layer; a few rounds take them all.
    for _ in 0..4 {
        let points = mounts_under(dir);
        if points.is_empty() {
            return Vec::new();
        }
        failed.clear();
        for p in points {
            if let Err(e) =
                umount2(&p, MntFlags::empty()).or_else(|_| umount2(&p, MntFlags::MNT_DETACH))
            {
                failed.push((p, e));
            }
        }
    }
    failed
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u16, |acc, c| acc * 8 + u16::from(c - b'0'));
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape(r"/x\134y"), r"/x\y");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/end\04"), r"/end\04");
    }
}
