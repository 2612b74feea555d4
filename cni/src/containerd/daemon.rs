//! containerd's `config.toml` (version 2, containerd 1.6).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// containerd's CRI plugin; never disabled, always required.
pub const CRI_PLUGIN: &str = "io.containerd.grpc.v1.cri";

/// The runc shim the CRI plugin's default runtime uses.
pub const RUNC_RUNTIME_TYPE: &str = "io.containerd.runc.v2";

/// Snapshotters that cannot work on a plain node and only add noise to the
/// log when they fail to load.
pub const DEFAULT_DISABLED_PLUGINS: &[&str] = &[
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
];

/// The snapshotter the CRI plugin unpacks images with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snapshotter {
    /// `overlayfs`: the default; needs overlay mounts on the root's file
    /// system.
    Overlayfs,
    /// `native`: plain copies; works everywhere, slower.
    Native,
}

impl Snapshotter {
    /// containerd's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Snapshotter::Overlayfs => "overlayfs",
            Snapshotter::Native => "native",
        }
    }
}

/// The settings of one containerd instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerdConfig {
    /// Persistent state (`root`).
    pub root: PathBuf,
    /// Runtime state (`state`).
    pub state: PathBuf,
    /// The gRPC unix socket (`[grpc] address`); the ttrpc socket is this
    /// path with `.ttrpc` appended.
    pub address: PathBuf,
    /// The CRI plugin's `sandbox_image` (the pause image).
    pub sandbox_image: String,
    /// CNI plugin binaries (`berth-cni` and `loopback`, which the CRI plugin
    /// always invokes for the pod's `lo`).
    pub cni_bin_dir: PathBuf,
    /// CNI configuration directory (the conflist).
    pub cni_conf_dir: PathBuf,
    /// Snapshotter of the CRI plugin.
    pub snapshotter: Snapshotter,
    /// Plugins not to load; [`CRI_PLUGIN`] is dropped from this list.
    pub disabled_plugins: Vec<String>,
}

impl ContainerdConfig {
    /// A configuration with the overlayfs snapshotter and
    /// [`DEFAULT_DISABLED_PLUGINS`].
    pub fn new(
        root: impl Into<PathBuf>,
        state: impl Into<PathBuf>,
        address: impl Into<PathBuf>,
        sandbox_image: impl Into<String>,
        cni_bin_dir: impl Into<PathBuf>,
        cni_conf_dir: impl Into<PathBuf>,
    ) -> ContainerdConfig {
        ContainerdConfig {
            root: root.into(),
            state: state.into(),
            address: address.into(),
            sandbox_image: sandbox_image.into(),
            cni_bin_dir: cni_bin_dir.into(),
            cni_conf_dir: cni_conf_dir.into(),
            snapshotter: Snapshotter::Overlayfs,
            disabled_plugins: DEFAULT_DISABLED_PLUGINS
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
        }
    }

    /// The ttrpc socket (containerd's default: the gRPC socket + `.ttrpc`).
    pub fn ttrpc_address(&self) -> PathBuf {
        let mut s = self.address.clone().into_os_string();
        s.push(".ttrpc");
        PathBuf::from(s)
    }

    /// runc's state directory (`Root` of the runc options): under `state`, so
    /// that this instance's containers never mix with another's.
    pub fn runc_root(&self) -> PathBuf {
        self.state.join("runc")
    }

    /// The `config.toml` text.
    pub fn to_toml(&self) -> String {
        let cri = format!("plugins.{}", quote(CRI_PLUGIN));
        let disabled: Vec<String> = self
            .disabled_plugins
            .iter()
            .filter(|p| p.as_str() != CRI_PLUGIN)
            .map(|p| quote(p))
            .collect();
        let mut t = String::new();
        // `writeln!` into a String cannot fail.
        let mut line = |s: String| {
            let _ = writeln!(t, "{s}");
        };
        line("# Written by Berth for containerd 1.6 (config version 2).".into());
        line("version = 2".into());
        line(format!("root = {}", path(&self.root)));
        line(format!("state = {}", path(&self.state)));
        line("oom_score = 0".into());
        line(format!("disabled_plugins = [{}]", disabled.join(", ")));
        line(format!("required_plugins = [{}]", quote(CRI_PLUGIN)));
        line(String::new());
        line("[grpc]".into());
        line(format!("  address = {}", path(&self.address)));
        line("  uid = 0".into());
        line("  gid = 0".into());
        line(String::new());
        line("[ttrpc]".into());
        line(format!("  address = {}", path(&self.ttrpc_address())));
        line(String::new());
        line(format!(
            "[plugins.{}]",
            quote("io.containerd.internal.v1.opt")
        ));
        line(format!("  path = {}", path(&self.root.join("opt"))));
        line(String::new());
        line(format!("[{cri}]"));
        line(format!("  sandbox_image = {}", quote(&self.sandbox_image)));
        line("  # The node may lack CAP_SYS_RESOURCE: never lower a child's".into());
        line("  # oom_score_adj below containerd's own.".into());
        line("  restrict_oom_score_adj = true".into());
        line("  netns_mounts_under_state_dir = true".into());
        line("  stream_server_address = \"127.0.0.1\"".into());
        line("  stream_server_port = \"0\"".into());
        line("  enable_selinux = false".into());
        line(String::new());
        line(format!("[{cri}.containerd]"));
        line(format!(
            "  snapshotter = {}",
            quote(self.snapshotter.as_str())
        ));
        line("  default_runtime_name = \"runc\"".into());
        line(String::new());
        line(format!("[{cri}.containerd.runtimes.runc]"));
        line(format!("  runtime_type = {}", quote(RUNC_RUNTIME_TYPE)));
        line(String::new());
        line(format!("[{cri}.containerd.runtimes.runc.options]"));
        line("  SystemdCgroup = false".into());
        line(format!("  Root = {}", path(&self.runc_root())));
        line(String::new());
        line(format!("[{cri}.cni]"));
        line(format!("  bin_dir = {}", path(&self.cni_bin_dir)));
        line(format!("  conf_dir = {}", path(&self.cni_conf_dir)));
        line("  max_conf_num = 1".into());
        line("  conf_template = \"\"".into());
        t
    }
}

fn path(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
