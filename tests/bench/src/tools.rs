//! The programs a benchmark runs, checked before it starts.

/// Fails, naming the program and the Debian package that has it, unless
/// each `(program, package)` of `tools` is found as the shell finds it
/// (`command -v`). `bench` names the benchmark (`berth bench dns`).
pub(crate) fn require(bench: &str, tools: &[(&str, &str)]) -> anyhow::Result<()> {
    for (bin, package) in tools {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {bin}")])
            .output()
            .is_ok_and(|o| o.status.success());
        anyhow::ensure!(
            found,
            "{bench} needs {bin} (Debian package {package}; `cargo xtask setup` installs it)"
        );
    }
    Ok(())
}
