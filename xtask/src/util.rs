//! Small helpers: running commands, timing phases.

use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

pub fn workspace_root() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Ok(dir
        .parent()
        .context("xtask has a parent directory")?
        .to_path_buf())
}

/// Runs a command, inheriting stdio; fails with the command line on error.
pub fn sh(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// Runs a command and returns its stdout, or None if it could not run or failed.
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Wall-clock phases, printed as they end and summed up at the end.
#[derive(Debug, Default)]
pub struct Phases(Vec<(String, Duration, bool)>);

impl Phases {
    pub fn time<T>(
        &mut self,
        name: &str,
        f: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        eprintln!("==> {name}");
        let t = Instant::now();
        let r = f();
        let d = t.elapsed();
        eprintln!(
            "==> {name}: {} in {:.1} s",
            if r.is_ok() { "ok" } else { "FAILED" },
            d.as_secs_f64()
        );
        self.0.push((name.to_string(), d, r.is_ok()));
        r
    }

    pub fn summary(&self) {
        eprintln!("phase times:");
        for (n, d, ok) in &self.0 {
            eprintln!(
                "  {:<28} {:>8.1} s  {}",
                n,
                d.as_secs_f64(),
                if *ok { "ok" } else { "FAILED" }
            );
        }
    }
}
