//! Shared helpers: invoke the plugin as a runtime does (environment plus
//! configuration on stdin), inside a "node" network namespace.

#![allow(dead_code)]

use std::path::Path;

use berth_cni::{Env, Exit};
use berth_test_support::Netns;
use serde_json::{Value, json};

/// A network configuration for tests: bridge `br0` (it lives in the test's
/// own node namespace), gateway on the bridge, a default route.
pub fn conf(name: &str, data_dir: &Path, ranges: Value) -> Value {
    json!({
        "cniVersion": "1.0.0",
        "name": name,
        "type": "berth-cni",
        "bridge": "br0",
        "isGateway": true,
        "hairpinMode": true,
        "mtu": 1400,
        "ipam": {
            "type": "host-local",
            "ranges": ranges,
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": data_dir.to_str().unwrap_or_default(),
        }
    })
}

/// One plugin invocation's outcome.
#[derive(Debug)]
pub struct Outcome {
    pub exit: Exit,
    pub stdout: String,
}

impl Outcome {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.stdout))
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.exit, Exit::Success, "plugin failed: {}", self.stdout);
        self
    }

    #[track_caller]
    pub fn err_code(&self) -> u64 {
        assert_eq!(
            self.exit,
            Exit::Failure,
            "expected failure, got {}",
            self.stdout
        );
        self.json()["code"].as_u64().unwrap_or(0)
    }

    pub fn msg(&self) -> String {
        self.json()["msg"].as_str().unwrap_or_default().to_string()
    }
}

/// The `CNI_ARGS` a runtime passes when nothing else is asked for.
pub const DEFAULT_CNI_ARGS: &str = "IgnoreUnknown=1;K8S_POD_NAME=test";

/// Runs the plugin's `run` with the given environment and stdin on the
/// calling thread.
pub fn invoke_here(
    command: &str,
    id: &str,
    netns: Option<&Path>,
    ifname: &str,
    stdin: &[u8],
) -> Outcome {
    invoke_here_with_args(command, id, netns, ifname, stdin, DEFAULT_CNI_ARGS)
}

/// As [`invoke_here`], with the given `CNI_ARGS`.
pub fn invoke_here_with_args(
    command: &str,
    id: &str,
    netns: Option<&Path>,
    ifname: &str,
    stdin: &[u8],
    cni_args: &str,
) -> Outcome {
    let mut vars = vec![
        ("CNI_COMMAND".to_string(), command.to_string()),
        ("CNI_CONTAINERID".to_string(), id.to_string()),
        ("CNI_IFNAME".to_string(), ifname.to_string()),
        ("CNI_PATH".to_string(), "/opt/cni/bin".to_string()),
        ("CNI_ARGS".to_string(), cni_args.to_string()),
    ];
    if let Some(p) = netns {
        vars.push(("CNI_NETNS".to_string(), p.display().to_string()));
    }
    let env = Env::from_pairs(vars);
    let mut out = Vec::new();
    let exit = berth_cni::run(&env, stdin, &mut out);
    Outcome {
        exit,
        stdout: String::from_utf8_lossy(&out).into_owned(),
    }
}

/// Runs the plugin inside `node` (so the bridge and host veths live there).
pub fn invoke(
    node: &Netns,
    command: &str,
    id: &str,
    netns: Option<&Path>,
    ifname: &str,
    conf: &Value,
) -> Outcome {
    invoke_with_args(node, command, id, netns, ifname, conf, DEFAULT_CNI_ARGS)
}

/// As [`invoke`], with the given `CNI_ARGS`.
pub fn invoke_with_args(
    node: &Netns,
    command: &str,
    id: &str,
    netns: Option<&Path>,
    ifname: &str,
    conf: &Value,
    cni_args: &str,
) -> Outcome {
    let stdin = conf.to_string();
    node.run(|| invoke_here_with_args(command, id, netns, ifname, stdin.as_bytes(), cni_args))
        .unwrap_or_else(|e| panic!("running in node netns: {e}"))
}
