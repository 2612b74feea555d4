//! `berth-cni`: the CNI plugin, when the binary is invoked under that name
//! (a symlink in /opt/cni/bin). stdout carries only the CNI result.

use std::io::Read;
use std::process::ExitCode;

/// The file name this binary answers to as a CNI plugin.
pub const PLUGIN_NAME: &str = "berth-cni";

pub fn run_plugin() -> ExitCode {
    let mut stdin = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut stdin) {
        let err = berth_cni::CniError::new(berth_cni::Code::Io, format!("reading stdin: {e}"));
        println!("{}", err.to_json(berth_cni::version::LATEST));
        return ExitCode::FAILURE;
    }
    let env = berth_cni::Env::from_process();
    berth_cni::run(&env, &stdin, &mut std::io::stdout().lock()).into()
}
