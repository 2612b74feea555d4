//! `berth bench demo`: the data plane at work on a LAN of network
//! namespaces, in a few readable lines (shown by `cargo xtask up`).
//!
//! A client and three backend hosts (TCP echo "backend-1..3" on :8080, UDP
//! echo on :5353), the data plane in-process, one service `demo/web` with
//! VIP 10.96.0.100 (and fd00:10:96::100 when the LAN has IPv6): port 80/TCP
//! to the three backends, 53/UDP to the UDP echoes, and 81/TCP with no
//! backends. Fails (non-zero exit) when anything does not behave.

use std::{
    collections::BTreeMap,
    io::ErrorKind,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream},
    time::Duration,
};

use anyhow::Context as _;
use berth_dataplane::{Backend, Dataplane as _, Limits, Protocol, Service, ServicePort, status};
use berth_test_support::{
    Lan, TcpEcho, UdpEcho,
    echo::{tcp_who, udp_who},
};

use crate::{
    inproc::InProc,
    interrupt, sysinfo,
    topo::{BACKEND_PORT, LAN_V4, LAN_V6},
};

/// The demo service.
pub const SERVICE: &str = "demo/web";
pub const VIP4: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 100);
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x96, 0, 0, 0, 0, 0x100);
const UDP_BACKEND_PORT: u16 = 5353;
const HTTP: u16 = 80;
const DNS: u16 = 53;
const IDLE: u16 = 81;
const CONNECTIONS: usize = 30;
const TIMEOUT: Duration = Duration::from_secs(2);
const BACKENDS: usize = 3;

/// Servers first, then the namespaces.
#[derive(Debug)]
struct Bed {
    tcp: Vec<TcpEcho>,
    udp: Vec<UdpEcho>,
    lan: Lan,
}

impl Bed {
    fn new() -> anyhow::Result<Bed> {
        let lan = match Lan::new(1 + BACKENDS, LAN_V4, Some(LAN_V6)) {
            Ok(lan) => lan,
            Err(e) => {
                eprintln!("(no IPv6 LAN: {e}; showing IPv4 only)");
                Lan::new(1 + BACKENDS, LAN_V4, None).context("creating the LAN")?
            }
        };
        let mut bed = Bed {
            tcp: Vec::new(),
            udp: Vec::new(),
            lan,
        };
        for (i, h) in bed.lan.hosts()[1..].iter().enumerate() {
            let id = format!("backend-{}", i + 1);
            let mut addrs = vec![IpAddr::V4(h.ipv4)];
            addrs.extend(h.ipv6.map(IpAddr::V6));
            for a in addrs {
                bed.tcp.push(
                    TcpEcho::start(&h.netns, SocketAddr::new(a, BACKEND_PORT), &id)
                        .with_context(|| format!("TCP echo on {a}"))?,
                );
                bed.udp.push(
                    UdpEcho::start(&h.netns, SocketAddr::new(a, UDP_BACKEND_PORT), &id)
                        .with_context(|| format!("UDP echo on {a}"))?,
                );
            }
        }
        Ok(bed)
    }

    fn has_v6(&self) -> bool {
        self.lan.host(0).ipv6.is_some()
    }

    fn backend_addrs(&self) -> Vec<IpAddr> {
        let mut v = Vec::new();
        for h in &self.lan.hosts()[1..] {
            v.push(IpAddr::V4(h.ipv4));
            v.extend(h.ipv6.map(IpAddr::V6));
        }
        v
    }
}

fn service(bed: &Bed) -> Service {
    let mut vips = vec![IpAddr::V4(VIP4)];
    if bed.has_v6() {
        vips.push(IpAddr::V6(VIP6));
    }
    let on = |port| {
        bed.backend_addrs()
            .into_iter()
            .map(|a| Backend::new(a, port))
            .collect()
    };
    Service {
        name: SERVICE.to_string(),
        vips,
        ports: vec![
            ServicePort {
                name: "http".into(),
                port: HTTP,
                protocol: Protocol::Tcp,
                backends: on(BACKEND_PORT),
                options: Default::default(),
                ..Default::default()
            },
            ServicePort {
                name: "dns".into(),
                port: DNS,
                protocol: Protocol::Udp,
                backends: on(UDP_BACKEND_PORT),
                options: Default::default(),
                ..Default::default()
            },
            ServicePort {
                name: "idle".into(),
                port: IDLE,
                protocol: Protocol::Tcp,
                backends: Vec::new(),
                options: Default::default(),
                ..Default::default()
            },
        ],
        policy: Default::default(),
        ..Default::default()
    }
}

/// What the client saw for one VIP.
#[derive(Debug, Default)]
struct Seen {
    tcp: BTreeMap<String, usize>,
    tcp_errors: Vec<String>,
    udp: Option<Result<(String, SocketAddr), String>>,
    refused: Option<Result<(), String>>,
}

