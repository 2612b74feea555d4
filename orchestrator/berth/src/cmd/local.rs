//! The flags that say where a `berth up` cluster lives: `berth up`,
//! `berth down` and `berth status` take the same, and map them onto
//! berth-local's [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;

use berth_local::Config;
use clap::Args;

/// Where the cluster lives; `berth up`, `down` and `status` take the same.
#[derive(Debug, Args, Clone)]
pub struct LocalArgs {
    /// Persistent state (store, credentials, containerd root).
    #[arg(long, default_value = "/var/lib/berth")]
    pub state_dir: PathBuf,
    /// Runtime files (pid files, containerd's state and socket).
    #[arg(long, default_value = "/run/berth")]
    pub run_dir: PathBuf,
    /// The data plane's BPF pins.
    #[arg(long, default_value = "/sys/fs/bpf/berth")]
    pub bpffs: PathBuf,
    /// CNI plugin binaries.
    #[arg(long, default_value = "/opt/cni/bin")]
    pub cni_bin_dir: PathBuf,
    /// CNI configuration.
    #[arg(long, default_value = "/etc/cni/net.d")]
    pub cni_conf_dir: PathBuf,
    /// The API server's address.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// The pods' bridge.
    #[arg(long, default_value = "berth0")]
    pub bridge: String,
    /// Where the admin credentials are copied for the CLI (default
    /// ~/.berth/config).
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// More `berth server` arguments (one per use), e.g.
    /// `--server-arg=--cluster-cidr=10.250.0.0/16`.
    #[arg(long = "server-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// More `berth agent` arguments (one per use).
    #[arg(long = "agent-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub agent_args: Vec<String>,
}

impl LocalArgs {
    /// The flags as berth-local's cluster configuration.
    pub fn config(&self) -> Config {
        Config {
            state_dir: self.state_dir.clone(),
            run_dir: self.run_dir.clone(),
            bpffs: self.bpffs.clone(),
            cni_bin_dir: self.cni_bin_dir.clone(),
            cni_conf_dir: self.cni_conf_dir.clone(),
            listen: self.listen,
            bridge: self.bridge.clone(),
            credentials: self.credentials.clone(),
            server_args: self.server_args.clone(),
            agent_args: self.agent_args.clone(),
        }
    }
}
