//! What `berth dataplane list` shows: frontends as programmed in the
//! kernel, with their backends and counters (as `cilium bpf lb list`).

use std::fmt::Write as _;

use crate::model::{Backend, BackendState, FrontendKey, Policy};

/// One backend of a frontend and its connection counter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendStatus {
    /// Its id, when new connections may pick it.
    pub id: Option<u32>,
    pub backend: Backend,
    pub state: BackendState,
    pub weight: u16,
    /// Whether new connections may pick it (active with a weight, or the
    /// terminating fallback).
    pub selected: bool,
    /// Connections (TCP) and datagrams sent (unconnected UDP) to it.
    pub connections: u64,
}

/// One frontend (VIP, port, protocol) as programmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontendStatus {
    pub frontend: FrontendKey,
    /// Owning service, when this process knows it (None when read back
    /// from the kernel by another process).
    pub service: Option<String>,
    pub service_id: u32,
    /// Affinity and algorithm.
    pub policy: Policy,
    pub translated: u64,
    pub refused: u64,
    pub backends: Vec<BackendStatus>,
}

/// Renders frontends as a table.
pub fn render(frontends: &[FrontendStatus]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<44} {:>6} {:>10} {:>8} {:>9} {:>8}  BACKENDS (id addr:port connections [weight] [state])",
        "FRONTEND", "ID", "TRANSLATED", "REFUSED", "AFFINITY", "ALGO"
    );
    for f in frontends {
        let backends = if f.backends.is_empty() {
            "(none)".to_string()
        } else {
            f.backends
                .iter()
                .map(|b| {
                    let mut t = match b.id {
                        Some(id) => format!("#{id} {} {}", b.backend, b.connections),
                        None => format!("- {}", b.backend),
                    };
                    if b.weight != 1 {
                        t.push_str(&format!(" w{}", b.weight));
                    }
                    if b.state != BackendState::Active {
                        t.push_str(&format!(" {}", b.state));
                    }
                    t
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let name = f
            .service
            .as_deref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        let affinity = f
            .policy
            .affinity_timeout
            .map(|t| format!("{t}s"))
            .unwrap_or_else(|| "-".to_string());
        let _ = writeln!(
            out,
            "{:<44} {:>6} {:>10} {:>8} {:>9} {:>8}  {}",
            format!("{}{}", f.frontend, name),
            f.service_id,
            f.translated,
            f.refused,
            affinity,
            f.policy.algorithm,
            backends
        );
    }
    out
}