fn probe(vip: IpAddr) -> Seen {
    let mut seen = Seen::default();
    for _ in 0..CONNECTIONS {
        match tcp_who(SocketAddr::new(vip, HTTP), TIMEOUT) {
            Ok(id) => *seen.tcp.entry(id).or_default() += 1,
            Err(e) => seen.tcp_errors.push(e.to_string()),
        }
    }
    seen.udp = Some(udp_who(SocketAddr::new(vip, DNS), TIMEOUT).map_err(|e| e.to_string()));
    seen.refused = Some(
        match TcpStream::connect_timeout(&SocketAddr::new(vip, IDLE), TIMEOUT) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Ok(()),
            Err(e) => Err(format!("failed otherwise: {e}")),
            Ok(_) => Err("connected, but the port has no backends".to_string()),
        },
    );
    seen
}

/// Prints what `seen` shows for `vip`; returns the problems.
fn show(vip: IpAddr, seen: &Seen) -> Vec<String> {
    let mut problems = Vec::new();
    let http = SocketAddr::new(vip, HTTP);
    println!("\nTCP {http}: {CONNECTIONS} connections (\"who\" → backend id)");
    for (id, n) in &seen.tcp {
        println!("  {id:<10} {n:>3}  {}", "#".repeat(*n));
    }
    let answered: usize = seen.tcp.values().sum();
    if answered != CONNECTIONS {
        problems.push(format!(
            "{http}: {} of {CONNECTIONS} connections failed: {}",
            CONNECTIONS - answered,
            seen.tcp_errors.first().map_or("", String::as_str)
        ));
    }
    if seen.tcp.len() < 2 {
        problems.push(format!("{http}: every connection went to the same backend"));
    }
    if seen.tcp.keys().any(|id| !id.starts_with("backend-")) {
        problems.push(format!("{http}: unexpected replies {:?}", seen.tcp.keys()));
    }
    let dns = SocketAddr::new(vip, DNS);
    match &seen.udp {
        Some(Ok((id, from))) => {
            let ok = *from == dns;
            println!(
                "UDP {dns}: reply {id:?} from {from} {}",
                if ok {
                    "= the VIP (recvmsg hook reversed the translation)"
                } else {
                    "(NOT the VIP)"
                }
            );
            if !ok {
                problems.push(format!("{dns}: the reply came from {from}, not the VIP"));
            }
        }
        Some(Err(e)) => problems.push(format!("{dns}: {e}")),
        None => {}
    }
    let idle = SocketAddr::new(vip, IDLE);
    match &seen.refused {
        Some(Ok(())) => println!("TCP {idle} (no backends): connection refused, as it should be"),
        Some(Err(e)) => problems.push(format!("{idle} (no backends): {e}")),
        None => {}
    }
    problems
}

/// Runs the demo.
pub fn run() -> anyhow::Result<()> {
    sysinfo::require_root("berth bench demo")?;
    interrupt::install()?;
    sysinfo::remove_leftovers();
    let bed = Bed::new()?;
    let client = bed.lan.host(0);
    println!("berth bench demo: the eBPF socket load balancer on a LAN of network namespaces");
    let v6 = |a: Option<Ipv6Addr>| a.map(|a| format!(", {a}")).unwrap_or_default();
    println!("  client     {}{}", client.ipv4, v6(client.ipv6));
    for (i, h) in bed.lan.hosts()[1..].iter().enumerate() {
        println!(
            "  backend-{} {}{}  (TCP echo :{BACKEND_PORT}, UDP echo :{UDP_BACKEND_PORT})",
            i + 1,
            h.ipv4,
            v6(h.ipv6)
        );
    }
    let mut dp = InProc::start(Limits {
        frontends: 64,
        backends: 256,
        backends_per_frontend: 64,
        ..Limits::default()
    })?;
    println!(
        "  data plane: in this process, attached to cgroup {}",
        dp.cgroup().path().display()
    );
    let svc = service(&bed);
    dp.lb()
        .upsert_service(&svc)
        .context("programming the demo service")?;
    println!("\nService {SERVICE} as programmed:");
    print!("{}", status::render(&dp.lb().list()?));

    let mut vips = vec![IpAddr::V4(VIP4)];
    if bed.has_v6() {
        vips.push(IpAddr::V6(VIP6));
    }
    let mut problems = Vec::new();
    for vip in vips {
        interrupt::check()?;
        let seen = client.netns.run(move || probe(vip))?;
        problems.extend(show(vip, &seen));
    }
    println!("\nCounters after the demo:");
    print!("{}", status::render(&dp.lb().list()?));
    drop(dp);
    drop(bed);
    if problems.is_empty() {
        println!("\ndemo OK (namespaces, cgroup and BPF pins removed)");
        Ok(())
    } else {
        anyhow::bail!("the demo misbehaved:\n  {}", problems.join("\n  "))
    }
}
