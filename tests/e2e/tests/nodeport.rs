//! The per-packet path on the real kernel: a client outside the nodes
//! reaches external frontends on node 1's address (NodePort-style), served
//! by `berth-nodeport` on node 1's devices, with pods on both nodes.

mod common;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpStream},
};

use common::edge::{
    Answer, CLIENT, CLIENT_6, Edge, IO_TIMEOUT, NODE1, NODE1_6, POD1, POD1_6, POD2, POD2_6,
    tcp_from, udp_from,
};

/// Exchanges per check: enough that a random pick of 2 backends misses
/// one with probability 2^-39.
const TRIES: usize = 40;

fn at(port: u16) -> SocketAddr {
    SocketAddr::new(NODE1.parse().expect("ip"), port)
}

fn at6(port: u16) -> SocketAddr {
    SocketAddr::new(NODE1_6.parse().expect("ip"), port)
}

/// A NodePort-style service on node 1's address: port 30080 (TCP and UDP)
/// SNATed, 30081 with the client's address kept (pod 1 only, as an
/// externalTrafficPolicy Local frontend lists only local backends), and a
/// ClusterIP that outside clients must not reach.
fn services(backends: &[&str]) -> String {
    let list = backends
        .iter()
        .map(|b| match b.contains(':') {
            true => format!("\"[{b}]:8080\""),
            false => format!("\"{b}:8080\""),
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "services:
  - name: web-np
    vips: [{NODE1}, \"{NODE1_6}\"]
    exposure: external
    ports:
      - port: 30080
        backends: [{list}]
      - port: 30080
        protocol: UDP
        backends: [{list}]
  - name: web-local
    vips: [{NODE1}, \"{NODE1_6}\"]
    exposure: external-local
    ports:
      - port: 30081
        backends: [\"{POD1}:8080\", \"[{POD1_6}]:8080\"]
  - name: web-internal
    vips: [10.96.50.1, \"fd00:96::50\"]
    ports:
      - port: 80
        backends: [{list}]
"
    )
}

fn running() -> Edge {
    let mut e = Edge::new();
    e.write_file(&services(&[POD1, POD2, POD1_6, POD2_6]));
    e.start();
    e
}

/// Who answered, and from which address they saw the client, over
/// `TRIES` exchanges.
fn spread(
    e: &Edge,
    ask: fn(&Edge, SocketAddr) -> Answer,
    to: SocketAddr,
) -> BTreeMap<(String, String), usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..TRIES {
        let got = ask(e, to).unwrap_or_else(|err| panic!("{to}: {err}"));
        *seen.entry(got).or_default() += 1;
    }
    seen
}

fn keys(seen: &BTreeMap<(String, String), usize>) -> Vec<(&str, &str)> {
    seen.keys()
        .map(|(id, from)| (id.as_str(), from.as_str()))
        .collect()
}

#[test]
fn a_node_port_reaches_pods_on_both_nodes_snated_over_tcp_and_udp() {
    let e = running();
    let want = [("pod-1", NODE1), ("pod-2", NODE1)];
    let tcp = spread(&e, tcp_from, at(30080));
    assert_eq!(keys(&tcp), want, "TCP: {tcp:?}");
    // A connected UDP socket receives only replies from the address it
    // sent to: the replies were translated back.
    let udp = spread(&e, udp_from, at(30080));
    assert_eq!(keys(&udp), want, "UDP: {udp:?}");
    let want6 = [("pod-1", NODE1_6), ("pod-2", NODE1_6)];
    let tcp6 = spread(&e, tcp_from, at6(30080));
    assert_eq!(keys(&tcp6), want6, "TCP over IPv6: {tcp6:?}");
    let udp6 = spread(&e, udp_from, at6(30080));
    assert_eq!(keys(&udp6), want6, "UDP over IPv6: {udp6:?}");
    let out = e.berth(&["dataplane", "ct", "list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    let new_flows: usize = last
        .split("new flows ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no new-flow count in {last:?}"));
    // Every TCP exchange is a new flow (TIME_WAIT keeps the client from
    // reusing its port towards the same address); a UDP client may get a
    // port back that an earlier exchange used, and then meets its flow.
    assert!(
        (2 * TRIES + 1..=4 * TRIES).contains(&new_flows),
        "new flows counted: {last}"
    );
    assert!(
        text.contains(&format!("{CLIENT}:")) && text.contains(" reply snat "),
        "{text}"
    );
}

#[test]
fn local_keeps_the_client_address_and_internal_frontends_stay_inside() {
    let e = running();
    let local = spread(&e, tcp_from, at(30081));
    assert_eq!(keys(&local), [("pod-1", CLIENT)], "{local:?}");
    let local6 = spread(&e, tcp_from, at6(30081));
    assert_eq!(keys(&local6), [("pod-1", CLIENT_6)], "{local6:?}");
    // A ClusterIP is not served to packets from outside: the client's
    // packet to it goes nowhere (node 1 has no route for it).
    let internal = tcp_from(&e, "10.96.50.1:80".parse().expect("addr"));
    assert!(internal.is_err(), "{internal:?}");
    // Other ports of the node address are the node's own: nothing listens
    // on 30099, so the node's kernel answers with a reset at once.
    let other = tcp_from(&e, at(30099)).expect_err("nothing listens");
    assert!(other.contains("refused"), "{other}");
}

/// A TCP connection through the NodePort that asks its pod's id on
/// demand.
struct Held {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Held {
    fn open(e: &Edge) -> Held {
        let to = at(30080);
        let stream = e
            .client
            .run(move || TcpStream::connect_timeout(&to, IO_TIMEOUT))
            .expect("client namespace")
            .expect("connect through the NodePort");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Held { stream, reader }
    }

    fn id(&mut self) -> std::io::Result<String> {
        self.stream.write_all(b"id?\n")?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        if line.is_empty() {
            return Err(std::io::Error::other("closed"));
        }
        Ok(line.trim().to_string())
    }
}

#[test]
fn a_flow_survives_a_kill_9_and_a_restart_of_the_data_plane() {
    let mut e = running();
    let mut held = Held::open(&e);
    let first = held.id().expect("first answer");
    e.kill9();
    // Pinned programs and maps serve on without their process.
    assert_eq!(held.id().expect("answer while down"), first);
    let mark = e.log_mark();
    e.start();
    e.wait_log_since(mark, "replaced nodeport program of pinned link");
    assert_eq!(held.id().expect("answer after the restart"), first);
}

#[test]
fn the_flows_of_a_removed_backend_end() {
    let e = running();
    // Hold a connection to each pod.
    let mut held: BTreeMap<String, Held> = BTreeMap::new();
    for _ in 0..TRIES {
        let mut h = Held::open(&e);
        let id = h.id().expect("answer");
        held.entry(id).or_insert(h);
        if held.len() == 2 {
            break;
        }
    }
    assert_eq!(held.len(), 2, "both pods held");
    let mark = e.log_mark();
    e.write_file(&services(&[POD1, POD1_6]));
    e.wait_log_since(mark, "forgot external flows to removed backends");
    // Pod 2's flow is forgotten: its next packet is a new flow to pod 1,
    // whose kernel knows no such connection and resets it.
    let gone = held.get_mut("pod-2").expect("pod-2").id();
    assert!(gone.is_err(), "pod-2's flow must end: {gone:?}");
    assert_eq!(
        held.get_mut("pod-1")
            .expect("pod-1")
            .id()
            .expect("pod-1 stays"),
        "pod-1"
    );
}
