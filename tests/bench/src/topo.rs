//! The benchmark's network: one [`Lan`] with a client host, a control
//! client that never gets any rules (for direct connections interleaved
//! with the peers' runs), and K backend hosts, each running a [`TcpEcho`]
//! on port 8080. Nothing leaves these namespaces: the host's own namespace
//! is never touched.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context as _;
use berth_test_support::{Host, Lan, Netns, TcpEcho};

/// Subnet of the LAN (client .1, control .2, backends .3, .4, ...).
pub const LAN_V4: &str = "10.244.7.0/24";
/// IPv6 subnet of the LAN, for the demo.
pub const LAN_V6: &str = "fd00:10:244:7::/64";
/// Index of the first backend among the LAN's hosts.
const FIRST_BACKEND: usize = 2;
/// Port the backends listen on.
pub const BACKEND_PORT: u16 = 8080;

/// The client and the backends with their echo servers. Servers drop (and
/// stop) before the namespaces go.
#[derive(Debug)]
pub struct Topo {
    pub echoes: Vec<TcpEcho>,
    pub lan: Lan,
}

impl Topo {
    /// A LAN with a client, a control client and `k` backends, IPv4 only.
    pub fn new(k: usize) -> anyhow::Result<Topo> {
        anyhow::ensure!(k >= 1, "at least one backend is needed");
        let lan =
            Lan::new(FIRST_BACKEND + k, LAN_V4, None).context("creating the LAN of namespaces")?;
        let mut echoes = Vec::with_capacity(k);
        for (i, h) in lan.hosts()[FIRST_BACKEND..].iter().enumerate() {
            let bind = SocketAddr::new(IpAddr::V4(h.ipv4), BACKEND_PORT);
            let echo = TcpEcho::start(&h.netns, bind, &format!("backend-{}", i + 1))
                .with_context(|| format!("starting the echo server on {bind}"))?;
            echoes.push(echo);
        }
        let topo = Topo { echoes, lan };
        for ns in [topo.client_ns(), topo.control_ns()] {
            set_sysctl(ns, "net/ipv4/ip_local_port_range", "1024 65535")?;
        }
        Ok(topo)
    }

    pub fn client(&self) -> &Host {
        self.lan.host(0)
    }

    pub fn client_ns(&self) -> &Netns {
        &self.client().netns
    }

    /// The control client's namespace: no rules, ever.
    pub fn control_ns(&self) -> &Netns {
        &self.lan.host(1).netns
    }

    /// The backends' addresses (port [`BACKEND_PORT`]).
    pub fn backends(&self) -> Vec<SocketAddr> {
        self.lan.hosts()[FIRST_BACKEND..]
            .iter()
            .map(|h| SocketAddr::new(IpAddr::V4(h.ipv4), BACKEND_PORT))
            .collect()
    }

    /// The client, the control client and every backend.
    pub fn view(&self) -> View<'_> {
        View {
            client: self.client_ns(),
            control: self.control_ns(),
            echoes: &self.echoes,
        }
    }

    /// Routes `cidr` out of the client's LAN interface, so that locally
    /// generated packets to it route (and nat OUTPUT can DNAT them).
    pub fn route_via_lan(&self, cidr: &str) -> anyhow::Result<()> {
        let c = self.client();
        c.netns
            .ip(&["route", "replace", cidr, "dev", &c.ifname])
            .with_context(|| format!("adding a route for {cidr} in the client namespace"))?;
        Ok(())
    }
}

/// What a latency series needs of a topology: where the clients are and
/// which echo servers answer.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The client's namespace (where peers' rules go).
    pub client: &'a Netns,
    /// A client namespace that never has rules.
    pub control: &'a Netns,
    /// The backends measured against.
    pub echoes: &'a [TcpEcho],
}

impl View<'_> {
    /// The backends' addresses.
    pub fn backends(&self) -> Vec<SocketAddr> {
        self.echoes.iter().map(TcpEcho::local_addr).collect()
    }

    /// Connections each echo server has accepted so far.
    pub fn accepted(&self) -> Vec<u64> {
        self.echoes.iter().map(TcpEcho::accepted).collect()
    }
}

/// Writes `/proc/sys/<key>` from a thread inside `ns` (net sysctls are per
/// namespace).
pub fn set_sysctl(ns: &Netns, key: &str, value: &str) -> anyhow::Result<()> {
    let path = format!("/proc/sys/{key}");
    ns.run(|| std::fs::write(&path, value))?
        .with_context(|| format!("writing {value:?} to {path} in netns {}", ns.name()))
}
