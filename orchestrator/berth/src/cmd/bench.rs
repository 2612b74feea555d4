//! `berth bench lb`.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Load-balancing latency and programming time (not built yet).
    Lb,
}

pub fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Lb => anyhow::bail!("berth bench lb is not built yet"),
    }
}
