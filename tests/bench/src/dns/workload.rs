//! The records both servers serve and the queries dnsperf sends: N
//! ClusterIP services spread over a few namespaces, written as a Kubernetes
//! manifest for berth, as a zone file for knot, and as one dnsperf query
//! file per mix with the rcode each query must get.
//!
//! Service `i` is `svc-<i>` in namespace `NAMESPACES[i % 4]`, cluster IP
//! `10.96.1.0 + i`, one port `{name: http, protocol: TCP, port: 80}`, so
//! the records are `svc-<i>.<ns>.svc.cluster.local. 30 IN A <ip>` and
//! `_http._tcp.svc-<i>.<ns>.svc.cluster.local. 30 IN SRV 0 100 80
//! svc-<i>.<ns>.svc.cluster.local.`.
//!
//! The mixes (each file shuffled with a fixed seed; dnsperf loops over it):
//! * `a`: the A name of every service, once.
//! * `nxdomain`: the A name of every service plus 3/7 as many names that do
//!   not exist (30% of the file): half `missing-<j>.<ns>.svc.cluster.local`
//!   (a service that is not there), half `www-<j>.example.com.<ns>.svc.cluster.local`
//!   (an outside name a pod's search path expanded, as `ndots: 5` makes
//!   happen). Both are NXDOMAIN with the SOA for both servers.
//! * `srv`: the SRV name (`_http._tcp.…`) and the A name of every service,
//!   50% each: a client that discovers the port, then resolves the name.
//!   The SRV answer carries the target's A record in the additional section
//!   on both servers.

use std::{collections::HashMap, fmt::Write as _, net::Ipv4Addr};

use crate::rng::Rng;

/// The cluster domain.
pub const DOMAIN: &str = "cluster.local";
/// TTL of every record.
pub const TTL: u32 = 30;
/// Namespaces the services are spread over, round robin.
pub const NAMESPACES: [&str; 4] = ["default", "apps", "data", "infra"];
/// First cluster IP (inside the 10.96.0.0/12 service CIDR; the /24 below
/// it is left to well-known addresses such as the DNS service's).
pub const FIRST_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 1, 0);
/// Most services of a run (the query files grow with N).
pub const MAX_SERVICES: usize = 200_000;
/// The services' one port.
pub const PORT_NAME: &str = "http";
pub const PORT: u16 = 80;
/// Seed of the shuffles: every run sends the same files.
const SEED: u64 = 0x00be_47d5;

/// A query mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mix {
    A,
    Nxdomain,
    Srv,
}

impl Mix {
    pub const ALL: [Mix; 3] = [Mix::A, Mix::Nxdomain, Mix::Srv];

    /// The `mix` value of the JSON rows and of `--mixes`.
    pub fn name(self) -> &'static str {
        match self {
            Mix::A => "a",
            Mix::Nxdomain => "nxdomain",
            Mix::Srv => "srv",
        }
    }

    /// What the mix holds, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Mix::A => "A of every service",
            Mix::Nxdomain => "70% A of every service, 30% nonexistent names (NXDOMAIN)",
            Mix::Srv => "50% SRV _http._tcp of every service, 50% A",
        }
    }
}

impl std::str::FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Mix, String> {
        Mix::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown mix {s:?} (known: a, nxdomain, srv)"))
    }
}

/// The rcode a query must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    NoError,
    NxDomain,
}

impl Expect {
    /// As dnsperf prints it.
    pub fn rcode(self) -> &'static str {
        match self {
            Expect::NoError => "NOERROR",
            Expect::NxDomain => "NXDOMAIN",
        }
    }
}

/// One service of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svc {
    pub name: String,
    pub namespace: &'static str,
    pub ip: Ipv4Addr,
}

impl Svc {
    /// `svc-<i>.<ns>.svc.cluster.local` (no trailing dot).
    pub fn fqdn(&self) -> String {
        format!("{}.{}.svc.{DOMAIN}", self.name, self.namespace)
    }

