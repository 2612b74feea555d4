//! `berth`: the one multi-call binary. It wires crates together and holds
//! no logic of its own. Invoked as `berth-cni` it is the CNI plugin.

mod cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let name = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == cmd::cni::PLUGIN_NAME {
        // Logs go to stderr; stdout is the plugin's result.
        cmd::init_tracing(0);
        return cmd::cni::run_plugin();
    }
    let cli = cmd::Cli::parse();
    if cli.command.prints_for_a_pipe() {
        // `berth get pods -o name | head -1`: a closed pipe ends us quietly,
        // as it does any Unix tool, instead of a panic in println!. Only
        // for the short-lived commands: a daemon keeps SIGPIPE ignored, or
        // a peer closing a TLS connection during a writev would kill it.
        // SAFETY: called before any other thread exists; SIG_DFL is a valid
        // disposition for SIGPIPE.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    cmd::init_tracing(cli.verbose);
    match cmd::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
