//! kube-proxy's iptables mode, as it writes the nat table for ClusterIP
//! services (pkg/proxy/iptables/proxier.go): KUBE-SERVICES matches VIP and
//! port and jumps to the service's KUBE-SVC-* chain, which marks non-pod
//! sources for masquerade and picks an endpoint with a cascade of
//! `-m statistic --mode random --probability 1/(n-i)` rules; each
//! KUBE-SEP-* chain marks hairpin traffic and DNATs to its endpoint.
//! The filter table's rules (only for services without endpoints and
//! firewalls) are not written: none of these services needs them.

use std::{fmt::Write as _, net::SocketAddr, path::Path, process::Command};

use berth_test_support::Netns;

use super::{CLUSTER_CIDR, khash::hash};
use crate::services::{self, IPTABLES_VIPS, PORT_NAME, SERVICE_PORT};

/// The loader.
pub const RESTORE: &str = "iptables-legacy-restore";
/// For the version line.
pub const VERSION_BIN: &str = "iptables-legacy";
/// Seconds to wait for the xtables lock.
const LOCK_WAIT_S: &str = "60";

/// Restoring this flushes the nat table and deletes its chains.
pub const EMPTY_NAT: &str = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n\
:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n";

/// `iptables-legacy-restore -w 60 FILE` inside `ns` (replaces the nat table).
pub fn restore_command(ns: &Netns, file: &Path) -> Command {
    let mut cmd = super::command_in(ns, RESTORE);
    cmd.args(["-w", LOCK_WAIT_S]).arg(file);
    cmd
}

/// kube-proxy's `servicePortChainName`.
fn svc_chain(spn: &str) -> String {
    format!("KUBE-SVC-{}", hash(&format!("{spn}tcp"), 16))
}

/// kube-proxy's `servicePortEndpointChainName`.
fn sep_chain(spn: &str, endpoint: &SocketAddr) -> String {
    format!("KUBE-SEP-{}", hash(&format!("{spn}tcp{endpoint}"), 16))
}

/// kube-proxy's `probability(n)`: `%0.10f` of 1/n.
fn probability(n: usize) -> String {
    format!("{:.10}", 1.0 / n as f64)
}

/// The nat table for services `0..n` with VIPs from [`IPTABLES_VIPS`].
pub fn ruleset(n: usize, backends: &[SocketAddr]) -> String {
    let k = backends.len();
    let mut chains = String::with_capacity(n * (k + 1) * 40 + 256);
    let mut rules = String::with_capacity(n * (k * 3 + 2) * 140 + 1024);
    chains.push_str("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    chains.push_str(":POSTROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n");
    chains.push_str(":KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n");
    rules.push_str(concat!(
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n",
        "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n",
        "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n",
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n",
        "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n",
        "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n",
        "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n",
    ));
    for i in 0..n {
        let spn = format!("{}:{PORT_NAME}", services::name(i));
        let vip = services::vip(IPTABLES_VIPS, i);
        let svc = svc_chain(&spn);
        let _ = writeln!(chains, ":{svc} - [0:0]");
        let _ = writeln!(
            rules,
            "-A KUBE-SERVICES -m comment --comment \"{spn} cluster IP\" -m tcp -p tcp -d {vip} --dport {SERVICE_PORT} -j {svc}"
        );
        let _ = writeln!(
            rules,
            "-A {svc} -m comment --comment \"{spn} cluster IP\" -m tcp -p tcp -d {vip} --dport {SERVICE_PORT} ! -s {CLUSTER_CIDR} -j KUBE-MARK-MASQ"
        );
        let seps: Vec<String> = backends.iter().map(|b| sep_chain(&spn, b)).collect();
        for (j, (b, sep)) in backends.iter().zip(&seps).enumerate() {
            let stat = if j + 1 < k {
                format!(
                    " -m statistic --mode random --probability {}",
                    probability(k - j)
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                rules,
                "-A {svc} -m comment --comment \"{spn} -> {b}\"{stat} -j {sep}"
            );
        }
        for (b, sep) in backends.iter().zip(&seps) {
            let _ = writeln!(chains, ":{sep} - [0:0]");
            let _ = writeln!(
                rules,
                "-A {sep} -m comment --comment {spn} -s {} -j KUBE-MARK-MASQ",
                b.ip()
            );
            let _ = writeln!(
                rules,
                "-A {sep} -m comment --comment {spn} -m tcp -p tcp -j DNAT --to-destination {b}"
            );
        }
    }
    rules.push_str(
        "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n",
    );
    rules.push_str("COMMIT\n");
    chains + &rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_kube_proxy_chains() {
        let backends: Vec<SocketAddr> = ["10.244.7.2:8080", "10.244.7.3:8080", "10.244.7.4:8080"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let r = ruleset(2, &backends);
        assert!(r.starts_with("*nat\n"));
        assert!(r.ends_with("COMMIT\n"));
        assert_eq!(r.matches("--probability 0.3333333333 ").count(), 2);
        assert_eq!(r.matches("--probability 0.5000000000 ").count(), 2);
        assert_eq!(
            r.matches("-j DNAT --to-destination 10.244.7.4:8080")
                .count(),
            2
        );
        assert!(r.contains("-d 10.112.0.2 --dport 80 -j KUBE-SVC-"));
        // Chain names fit iptables' 28 characters and are declared once.
        for line in r
            .lines()
            .filter(|l| l.starts_with(":KUBE-SVC-") || l.starts_with(":KUBE-SEP-"))
        {
            let name = line[1..].split(' ').next().unwrap();
            assert_eq!(name.len(), 25, "{name}");
            assert_eq!(r.matches(&format!(":{name} ")).count(), 1);
        }
        assert_eq!(r.lines().filter(|l| l.starts_with(":KUBE-SEP-")).count(), 6);
    }
}
