//! [`Config`]: where a local cluster lives and how its daemons are run —
//! what `berth up`, `berth down` and `berth status` are given.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::Layout;
use berth_node::daemon::Daemon;

/// A local cluster: its directories, addresses and the extra arguments of
/// its daemons (the defaults are `berth up`'s flags' defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Persistent state (store, credentials, containerd root).
    pub state_dir: PathBuf,
    /// Runtime files (pid files, containerd's state and socket).
    pub run_dir: PathBuf,
    /// The data plane's BPF pins.
    pub bpffs: PathBuf,
    /// CNI plugin binaries.
    pub cni_bin_dir: PathBuf,
    /// CNI configuration.
    pub cni_conf_dir: PathBuf,
    /// The API server's address.
    pub listen: SocketAddr,
    /// The pods' bridge.
    pub bridge: String,
    /// Where the admin credentials are copied for the CLI; `None`:
    /// `$HOME/.berth/config` ([`Config::credentials_path`]).
    pub credentials: Option<PathBuf>,
    /// More `berth server` arguments.
    pub server_args: Vec<String>,
    /// More `berth agent` arguments.
    pub agent_args: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        let layout = Layout::default();
        Self {
            state_dir: layout.state_dir,
            run_dir: layout.run_dir,
            bpffs: layout.bpffs,
            cni_bin_dir: PathBuf::from("/opt/cni/bin"),
            cni_conf_dir: layout.cni_conf_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 6443)),
            bridge: "berth0".into(),
            credentials: None,
            server_args: Vec::new(),
            agent_args: Vec::new(),
        }
    }
}

impl Config {
    /// The cluster's paths.
    pub fn layout(&self) -> Layout {
        Layout {
            state_dir: self.state_dir.clone(),
            run_dir: self.run_dir.clone(),
            bpffs: self.bpffs.clone(),
            cni_conf_dir: self.cni_conf_dir.clone(),
        }
    }

    /// Where the CLI's copy of the admin credentials goes: the one given,
    /// else `$HOME/.berth/config` (`/root/.berth/config` without `HOME`).
    pub fn credentials_path(&self) -> PathBuf {
        self.credentials.clone().unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/root"))
                .join(".berth/config")
        })
    }

    /// `berth agent`'s arguments (after the subcommand).
    pub fn agent_argv(&self) -> Vec<String> {
        let l = self.layout();
        let mut v: Vec<String> = [
            "--server".into(),
            format!("https://{}", self.listen),
            "--token-file".into(),
            l.node_token().display().to_string(),
            "--data-dir".into(),
            l.agent_dir().display().to_string(),
            "--run-dir".into(),
            l.run_dir.display().to_string(),
            "--cni-bin-dir".into(),
            self.cni_bin_dir.display().to_string(),
            "--cni-conf-dir".into(),
            self.cni_conf_dir.display().to_string(),
            "--bridge".into(),
            self.bridge.clone(),
            "--pod-log-dir".into(),
            l.log_dir().join("pods").display().to_string(),
        ]
        .into();
        v.extend(self.agent_args.iter().cloned());
        v
    }

    /// `program server ...` as a daemon (`program`: the berth binary).
    pub fn server_daemon(&self, program: &Path) -> Daemon {
        let l = self.layout();
        Daemon::new(
            "server",
            program,
            [
                "server".to_owned(),
                "--data-dir".into(),
                l.server_dir().display().to_string(),
                "--listen".into(),
                self.listen.to_string(),
            ]
            .into_iter()
            .chain(self.server_args.iter().cloned()),
            l.pid_file("server"),
            l.log("server"),
        )
    }

    /// `program agent ...` as a daemon (`program`: the berth binary).
    pub fn agent_daemon(&self, program: &Path) -> Daemon {
        let l = self.layout();
        Daemon::new(
            "agent",
            program,
            std::iter::once("agent".to_owned()).chain(self.agent_argv()),
            l.pid_file("agent"),
            l.log("agent"),
        )
    }

    /// The agent's containerd socket.
    pub fn containerd_socket(&self) -> PathBuf {
        self.run_dir.join("containerd").join("containerd.sock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_is_pointed_at_the_server_and_the_layout() {
        let c = Config {
            state_dir: "/s".into(),
            run_dir: "/r".into(),
            listen: "127.0.0.1:7000".parse().unwrap(),
            agent_args: vec!["--node-name=n1".into()],
            ..Config::default()
        };
        let argv = c.agent_argv();
        let after = |flag: &str| {
            let i = argv.iter().position(|a| a == flag).unwrap();
            argv[i + 1].as_str()
        };
        assert_eq!(after("--server"), "https://127.0.0.1:7000");
        assert_eq!(after("--token-file"), "/s/node-token");
        assert_eq!(after("--data-dir"), "/s/agent");
        assert_eq!(after("--pod-log-dir"), "/s/logs/pods");
        assert_eq!(argv.last().map(String::as_str), Some("--node-name=n1"));
        assert_eq!(
            c.containerd_socket(),
            Path::new("/r/containerd/containerd.sock")
        );
        let explicit = Config {
            credentials: Some("/c".into()),
            ..Config::default()
        };
        assert_eq!(explicit.credentials_path(), Path::new("/c"));
    }
}