    /// `_http._tcp.svc-<i>.<ns>.svc.cluster.local`.
    pub fn srv_name(&self) -> String {
        format!("_{PORT_NAME}._tcp.{}", self.fqdn())
    }
}

/// The N services.
#[derive(Debug, Clone)]
pub struct Workload {
    pub services: Vec<Svc>,
}

/// A dnsperf query file and the rcode of each of its lines.
#[derive(Debug, Clone)]
pub struct Queries {
    /// `name type` lines, as dnsperf reads them.
    pub text: String,
    /// `name type` → the rcode it must get.
    pub expect: HashMap<String, Expect>,
    /// Lines of the file.
    pub lines: usize,
    /// Of which must be NXDOMAIN.
    pub nxdomain: usize,
}

impl Workload {
    /// `n` services (1..=[`MAX_SERVICES`]).
    pub fn new(n: usize) -> Workload {
        let base = u32::from(FIRST_IP);
        let services = (0..n)
            .map(|i| Svc {
                name: format!("svc-{i}"),
                namespace: NAMESPACES[i % NAMESPACES.len()],
                ip: Ipv4Addr::from(base + i as u32),
            })
            .collect();
        Workload { services }
    }

    /// A multi-document YAML manifest of `v1 Service` objects, as
    /// `kubectl apply -f` takes it.
    pub fn manifest(&self) -> String {
        let mut out = String::with_capacity(self.services.len() * 240);
        for s in &self.services {
            let _ = write!(
                out,
                "---\n\
                 apiVersion: v1\n\
                 kind: Service\n\
                 metadata:\n  name: {}\n  namespace: {}\n\
                 spec:\n  type: ClusterIP\n  clusterIP: {ip}\n  clusterIPs: [{ip}]\n  \
                 ports:\n  - name: {PORT_NAME}\n    protocol: TCP\n    port: {PORT}\n",
                s.name,
                s.namespace,
                ip = s.ip,
            );
        }
        out
    }

    /// The `cluster.local` zone file for knot: SOA and NS as berth serves
    /// them (the serial is fixed), then A and SRV of every service.
    pub fn zone_file(&self) -> String {
        let mut out = String::with_capacity(self.services.len() * 160);
        let _ = write!(
            out,
            "$ORIGIN {DOMAIN}.\n$TTL {TTL}\n\
             @ IN SOA ns.dns.{DOMAIN}. hostmaster.{DOMAIN}. 1 7200 1800 86400 {TTL}\n\
             @ IN NS ns.dns.{DOMAIN}.\n\
             ns.dns IN A 10.96.0.10\n"
        );
        for s in &self.services {
            let fqdn = s.fqdn();
            let _ = writeln!(out, "{fqdn}. {TTL} IN A {}", s.ip);
            let _ = writeln!(out, "{}. {TTL} IN SRV 0 100 {PORT} {fqdn}.", s.srv_name());
        }
        out
    }

    /// The query file of `mix`.
    pub fn queries(&self, mix: Mix) -> Queries {
        let mut lines: Vec<(String, Expect)> = self
            .services
            .iter()
            .map(|s| (format!("{} A", s.fqdn()), Expect::NoError))
            .collect();
        match mix {
            Mix::A => {}
            Mix::Nxdomain => {
                // 3/7 of the existing ones: 30% of the file.
                let missing = (self.services.len() * 3).div_ceil(7);
                lines.extend((0..missing).map(|j| {
                    let ns = NAMESPACES[j % NAMESPACES.len()];
                    let name = if j % 2 == 0 {
                        format!("missing-{j}.{ns}.svc.{DOMAIN}")
                    } else {
                        format!("www-{j}.example.com.{ns}.svc.{DOMAIN}")
                    };
                    (format!("{name} A"), Expect::NxDomain)
                }));
            }
            Mix::Srv => lines.extend(
                self.services
                    .iter()
                    .map(|s| (format!("{} SRV", s.srv_name()), Expect::NoError)),
            ),
        }
        shuffle(&mut lines, &mut Rng::new(SEED ^ mix as u64));
        let mut text = String::with_capacity(lines.len() * 48);
        for (l, _) in &lines {
            text.push_str(l);
            text.push('\n');
        }
        let nxdomain = lines.iter().filter(|(_, e)| *e == Expect::NxDomain).count();
        Queries {
            text,
            lines: lines.len(),
            nxdomain,
            expect: lines.into_iter().collect(),
        }
    }

