//! The command line's settings, their defaults and checks.

use super::*;

/// Defaults of the command line.
pub const DEFAULT_PODS: usize = 50;
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Services measured for `service_programmed`.
pub const DEFAULT_SERVICES: usize = 20;
/// The target: p99 of service_programmed under this.
pub const TARGET_PROGRAMMED_P99_MS: f64 = 100.0;
/// The node's pod CIDR is one /24 (253 pod addresses): room to spare.
pub const MAX_PODS: usize = 200;
/// The target: p99 of pod_ready under this (local images).
pub const TARGET_P99_MS: f64 = 1000.0;
/// `<temp dir>/berth-bench-pods-<pid>`.
pub(super) const WORKDIR_PREFIX: &str = "berth-bench-pods-";

/// The readiness probe of the pods of one mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Probe {
    /// `readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}`.
    Tcp,
    /// No readiness probe.
    None,
}

impl Probe {
    pub fn name(self) -> &'static str {
        match self {
            Probe::Tcp => "tcpSocket",
            Probe::None => "none",
        }
    }

    pub(super) fn tag(self) -> &'static str {
        match self {
            Probe::Tcp => "tcp",
            Probe::None => "none",
        }
    }
}

impl std::str::FromStr for Probe {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tcp" | "tcpSocket" => Ok(Probe::Tcp),
            "none" => Ok(Probe::None),
            other => Err(format!("{other:?}: expected tcp or none")),
        }
    }
}

/// Settings of `berth bench pods`.
#[derive(Debug, Clone)]
pub struct PodsConfig {
    pub pods: usize,
    /// Pods not yet Ready at a time.
    pub concurrency: usize,
    /// Modes, measured in this order.
    pub probes: Vec<Probe>,
    /// Run berth-cni through a wrapper that logs each call, to split CNI
    /// ADD out of RunPodSandbox.
    pub time_cni: bool,
    /// Services for the `service_programmed` row (0: none).
    pub services: usize,
    pub json: Option<PathBuf>,
}

impl Default for PodsConfig {
    fn default() -> Self {
        Self {
            pods: DEFAULT_PODS,
            concurrency: DEFAULT_CONCURRENCY,
            probes: vec![Probe::Tcp, Probe::None],
            time_cni: false,
            services: DEFAULT_SERVICES,
            json: None,
        }
    }
}

impl PodsConfig {
    pub(super) fn check(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=MAX_PODS).contains(&self.pods),
            "--pods must be 1..={MAX_PODS} (got {}): the node's pod CIDR is one /24, 253 addresses",
            self.pods
        );
        anyhow::ensure!(
            (1..=64).contains(&self.concurrency),
            "--concurrency must be 1..=64 (got {})",
            self.concurrency
        );
        let mut seen = Vec::new();
        self.probes.retain(|p| {
            let new = !seen.contains(p);
            seen.push(*p);
            new
        });
        anyhow::ensure!(
            !self.probes.is_empty(),
            "--probes needs at least one of tcp, none"
        );
        Ok(())
    }
}
