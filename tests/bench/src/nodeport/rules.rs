//! kube-proxy's iptables NodePort layout (its `KUBE-NODEPORTS` path) for
//! the benchmark's services: each node port of a local address is marked
//! for masquerade and DNATed to its backend, as kube-proxy writes it for
//! `externalTrafficPolicy: Cluster`.

use std::fmt::Write as _;

use super::topo::{backend, node_port};

/// The nat table for services `0..n`.
pub fn iptables(n: usize) -> String {
    let mut chains = String::with_capacity(n * 120 + 512);
    let mut rules = String::with_capacity(n * 600 + 1024);
    chains.push_str("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    chains.push_str(":POSTROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n");
    chains.push_str(":KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n");
    rules.push_str(concat!(
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n",
        "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n",
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n",
        "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n",
        "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n",
        "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n",
    ));
    for i in 0..n {
        let (port, be) = (node_port(i), backend(i));
        let (ext, svc, sep) = (
            format!("KUBE-EXT-NP{i}"),
            format!("KUBE-SVC-NP{i}"),
            format!("KUBE-SEP-NP{i}"),
        );
        let _ = writeln!(chains, ":{ext} - [0:0]\n:{svc} - [0:0]\n:{sep} - [0:0]");
        let c = format!("-m comment --comment bench/np-{i}");
        let _ = writeln!(
            rules,
            "-A KUBE-NODEPORTS {c} -m tcp -p tcp --dport {port} -j {ext}"
        );
        let _ = writeln!(rules, "-A {ext} {c} -j KUBE-MARK-MASQ");
        let _ = writeln!(rules, "-A {ext} -j {svc}");
        let _ = writeln!(rules, "-A {svc} {c} -j {sep}");
        let _ = writeln!(rules, "-A {sep} {c} -s {} -j KUBE-MARK-MASQ", be.ip());
        let _ = writeln!(
            rules,
            "-A {sep} {c} -m tcp -p tcp -j DNAT --to-destination {be}"
        );
    }
    rules.push_str(
        "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n",
    );
    chains.push_str(&rules);
    chains.push_str("COMMIT\n");
    chains
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_service_gets_its_chains_and_dnat() {
        let r = super::iptables(2);
        assert!(r.contains("--dport 10001 -j KUBE-EXT-NP1"), "{r}");
        assert!(
            r.contains("-j DNAT --to-destination 10.253.0.2:8080"),
            "{r}"
        );
        assert_eq!(r.matches("-j DNAT").count(), 2);
        assert!(r.ends_with("COMMIT\n"));
    }
}
