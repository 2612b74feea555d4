//! Leftovers of killed node-agent tests and `berth bench pods`: each runs
//! a containerd of its own in a directory `/tmp/<prefix><pid>-...`
//! ([`NODE_DIR_PREFIXES`]) with its root, state (`state/runc` is the runc
//! root), socket and CNI data there. A run killed before its cleanup
//! leaves containerd, its shims, the pods' runc containers (with their
//! network namespaces under `/run/netns`, and so their veths), and mounts
//! under the directory.
//!
//! [`stale_node_dirs`] removes all of that for directories whose owner pid
//! is gone, touching only what names such a directory: runc containers in
//! its runc root, processes whose command line names a path inside it, the
//! network namespaces those containers used, and mounts under it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{MntFlags, umount2};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cleanup::pid_alive;

/// Directory name prefixes (under `/tmp`), each followed by the owner's pid.
pub const NODE_DIR_PREFIXES: &[&str] =
    &["berth-test-agent-", "berth-test-node-", "berth-bench-pods-"];

/// Where those directories are made.
pub const NODE_DIR_PARENT: &str = "/tmp";

/// The pid in `<prefix><pid>[-...]`, for one of [`NODE_DIR_PREFIXES`].
pub fn node_dir_owner(name: &str) -> Option<u32> {
    let rest = NODE_DIR_PREFIXES
        .iter()
        .find_map(|p| name.strip_prefix(p))?;
    let digits = rest.split('-').next()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Removes the leftovers of every stale node directory under
/// [`NODE_DIR_PARENT`]; calls `report` per object removed and returns
/// how many. Best effort: failures are logged.
pub fn stale_node_dirs(report: impl FnMut(&str)) -> usize {
    stale_node_dirs_in(Path::new(NODE_DIR_PARENT), report)
}

/// [`stale_node_dirs`] under `parent`.
pub fn stale_node_dirs_in(parent: &Path, mut report: impl FnMut(&str)) -> usize {
    let Ok(entries) = fs::read_dir(parent) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.filter_map(Result::ok) {
        let Some(name) = e.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(pid) = node_dir_owner(&name) else {
            continue;
        };
        if pid_alive(pid) || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        removed += clean_dir(&e.path(), &mut report);
    }
    removed
}

/// Removes everything under `dir` as [`stale_node_dirs`] does for a dead
/// owner's: the runc containers of every containerd whose state lies in
/// it, processes naming it, their network namespaces, mounts, and the
/// directory. For a cluster harness tearing down its own nodes.
pub fn clean_node_dir(dir: &Path, mut report: impl FnMut(&str)) -> usize {
    clean_dir(dir, &mut report)
}

/// runc roots inside `dir`: `state/runc` (the agent tests' layout) and
/// `<node>/run/containerd/runc` (an agent's `--run-dir` per node).
fn runc_roots(dir: &Path) -> Vec<PathBuf> {
    let mut roots = vec![dir.join("state").join("runc")];
    roots.extend(
        subdirs(dir)
            .into_iter()
            .map(|node| node.join("run").join("containerd").join("runc")),
    );
    roots
}

fn clean_dir(dir: &Path, report: &mut impl FnMut(&str)) -> usize {
    let mut n = 0;
    let mut note = |what: String| {
        n += 1;
        report(&what);
    };
    // The pods' containers (runc kills them and removes their cgroups);
    // their network namespaces first, from runc's state.
    let mut netns = Vec::new();
    for ns in runc_roots(dir).iter().flat_map(|r| subdirs(r)) {
        for c in subdirs(&ns) {
            if let Ok(state) = fs::read_to_string(c.join("state.json")) {
                netns.extend(netns_paths(&state));
            }
            let Some(id) = c.file_name().and_then(|s| s.to_str()).map(str::to_owned) else {
                continue;
            };
            let ok = Command::new("runc")
                .arg("--root")
                .arg(&ns)
                .args(["delete", "--force", &id])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                note(format!("deleted runc container {id} of {}", dir.display()));
            } else {
                tracing::warn!(id, dir = %dir.display(), "runc delete --force failed");
            }
        }
    }
    // containerd and its shims: processes naming a path inside `dir`.
    for pid in processes_naming(dir) {
        if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
            note(format!("killed process {pid} of {}", dir.display()));
        }
    }
    netns.sort();
    netns.dedup();
    for ns in netns {
        let _ = umount2(&ns, MntFlags::MNT_DETACH);
        if fs::remove_file(&ns).is_ok() {
            note(format!("removed network namespace {}", ns.display()));
        }
    }
    for m in berth_mountinfo::mounts_under(dir) {
        match umount2(&m, MntFlags::empty()).or_else(|_| umount2(&m, MntFlags::MNT_DETACH)) {
            Ok(()) => note(format!("unmounted {}", m.display())),
            Err(e) => tracing::warn!(mount = %m.display(), error = %e, "could not unmount"),
        }
    }
    match fs::remove_dir_all(dir) {
        Ok(()) => note(format!("removed {}", dir.display())),
        Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "could not remove"),
    }
    n
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// The `/run/netns/...` (or `/var/run/netns/...`) paths named in a runc
/// state.json.
fn netns_paths(state: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for prefix in ["\"/var/run/netns/", "\"/run/netns/"] {
        let mut rest = state;
        while let Some(i) = rest.find(prefix) {
            let tail = &rest[i + 1..];
            let end = tail.find('"').unwrap_or(tail.len());
            let path = &tail[..end];
            let file = path.rsplit('/').next().unwrap_or_default();
            if !file.is_empty() && !file.contains("..") {
                out.push(PathBuf::from(path));
            }
            rest = &tail[end..];
        }
    }
    out
}

