//! A standalone copy of the plugin (`cni-plugin`) for this crate's tests:
//! reads the CNI environment and stdin, writes stdout. Users run the `berth`
//! binary as `berth-cni`; this one is not named `berth-cni` so that it never
//! replaces the `target/release/berth-cni -> berth` link.

use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut stdin = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut stdin) {
        eprintln!("berth-cni: reading stdin: {e}");
        let err = berth_cni::CniError::new(berth_cni::Code::Io, format!("reading stdin: {e}"));
        println!("{}", err.to_json(berth_cni::version::LATEST));
        return ExitCode::FAILURE;
    }
    let env = berth_cni::Env::from_process();
    berth_cni::run(&env, &stdin, &mut std::io::stdout().lock()).into()
}
