//! Cgroups and commands started inside a cgroup and a netns (needs root).

use std::process::{Command, Stdio};

use berth_test_support::cgroup::{self, CGROUP_PREFIX};
use berth_test_support::cmd::in_netns_and_cgroup;
use berth_test_support::{Cgroup, Netns};

fn cgroup_line(cg: &Cgroup) -> String {
    let root = cgroup::v2_root().expect("root");
    let rel = cg.path().strip_prefix(&root).expect("under root");
    format!("0::/{}", rel.display())
}

#[test]
fn v2_root_is_cgroup2() {
    let root = cgroup::v2_root().expect("root");
    assert!(root.join("cgroup.procs").exists(), "{}", root.display());
}

#[test]
fn cgroup_lifecycle_with_a_process_left_inside() {
    let cg = Cgroup::new().expect("cgroup");
    let path = cg.path().to_owned();
    assert!(path.is_dir());
    let name = path.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(name.starts_with(CGROUP_PREFIX));
    assert!(cg.id().expect("id") > 0);
    assert!(cg.file().metadata().expect("stat").is_dir());

    let mut child = Command::new("sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sleep");
    cg.add_pid(child.id()).expect("add pid");
    assert_eq!(cg.pids().expect("pids"), [child.id()]);
    // A sub-cgroup made by someone else is removed too.
    std::fs::create_dir(path.join("sub")).expect("mkdir sub");

    drop(cg);
    assert!(
        !path.exists(),
        "{} removed while a process was inside",
        path.display()
    );
    let now = std::fs::read_to_string(format!("/proc/{}/cgroup", child.id())).expect("read");
    assert!(now.lines().any(|l| l == "0::/"), "{now}");
    child.kill().expect("kill");
    child.wait().expect("wait");
}

#[test]
fn child_runs_in_netns_and_cgroup() {
    let ns = Netns::new().expect("netns");
    let cg = Cgroup::new().expect("cgroup");
    let out = in_netns_and_cgroup("sh", &ns, Some(&cg))
        .args(["-c", "cat /proc/self/cgroup; readlink /proc/self/ns/net"])
        .output()
        .expect("run sh");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l == cgroup_line(&cg)), "{stdout}");
    assert!(
        stdout.lines().any(|l| l == format!("net:[{}]", ns.ino())),
        "{stdout}"
    );

    // Without a cgroup: only the namespace changes.
    let mut cmd = in_netns_and_cgroup("readlink", &ns, None);
    cmd.command_mut().arg("/proc/self/ns/net");
    let out = cmd.output().expect("run readlink");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("net:[{}]", ns.ino())
    );

    // A long-running child is listed in the cgroup; dropping the cgroup
    // moves it out first.
    let mut child = in_netns_and_cgroup("sleep", &ns, Some(&cg))
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    assert!(cg.pids().expect("pids").contains(&child.id()));
    let path = cg.path().to_owned();
    drop(cg);
    assert!(!path.exists());
    child.kill().expect("kill");
    child.wait().expect("wait");
}

#[test]
fn spawn_fails_cleanly_when_the_cgroup_is_gone() {
    let ns = Netns::new().expect("netns");
    let cg = Cgroup::new().expect("cgroup");
    let mut cmd = in_netns_and_cgroup("true", &ns, Some(&cg));
    drop(cg);
    assert!(cmd.status().is_err(), "writing to a removed cgroup fails");
}
