//! Stale-leftover cleanup (needs root). One test function, so that nothing
//! else in this binary runs `stale` concurrently with it.

use std::path::Path;
use std::process::Command;

use berth_test_support::cgroup::{self, CGROUP_PREFIX};
use berth_test_support::cleanup;
use berth_test_support::name::{self, LONG_PREFIX};
use berth_test_support::{Cgroup, Netns};

/// A pid that is not running: pids are always below `pid_max`. Offset by our
/// own pid so that concurrent test processes fake different owners.
fn dead_pid() -> u32 {
    let max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .expect("pid_max")
        .trim()
        .parse()
        .expect("number");
    (max + std::process::id()..)
        .find(|p| !cleanup::pid_alive(*p))
        .expect("a dead pid")
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {out:?}");
}

/// Runs a closure on drop: undoes the test's setup even if it fails half-way.
struct Defer<F: FnMut()>(F);

impl<F: FnMut()> Drop for Defer<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Moves processes out of `cg` (and its `child`) and removes them.
fn remove_cgroup(root: &Path, cg: &Path) {
    for dir in [cg.join("child"), cg.to_owned()] {
        if let Ok(pids) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in pids.lines() {
                let _ = std::fs::write(root.join("cgroup.procs"), pid);
            }
        }
        let _ = std::fs::remove_dir(&dir);
    }
}

#[test]
fn stale_removes_dead_leftovers_and_keeps_live_ones() {
    let dead = dead_pid();
    assert!(!cleanup::pid_alive(dead));

    // Network namespaces.
    let stale_ns = name::unique_for_pid("n", dead);
    ip(&["netns", "add", &stale_ns]);
    let _ns_guard = Defer(|| {
        if Path::new("/run/netns").join(&stale_ns).exists() {
            let _ = Command::new("ip")
                .args(["netns", "del", &stale_ns])
                .status();
        }
    });
    let live_ns = Netns::new().expect("live netns");

    // Cgroups, one with a sub-cgroup and a process inside.
    let root = cgroup::v2_root().expect("cgroup root");
    let stale_cg = root.join(format!(
        "{CGROUP_PREFIX}{}",
        name::unique_for_pid("c", dead)
    ));
    std::fs::create_dir(&stale_cg).expect("mkdir stale cgroup");
    let _cg_guard = Defer(|| remove_cgroup(&root, &stale_cg));
    std::fs::create_dir(stale_cg.join("child")).expect("mkdir child cgroup");
    let mut sleeper = Command::new("sleep").arg("60").spawn().expect("spawn");
    let sleeper_pid = sleeper.id();
    let _sleeper_guard = Defer(|| {
        let _ = Command::new("kill").arg(sleeper_pid.to_string()).status();
    });
    std::fs::write(
        stale_cg.join("child/cgroup.procs"),
        sleeper.id().to_string(),
    )
    .expect("move sleeper");
    let live_cg = Cgroup::new().expect("live cgroup");
    // Not ours at all, even with a dead-looking name shape.
    let foreign_cg = root.join(format!("{LONG_PREFIX}other-{dead}"));
    std::fs::create_dir(&foreign_cg).expect("mkdir foreign cgroup");
    let _foreign_guard = Defer(|| remove_cgroup(&root, &foreign_cg));

    // Interfaces (veth pairs): scanned in the calling thread's namespace, so
    // use one of ours.
    let stale_if = name::unique_for_pid("v", dead);
    let stale_peer = name::unique_for_pid("v", dead);
    let live_if = name::unique("v");
    let live_peer = name::unique("v");
    for (a, b) in [(&stale_if, &stale_peer), (&live_if, &live_peer)] {
        live_ns
            .ip(&["link", "add", a, "type", "veth", "peer", "name", b])
            .expect("add veth");
    }

    let mut reports = Vec::new();
    let removed = live_ns
        .run(|| cleanup::stale(|line| reports.push(line.to_owned())))
        .expect("run stale");
    eprintln!("stale cleanup removed {removed}: {reports:#?}");

    assert!(!Path::new("/run/netns").join(&stale_ns).exists());
    assert!(live_ns.path().exists());
    assert!(!stale_cg.exists());
    assert!(live_cg.path().exists());
    assert!(foreign_cg.exists());
    let links = live_ns.ip(&["-o", "link", "show"]).expect("links");
    assert!(!links.contains(&format!(" {stale_if}@")), "{links}");
    assert!(!links.contains(&format!(" {stale_peer}@")), "{links}");
    assert!(links.contains(&format!(" {live_if}@")), "{links}");
    assert!(links.contains(&format!(" {live_peer}@")), "{links}");
    assert!(
        reports
            .iter()
            .any(|r| r.contains(&stale_if) || r.contains(&stale_peer)),
        "{reports:?}"
    );
    // The namespace and cgroup may have been reaped by a concurrent test
    // process's own `stale` call; the interface lives in our namespace.
    assert!(removed >= 1);

    let now = std::fs::read_to_string(format!("/proc/{}/cgroup", sleeper.id())).expect("read");
    assert!(now.lines().any(|l| l == "0::/"), "{now}");
    sleeper.kill().expect("kill");
    sleeper.wait().expect("wait");
}
