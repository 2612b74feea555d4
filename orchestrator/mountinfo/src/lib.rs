//! What is mounted where, read from `/proc/self/mountinfo` (proc(5)):
//! every mount point unescaped (the kernel writes a space as `\040`, a
//! tab, newline and backslash likewise), with its file system type; the
//! mount points under a directory, deepest first; unmounting them all.
//! The one reader of mountinfo the node agent, `berth up`'s leftovers
//! check and the test harnesses share.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, umount2};

/// The file the kernel lists this process's mounts in.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted (unescaped).
    pub point: PathBuf,
    /// Its file system type (`ext4`, `cgroup2`, `overlay`, ...).
    pub fstype: String,
}

/// Parses mountinfo text: one [`Mount`] per well-formed line.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

/// `ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER`.
fn parse_line(line: &str) -> Option<Mount> {
    let fields: Vec<&str> = line.split(' ').collect();
    let point = fields.get(4)?;
    let dash = fields.iter().skip(6).position(|f| *f == "-")? + 6;
    let fstype = fields.get(dash + 1)?;
    Some(Mount {
        point: PathBuf::from(unescape(point)),
        fstype: unescape(fstype),
    })
}

/// This process's mounts.
pub fn mounts() -> io::Result<Vec<Mount>> {
    Ok(parse(&fs::read_to_string(MOUNTINFO)?))
}

/// Mount points at or below `dir` in `mounts`, deepest first, each once.
pub fn points_under(mounts: &[Mount], dir: &Path) -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = mounts
        .iter()
        .map(|m| m.point.clone())
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    points
}

/// This process's mount points at or below `dir`, deepest first (none
/// when mountinfo cannot be read).
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    points_under(&mounts().unwrap_or_default(), dir)
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

/// Where cgroup2 is mounted: `/sys/fs/cgroup/unified` on hybrid hosts,
/// `/sys/fs/cgroup` on unified ones, else the shortest such mount point.
pub fn cgroup2_root() -> io::Result<PathBuf> {
    cgroup2_root_in(&mounts()?)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no cgroup2 file system is mounted"))
}

/// [`cgroup2_root`] among `mounts`.
pub fn cgroup2_root_in(mounts: &[Mount]) -> Option<PathBuf> {
    let mut found: Vec<&Path> = mounts
        .iter()
        .filter(|m| m.fstype == "cgroup2")
        .map(|m| m.point.as_path())
        .collect();
    found.sort_by_key(|p| p.as_os_str().len());
    ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .iter()
        .map(Path::new)
        .find(|p| found.contains(p))
        .or(found.first().copied())
        .map(Path::to_path_buf)
}

/// mountinfo's octal escapes (`\040` for a space, `\134` for a backslash)
/// undone; anything else is kept as it is.
pub fn unescape(s: &str) -> String {
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
    use super::*;

    const SAMPLE: &str = "\
22 1 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw
30 22 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw
40 1 0:40 / /tmp/berth\\040test/run rw master:3 - tmpfs tmpfs rw
41 40 0:41 / /tmp/berth\\040test/run/netns/x rw - nsfs nsfs rw
bad line
";

    #[test]
    fn escapes_are_undone() {
        assert_eq!(unescape(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape(r"/x\134y"), r"/x\y");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/end\04"), r"/end\04");
    }

    #[test]
    fn a_path_with_a_space_is_found_under_its_directory_deepest_first() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 5, "{m:?}");
        assert_eq!(m[2].fstype, "cgroup2");
        assert_eq!(
            points_under(&m, Path::new("/tmp/berth test")),
            [
                PathBuf::from("/tmp/berth test/run/netns/x"),
                PathBuf::from("/tmp/berth test/run"),
            ]
        );
        assert!(points_under(&m, Path::new("/tmp/berth")).is_empty());
    }

    #[test]
    fn the_cgroup2_root_prefers_the_hybrid_mount() {
        let m = parse(SAMPLE);
        assert_eq!(
            cgroup2_root_in(&m),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(cgroup2_root_in(&m[..2]), None);
    }

    #[test]
    fn optional_fields_are_skipped_to_find_the_type() {
        let m = parse("50 1 0:50 / /a rw shared:1 master:2 - overlay overlay rw\n");
        assert_eq!(m[0].fstype, "overlay");
    }
}
