//! kube-proxy's nftables mode (pkg/proxy/nftables/proxier.go), reduced to
//! what ClusterIP services with endpoints use: the nat output hook jumps to
//! `services`, which does one verdict-map lookup on
//! `ip daddr . meta l4proto . th dport`; each service chain marks non-pod
//! sources for masquerade and picks an endpoint chain with
//! `numgen random mod K`; each endpoint chain DNATs.

use std::{fmt::Write as _, net::SocketAddr, path::Path, process::Command};

use berth_test_support::Netns;

use super::{CLUSTER_CIDR, khash::hash};
use crate::services::{self, NAMESPACE, NFTABLES_VIPS, PORT_NAME, SERVICE_PORT};

/// The loader.
pub const NFT: &str = "nft";
/// The table (in the client namespace only).
pub const TABLE: &str = "kube-proxy";
/// The verdict map of VIP . protocol . port.
pub const MAP: &str = "svc";

/// `nft -f FILE` inside `ns`.
pub fn load_command(ns: &Netns, file: &Path) -> Command {
    let mut cmd = super::command_in(ns, NFT);
    cmd.arg("-f").arg(file);
    cmd
}

/// `nft delete table ip kube-proxy` inside `ns`.
pub fn delete_command(ns: &Netns) -> Command {
    let mut cmd = super::command_in(ns, NFT);
    cmd.args(["delete", "table", "ip", TABLE]);
    cmd
}

/// kube-proxy's `hashAndTruncate`: 8 characters of hash, a dash, the name.
fn hash_and_truncate(name: &str) -> String {
    format!("{}-{name}", hash(name, 8))
}

fn service_chain(i: usize) -> String {
    let base = format!("{NAMESPACE}/svc-{i}/tcp/{PORT_NAME}");
    format!("service-{}", hash_and_truncate(&base))
}

fn endpoint_chain(i: usize, ep: &SocketAddr) -> String {
    let base = format!(
        "{NAMESPACE}/svc-{i}/tcp/{PORT_NAME}__{}/{}",
        ep.ip(),
        ep.port()
    );
    format!("endpoint-{}", hash_and_truncate(&base))
}

/// The table for services `0..n` with VIPs from [`NFTABLES_VIPS`].
pub fn ruleset(n: usize, backends: &[SocketAddr]) -> String {
    let k = backends.len();
    let mut out = String::with_capacity(n * (k + 1) * 300 + 1024);
    let _ = write!(
        out,
        "table ip {TABLE} {{
  chain mark-for-masquerade {{
    meta mark set meta mark | 0x4000
  }}
  chain masquerading {{
    meta mark & 0x4000 == 0 return
    meta mark set meta mark ^ 0x4000
    masquerade fully-random
  }}
  chain nat-output {{
    type nat hook output priority -100; policy accept;
    jump services
  }}
  chain nat-postrouting {{
    type nat hook postrouting priority 100; policy accept;
    jump masquerading
  }}
  map {MAP} {{
    type ipv4_addr . inet_proto . inet_service : verdict
  }}
  chain services {{
    ip daddr . meta l4proto . th dport vmap @{MAP}
  }}
"
    );
    let mut elements = Vec::with_capacity(n);
    for i in 0..n {
        let vip = services::vip(NFTABLES_VIPS, i);
        let svc = service_chain(i);
        let eps: Vec<String> = backends.iter().map(|b| endpoint_chain(i, b)).collect();
        let picks: Vec<String> = eps
            .iter()
            .enumerate()
            .map(|(j, ep)| format!("{j} : goto {ep}"))
            .collect();
        let _ = write!(
            out,
            "  chain {svc} {{
    ip daddr {vip} tcp dport {SERVICE_PORT} ip saddr != {CLUSTER_CIDR} jump mark-for-masquerade
    numgen random mod {k} vmap {{ {} }}
  }}
",
            picks.join(", ")
        );
        for (b, ep) in backends.iter().zip(&eps) {
            let _ = write!(
                out,
                "  chain {ep} {{
    ip saddr {} jump mark-for-masquerade
    meta l4proto tcp dnat to {b}
  }}
",
                b.ip()
            );
        }
        elements.push(format!("{vip} . tcp . {SERVICE_PORT} : goto {svc}"));
    }
    out.push_str("}\n");
    for chunk in elements.chunks(4096) {
        let _ = writeln!(
            out,
            "add element ip {TABLE} {MAP} {{\n  {}\n}}",
            chunk.join(",\n  ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_vmap_lookup_then_numgen() {
        let backends: Vec<SocketAddr> = ["10.244.7.2:8080", "10.244.7.3:8080"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let r = ruleset(3, &backends);
        assert_eq!(r.matches("vmap @svc").count(), 1);
        assert_eq!(r.matches("numgen random mod 2 vmap").count(), 3);
        assert_eq!(r.matches("dnat to 10.244.7.3:8080").count(), 3);
        assert!(r.contains("10.128.0.3 . tcp . 80 : goto service-"));
        assert!(r.contains("-bench/svc-2/tcp/http__10.244.7.3/8080 {"));
    }
}