/// Processes (not this one) with an argument naming `dir` or a path in it.
fn processes_naming(dir: &Path) -> Vec<i32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let me = std::process::id() as i32;
    let Ok(procs) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| names(a, needle)))
        })
        .collect()
}

/// Whether `arg` contains the path `dir` itself or a path under it.
fn names(arg: &[u8], dir: &[u8]) -> bool {
    !dir.is_empty()
        && arg
            .windows(dir.len())
            .enumerate()
            .any(|(i, w)| w == dir && matches!(arg.get(i + dir.len()), None | Some(b'/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_of_node_dirs() {
        assert_eq!(node_dir_owner("berth-test-agent-4711-AbC"), Some(4711));
        assert_eq!(node_dir_owner("berth-test-node-12-x"), Some(12));
        assert_eq!(node_dir_owner("berth-bench-pods-99"), Some(99));
        assert_eq!(node_dir_owner("berth-test-agent-x1-y"), None);
        assert_eq!(node_dir_owner("berth-test-agent-"), None);
        assert_eq!(node_dir_owner("other-4711"), None);
    }

    #[test]
    fn netns_paths_from_runc_state() {
        let s = r#"{"namespaces":[{"type":"pid"},{"type":"network","path":"/var/run/netns/cni-1a2b"},{"type":"ipc"}]}"#;
        assert_eq!(netns_paths(s), [PathBuf::from("/var/run/netns/cni-1a2b")]);
        assert!(netns_paths(r#"{"type":"network"}"#).is_empty());
    }

    #[test]
    fn arguments_naming_a_dir() {
        let d = b"/tmp/berth-test-agent-1-x";
        assert!(names(b"/tmp/berth-test-agent-1-x/c.sock", d));
        assert!(names(b"--config=/tmp/berth-test-agent-1-x", d));
        assert!(!names(b"/tmp/berth-test-agent-1-xy/c.sock", d));
    }

    #[test]
    fn a_live_owner_keeps_its_dir() {
        let parent = std::env::temp_dir().join(format!("bt-leftovers-{}", std::process::id()));
        let mine = parent.join(format!("berth-test-agent-{}-x", std::process::id()));
        fs::create_dir_all(&mine).unwrap();
        assert_eq!(stale_node_dirs_in(&parent, |_| {}), 0);
        assert!(mine.exists());
        // pid 0x7fff_fff0 does not exist: its directory goes.
        let dead = parent.join("berth-test-node-2147483632-y");
        fs::create_dir_all(dead.join("state")).unwrap();
        let mut seen = Vec::new();
        assert_eq!(stale_node_dirs_in(&parent, |w| seen.push(w.to_owned())), 1);
        assert!(!dead.exists(), "{seen:?}");
        fs::remove_dir_all(&parent).unwrap();
    }
}