    /// Up to `k` services spread over the whole list (first and last
    /// included), for the answer checks before measuring.
    pub fn sample(&self, k: usize) -> Vec<&Svc> {
        let n = self.services.len();
        if n <= k {
            return self.services.iter().collect();
        }
        (0..k)
            .map(|j| &self.services[j * (n - 1) / (k - 1).max(1)])
            .collect()
    }
}

/// Fisher–Yates.
fn shuffle<T>(v: &mut [T], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        v.swap(i, rng.below(i + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_and_records() {
        let w = Workload::new(6);
        let s = &w.services[5];
        assert_eq!(s.fqdn(), "svc-5.apps.svc.cluster.local");
        assert_eq!(s.srv_name(), "_http._tcp.svc-5.apps.svc.cluster.local");
        assert_eq!(s.ip, Ipv4Addr::new(10, 96, 1, 5));
        let zone = w.zone_file();
        assert!(zone.contains("svc-5.apps.svc.cluster.local. 30 IN A 10.96.1.5\n"));
        assert!(zone.contains(
            "_http._tcp.svc-5.apps.svc.cluster.local. 30 IN SRV 0 100 80 svc-5.apps.svc.cluster.local.\n"
        ));
        assert!(zone.contains("@ IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 "));
        let m = w.manifest();
        assert_eq!(m.matches("kind: Service\n").count(), 6);
        assert!(m.contains(
            "metadata:\n  name: svc-5\n  namespace: apps\nspec:\n  type: ClusterIP\n  \
             clusterIP: 10.96.1.5\n  clusterIPs: [10.96.1.5]\n  ports:\n  - name: http\n    \
             protocol: TCP\n    port: 80\n"
        ));
        assert_eq!(
            Workload::new(MAX_SERVICES).services[MAX_SERVICES - 1].ip,
            Ipv4Addr::new(10, 99, 14, 63)
        );
    }

    #[test]
    fn mixes() {
        let w = Workload::new(1000);
        let a = w.queries(Mix::A);
        assert_eq!((a.lines, a.nxdomain, a.expect.len()), (1000, 0, 1000));
        assert!(a.text.lines().all(|l| l.ends_with(" A")));
        assert!(a.expect["svc-7.infra.svc.cluster.local A"] == Expect::NoError);

        let nx = w.queries(Mix::Nxdomain);
        assert_eq!((nx.lines, nx.nxdomain), (1429, 429));
        assert!((nx.nxdomain as f64 / nx.lines as f64 - 0.3).abs() < 0.001);
        assert_eq!(
            nx.expect["www-1.example.com.apps.svc.cluster.local A"],
            Expect::NxDomain
        );
        assert_eq!(
            nx.expect["missing-2.data.svc.cluster.local A"],
            Expect::NxDomain
        );

        let srv = w.queries(Mix::Srv);
        assert_eq!((srv.lines, srv.nxdomain), (2000, 0));
        assert_eq!(
            srv.text.lines().filter(|l| l.ends_with(" SRV")).count(),
            1000
        );
        // Shuffled, deterministically.
        assert_ne!(
            srv.text.lines().next(),
            Some("svc-0.default.svc.cluster.local A")
        );
        assert_eq!(srv.text, w.queries(Mix::Srv).text);
        assert_eq!(srv.text.lines().count(), srv.lines);
    }

    #[test]
    fn mix_names_and_samples() {
        assert_eq!("nxdomain".parse::<Mix>(), Ok(Mix::Nxdomain));
        assert!("aaaa".parse::<Mix>().is_err());
        let w = Workload::new(100);
        let s = w.sample(5);
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].name, "svc-0");
        assert_eq!(s[4].name, "svc-99");
        assert_eq!(Workload::new(3).sample(5).len(), 3);
    }
}
