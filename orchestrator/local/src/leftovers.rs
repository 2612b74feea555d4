//! What of a local cluster is still on the host: `berth down --purge` must
//! leave nothing, and tests check it with [`scan`].

use std::fs;
use std::path::{Path, PathBuf};

use crate::Layout;

/// Something of Berth's that is still there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftover {
    /// A process whose command line names the cluster's directories.
    Process {
        /// Its pid.
        pid: u32,
        /// Its command line, spaces between the arguments.
        cmdline: String,
    },
    /// A file or directory (pins, state, CNI configuration).
    Path(PathBuf),
    /// A mount point under the cluster's directories.
    Mount(PathBuf),
    /// A network interface.
    Interface(String),
    /// BPF programs attached to a cgroup.
    CgroupPrograms {
        /// The cgroup.
        cgroup: PathBuf,
        /// How many, beyond those there before.
        count: usize,
    },
    /// The cgroup's programs could not be counted: nothing proves they
    /// are gone.
    CgroupUnreadable {
        /// The cgroup.
        cgroup: PathBuf,
        /// Why.
        error: String,
    },
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Process { pid, cmdline } => write!(f, "process {pid}: {cmdline}"),
            Self::Path(p) => write!(f, "path {}", p.display()),
            Self::Mount(p) => write!(f, "mount {}", p.display()),
            Self::Interface(i) => write!(f, "interface {i}"),
            Self::CgroupPrograms { cgroup, count } => {
                write!(f, "{count} BPF program(s) on cgroup {}", cgroup.display())
            }
            Self::CgroupUnreadable { cgroup, error } => {
                write!(f, "BPF programs on cgroup {}: {error}", cgroup.display())
            }
        }
    }
}

/// What to look for besides the layout's directories.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Files the cluster wrote elsewhere (the CNI conflist, ~/.berth/config).
    pub files: Vec<PathBuf>,
    /// Interfaces it made (the bridge, the DNS dummy).
    pub interfaces: Vec<String>,
    /// The cgroup its data plane attached to: programs there count when
    /// more than `programs_before`.
    pub cgroup: Option<PathBuf>,
    /// Programs attached to `cgroup` before the cluster started.
    pub programs_before: usize,
}

/// Everything of the cluster at `layout` still on the host.
pub fn scan(layout: &Layout, expect: &Expect) -> Vec<Leftover> {
    let mut found = processes(layout);
    for p in [&layout.state_dir, &layout.run_dir, &layout.bpffs]
        .into_iter()
        .chain(&expect.files)
    {
        if p.exists() {
            found.push(Leftover::Path(p.clone()));
        }
    }
    found.extend(mounts(layout).into_iter().map(Leftover::Mount));
    for i in &expect.interfaces {
        if Path::new("/sys/class/net").join(i).exists() {
            found.push(Leftover::Interface(i.clone()));
        }
    }
    if let Some(cg) = &expect.cgroup {
        match cgroup_programs(cg) {
            Ok(count) if count > expect.programs_before => {
                found.push(Leftover::CgroupPrograms {
                    cgroup: cg.clone(),
                    count: count - expect.programs_before,
                });
            }
            Ok(_) => {}
            Err(e) => found.push(Leftover::CgroupUnreadable {
                cgroup: cg.clone(),
                error: e.to_string(),
            }),
        }
    }
    found
}

/// Processes whose command line names the state or run dir.
fn processes(layout: &Layout) -> Vec<Leftover> {
    let me = std::process::id();
    let needles = [
        layout.state_dir.to_string_lossy().into_owned(),
        layout.run_dir.to_string_lossy().into_owned(),
    ];
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for e in dir.filter_map(Result::ok) {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me || !berth_node::daemon::alive(pid) {
            continue;
        }
        let Ok(raw) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        let cmdline = cmdline.trim().to_owned();
        if needles.iter().any(|n| cmdline.contains(n.as_str())) {
            found.push(Leftover::Process { pid, cmdline });
        }
    }
    found
}

/// Mount points under the state or run dir (from /proc/self/mountinfo).
fn mounts(layout: &Layout) -> Vec<PathBuf> {
    owned_mounts(layout, &berth_mountinfo::mounts().unwrap_or_default())
}

/// The mount points of `mounts` that `layout` owns.
fn owned_mounts(layout: &Layout, mounts: &[berth_mountinfo::Mount]) -> Vec<PathBuf> {
    mounts
        .iter()
        .map(|m| m.point.clone())
        .filter(|p| layout.owns(p))
        .collect()
}

/// Programs attached to `cgroup` (its own attachments, not inherited),
/// counted with BPF_PROG_QUERY over every attach type.
pub fn cgroup_programs(cgroup: &Path) -> std::io::Result<usize> {
    berth_dataplane::kernel::cgroup_programs(cgroup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_layout_has_no_leftovers_and_a_file_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout {
            state_dir: dir.path().join("state"),
            run_dir: dir.path().join("run"),
            bpffs: dir.path().join("bpf"),
            cni_conf_dir: dir.path().join("cni"),
        };
        let expect = Expect {
            interfaces: vec!["berth-none0".into()],
            ..Expect::default()
        };
        assert_eq!(scan(&layout, &expect), vec![]);
        fs::create_dir_all(&layout.run_dir).unwrap();
        assert_eq!(
            scan(&layout, &expect),
            vec![Leftover::Path(layout.run_dir.clone())]
        );
    }

    #[test]
    fn a_mount_whose_path_has_a_space_is_found() {
        let layout = Layout {
            state_dir: "/var/lib/my berth".into(),
            run_dir: "/run/berth".into(),
            bpffs: "/sys/fs/bpf/berth".into(),
            cni_conf_dir: "/etc/cni/net.d".into(),
        };
        let info = "40 1 0:40 / /var/lib/my\\040berth/containerd/x rw - overlay overlay rw\n\
                    41 1 0:41 / /var/lib/other rw - tmpfs tmpfs rw\n";
        assert_eq!(
            owned_mounts(&layout, &berth_mountinfo::parse(info)),
            [PathBuf::from("/var/lib/my berth/containerd/x")]
        );
    }
}
