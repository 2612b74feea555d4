//! The two plugins under test and one invocation of either, exactly as a
//! runtime performs it: exec the binary inside the node namespace with the
//! `CNI_*` environment and the network configuration on stdin.

use std::{
    io::Write as _,
    net::Ipv4Addr,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use berth_test_support::{Netns, cmd::in_netns_and_cgroup};
use serde_json::{Value, json};

/// Where Debian's containernetworking-plugins puts the reference plugins.
pub const REFERENCE_DIR: &str = "/usr/lib/cni";
/// The Debian package holding them.
pub const REFERENCE_PACKAGE: &str = "containernetworking-plugins";
/// The `CNI_IFNAME` of every pod.
pub const IFNAME: &str = "eth0";
/// The bridge (inside the node namespace).
pub const BRIDGE: &str = "br0";
/// The `PATH` the plugin processes get (the environment is otherwise
/// cleared, as a runtime passes only what it chooses).
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Which plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Berth,
    Reference,
}

impl Kind {
    /// The `plugin` value of the JSON rows.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Berth => "berth",
            Kind::Reference => "reference",
        }
    }
}

/// A plugin binary and how to call it.
#[derive(Debug, Clone)]
pub struct Plugin {
    pub kind: Kind,
    /// The executable started for each call.
    pub binary: PathBuf,
    /// `CNI_PATH`: where the plugin finds delegates (host-local for the
    /// reference bridge).
    pub cni_path: PathBuf,
    /// The configuration's `type`.
    pub conf_type: &'static str,
    /// What exactly is measured, for the report.
    pub description: String,
    /// Whether `binary` is the running executable.
    pub is_this_binary: bool,
}

impl Plugin {
    /// `berth-cni` next to the running `berth` executable (the symlink
    /// `cargo xtask build` creates). When that is some other binary (`cargo
    /// build`/`test -p berth-cni` replace the symlink with the crate's
    /// standalone binary), [`Plugin::link_this_binary`] is needed.
    pub fn berth() -> anyhow::Result<Plugin> {
        let exe = std::env::current_exe().context("locating the running executable")?;
        let dir = exe
            .parent()
            .with_context(|| format!("{} has no parent directory", exe.display()))?;
        let binary = dir.join("berth-cni");
        let target = std::fs::metadata(&binary).ok();
        let same_file = target.as_ref().is_some_and(|t| {
            std::fs::metadata(&exe).is_ok_and(|m| (m.dev(), m.ino()) == (t.dev(), t.ino()))
        });
        let description = match (std::fs::read_link(&binary), same_file) {
            (Ok(link), true) => format!(
                "{} -> {} (this berth binary)",
                binary.display(),
                link.display()
            ),
            (Err(_), true) => format!("{} (a hard link of this berth binary)", binary.display()),
            (Ok(link), false) => format!(
                "{} is a symlink to {}, not to this berth binary",
                binary.display(),
                link.display()
            ),
            (Err(_), false) if target.is_some() => format!(
                "{} is the berth-cni crate's standalone binary (`cargo build`/`test -p berth-cni` \
                 replace the symlink; `cargo xtask build` restores it)",
                binary.display()
            ),
            (Err(_), false) => format!("{} does not exist", binary.display()),
        };
        Ok(Plugin {
            kind: Kind::Berth,
            cni_path: dir.to_path_buf(),
            binary,
            conf_type: "berth-cni",
            description,
            is_this_binary: same_file,
        })
    }

    /// Calls the running `berth` executable through a symlink
    /// `<dir>/berth-cni` (created now) instead, so that the binary measured
    /// is the one running the benchmark, invoked as a runtime invokes it.
    /// The link points at `/proc/<pid>/exe`, which stays this very binary
    /// even if a build replaces the file meanwhile.
    pub fn link_this_binary(&mut self, dir: &Path) -> anyhow::Result<()> {
        let exe = std::env::current_exe().context("locating the running executable")?;
        let this = PathBuf::from(format!("/proc/{}/exe", std::process::id()));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let link = dir.join("berth-cni");
        std::os::unix::fs::symlink(&this, &link)
            .with_context(|| format!("symlinking {} to {}", link.display(), this.display()))?;
        self.description = format!(
            "{} -> {} = {} (this berth binary; {})",
            link.display(),
            this.display(),
            exe.display(),
            self.description
        );
        self.binary = link;
        self.cni_path = dir.to_path_buf();
        self.is_this_binary = true;
        Ok(())
    }

    /// `/usr/lib/cni/bridge` delegating to `/usr/lib/cni/host-local`.
    pub fn reference() -> anyhow::Result<Plugin> {
        let dir = Path::new(REFERENCE_DIR);
        for p in ["bridge", "host-local"] {
            anyhow::ensure!(
                dir.join(p).is_file(),
                "{}: missing; run `cargo xtask setup` (it installs the Debian package {REFERENCE_PACKAGE})",
                dir.join(p).display()
            );
        }
        Ok(Plugin {
            kind: Kind::Reference,
            binary: dir.join("bridge"),
            cni_path: dir.to_path_buf(),
            conf_type: "bridge",
            description: format!(
                "{REFERENCE_DIR}/bridge + {REFERENCE_DIR}/host-local (package {REFERENCE_PACKAGE} {})",
                package_version()
            ),
            is_this_binary: false,
        })
    }

    /// The network configuration: identical for both plugins but for
    /// `type` (and the data directory, one per run).
    pub fn conf(&self, network: &str, subnet: Subnet, data_dir: &Path) -> Value {
        conf(self.conf_type, network, subnet, data_dir)
    }

    /// A command for one call of `op` (`ADD`, `DEL`, ...), to run inside
    /// `node`. The fd of `node` is opened now, before any timing starts.
    pub fn command(&self, node: &Netns, op: &str, id: &str, pod: Option<&Path>) -> Command {
        let mut cmd = in_netns_and_cgroup(&self.binary, node, None).into_command();
        cmd.env_clear()
            .env("PATH", PATH)
            .env("CNI_COMMAND", op)
            .env("CNI_CONTAINERID", id)
            .env("CNI_IFNAME", IFNAME)
            .env("CNI_PATH", &self.cni_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(p) = pod {
            cmd.env("CNI_NETNS", p);
        }
        cmd
    }

    /// `CNI_COMMAND=VERSION`: the supported versions, as reported. Also
    /// brings the binary (and host-local) into the page cache.
    pub fn versions(&self, node: &Netns) -> String {
        let stdin = json!({"cniVersion": "1.0.0"}).to_string();
        let call = Call::run(self.command(node, "VERSION", "", None), stdin.as_bytes());
        if self.kind == Kind::Reference {
            // Warm the delegate too; its answer does not matter.
            let mut hl = Command::new(self.cni_path.join("host-local"));
            hl.env_clear()
                .env("PATH", PATH)
                .env("CNI_COMMAND", "VERSION")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = Call::run(hl, stdin.as_bytes());
        }
        match call.outcome {
            Ok(out) => match serde_json::from_str::<Value>(&out) {
                Ok(v) => {
                    let list: Vec<&str> = v["supportedVersions"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    format!("CNI {}", list.join(", "))
                }
                Err(_) => format!("VERSION printed {:?}", out.trim()),
            },
            Err(e) => format!("VERSION failed: {e}"),
        }
    }
}

/// The configuration both plugins get.
pub fn conf(conf_type: &str, network: &str, subnet: Subnet, data_dir: &Path) -> Value {
    json!({
        "cniVersion": "1.0.0",
        "name": network,
        "type": conf_type,
        "bridge": BRIDGE,
        "isGateway": true,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": subnet.to_string()}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": data_dir.display().to_string(),
        }
    })
}

/// `dpkg-query -W` of the reference package.
pub fn package_version() -> String {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", REFERENCE_PACKAGE])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "(version unknown: dpkg-query failed)".to_string())
}

/// An IPv4 subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    /// Addresses both IPAMs hand out: all but network, broadcast and the
    /// gateway (the first usable).
    pub fn usable(self) -> usize {
        (1usize << (32 - u32::from(self.prefix))).saturating_sub(3)
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0);
        u32::from(ip) & mask == u32::from(self.addr) & mask
    }

    /// `10.244.9.0/24` when it holds `pods`, else the smallest
    /// `10.244.0.0/N` (N >= 16) that does.
    pub fn for_pods(pods: usize) -> Option<Subnet> {
        let default = Subnet {
            addr: Ipv4Addr::new(10, 244, 9, 0),
            prefix: 24,
        };
        if default.usable() >= pods {
            return Some(default);
        }
        (16..24)
            .rev()
            .map(|prefix| Subnet {
                addr: Ipv4Addr::new(10, 244, 0, 0),
                prefix,
            })
            .find(|s| s.usable() >= pods)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One plugin process: wall time from spawn to exit, and its stdout when
/// it exited 0 (else a message with its status, stdout and stderr).
#[derive(Debug)]
pub struct Call {
    pub elapsed: Duration,
    pub outcome: Result<String, String>,
}

impl Call {
    /// Spawns `cmd`, writes `stdin` and closes it, waits for the exit.
    pub fn run(mut cmd: Command, stdin: &[u8]) -> Call {
        let start = Instant::now();
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return Call {
                    elapsed: start.elapsed(),
                    outcome: Err(format!("spawning {}: {e}", cmd.get_program().display())),
                };
            }
        };
        if let Some(mut pipe) = child.stdin.take() {
            // A plugin that exits without reading shows up in its status.
            let _ = pipe.write_all(stdin);
        }
        let waited = child.wait_with_output();
        let elapsed = start.elapsed();
        let outcome = match waited {
            Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
            Ok(o) => Err(format!(
                "{}; stdout {:?}; stderr {:?}",
                o.status,
                clip(&String::from_utf8_lossy(&o.stdout)),
                clip(&String::from_utf8_lossy(&o.stderr))
            )),
            Err(e) => Err(format!("waiting for the plugin: {e}")),
        };
        Call { elapsed, outcome }
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 400;
    let s = s.trim();
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_hold_the_pods() {
        let s = Subnet::for_pods(200).unwrap();
        assert_eq!(s.to_string(), "10.244.9.0/24");
        assert_eq!(s.usable(), 253);
        assert!(s.contains(Ipv4Addr::new(10, 244, 9, 77)));
        assert!(!s.contains(Ipv4Addr::new(10, 244, 8, 77)));
        let s = Subnet::for_pods(1000).unwrap();
        assert_eq!(s.to_string(), "10.244.0.0/22");
        assert!(Subnet::for_pods(70_000).is_none());
    }

    #[test]
    fn configs_differ_only_in_type() {
        let s = Subnet::for_pods(10).unwrap();
        let mut a = conf("berth-cni", "n", s, Path::new("/d"));
        let b = conf("bridge", "n", s, Path::new("/d"));
        a["type"] = json!("bridge");
        assert_eq!(a, b);
        assert_eq!(b["ipam"]["ranges"][0][0]["subnet"], "10.244.9.0/24");
    }
}
