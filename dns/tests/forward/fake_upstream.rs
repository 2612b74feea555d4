//! A programmable upstream resolver on 127.0.0.1 (UDP and TCP on one
//! port): answers with configured records, TTL and rcode, counts what it is
//! asked, and can stay silent, truncate, or send spoofed answers first.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_dns::hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use berth_dns::hickory_proto::rr::rdata::{A, SOA};
use berth_dns::hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Answers every query.
    Answer,
    /// Reads queries and never answers.
    Silent,
    /// Over UDP: an empty answer with TC set; over TCP: the full answer.
    Truncate,
    /// Over UDP: first an answer with the wrong id, then one for another
    /// question (both with the address [`SPOOFED`]), then the real one.
    SpoofFirst,
}

/// The address in spoofed answers.
pub const SPOOFED: Ipv4Addr = Ipv4Addr::new(6, 6, 6, 6);

/// What the fake answers with.
#[derive(Debug, Clone)]
pub struct Behavior {
    /// How it answers.
    pub mode: Mode,
    /// The rcode of every answer.
    pub rcode: ResponseCode,
    /// A records for any name asked with type A (when the rcode is NOERROR).
    pub addresses: Vec<Ipv4Addr>,
    /// TTL of those records.
    pub ttl: u32,
    /// TTL and MINIMUM of the SOA sent with negative answers.
    pub soa: (u32, u32),
    /// Time before each answer.
    pub delay: Duration,
}

impl Default for Behavior {
    fn default() -> Self {
        Self {
            mode: Mode::Answer,
            rcode: ResponseCode::NoError,
            addresses: vec![Ipv4Addr::new(192, 0, 2, 1)],
            ttl: 300,
            soa: (3600, 60),
            delay: Duration::ZERO,
        }
    }
}

#[derive(Debug, Default)]
struct Seen {
    /// (lowercased name, "udp" | "tcp") → queries.
    counts: HashMap<(String, &'static str), usize>,
    last: Option<Message>,
}

/// The fake upstream; its tasks end when it is dropped.
#[derive(Debug)]
pub struct FakeUpstream {
    addr: SocketAddr,
    behavior: Arc<Mutex<Behavior>>,
    seen: Arc<Mutex<Seen>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl FakeUpstream {
    /// Starts a fake on 127.0.0.1 with `behavior`.
    pub async fn start(behavior: Behavior) -> Self {
        let (udp, tcp) = bind_pair().await;
        let addr = udp.local_addr().unwrap();
        let behavior = Arc::new(Mutex::new(behavior));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let tasks = vec![
            tokio::spawn(serve_udp(udp, behavior.clone(), seen.clone())),
            tokio::spawn(serve_tcp(tcp, behavior.clone(), seen.clone())),
        ];
        Self {
            addr,
            behavior,
            seen,
            tasks,
        }
    }

    /// A fake in `mode` with the default records.
    pub async fn with_mode(mode: Mode) -> Self {
        Self::start(Behavior {
            mode,
            ..Behavior::default()
        })
        .await
    }

    /// Its address (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes how it answers from now on.
    pub fn set_mode(&self, mode: Mode) {
        self.behavior.lock().unwrap().mode = mode;
    }

    /// Queries for `name` (any case, with or without the final dot) over
    /// `transport` (`udp` or `tcp`).
    pub fn count(&self, name: &str, transport: &'static str) -> usize {
        let key = (normalize(name), transport);
        self.seen
            .lock()
            .unwrap()
            .counts
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    /// Queries for `name` over UDP and TCP.
    pub fn queries(&self, name: &str) -> usize {
        self.count(name, "udp") + self.count(name, "tcp")
    }

    /// Health probes (`. NS`) received.
    pub fn probes(&self) -> usize {
        self.queries(".")
    }

    /// The last query received.
    pub fn last_query(&self) -> Option<Message> {
        self.seen.lock().unwrap().last.clone()
    }
}

/// A port that was free a moment ago and is closed now (connection refused).
pub fn closed_port() -> SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap()
}

fn normalize(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    if name.ends_with('.') {
        name
    } else {
        format!("{name}.")
    }
}

async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

fn record(seen: &Mutex<Seen>, query: &Message, transport: &'static str) {
    let mut seen = seen.lock().unwrap();
    if let Some(q) = query.queries.first() {
        let name = q.name().to_string().to_ascii_lowercase();
        *seen.counts.entry((name, transport)).or_default() += 1;
    }
    seen.last = Some(query.clone());
}

/// The real answer to `query`.
fn answer(behavior: &Behavior, query: &Message) -> Message {
    let mut resp = Message::response(query.metadata.id, OpCode::Query);
    resp.metadata.recursion_desired = query.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.metadata.response_code = behavior.rcode;
    resp.add_queries(query.queries.iter().cloned());
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        resp.set_edns(edns);
    }
    let question = &query.queries[0];
    if behavior.rcode == ResponseCode::NoError && question.query_type() == RecordType::A {
        for ip in &behavior.addresses {
            resp.add_answer(Record::from_rdata(
                question.name().clone(),
                behavior.ttl,
                RData::A(A(*ip)),
            ));
        }
    }
    if resp.answers.is_empty() && behavior.rcode != ResponseCode::ServFail {
        let zone = Name::from_ascii("example.").unwrap();
        let (ttl, minimum) = behavior.soa;
        let soa = SOA::new(zone.clone(), zone.clone(), 1, 7200, 1800, 86400, minimum);
        resp.add_authority(Record::from_rdata(zone, ttl, RData::SOA(soa)));
    }
    resp
}

/// The datagrams (or TCP messages) to send for `query`.
fn replies(behavior: &Behavior, query: &Message, over_tcp: bool) -> Vec<Vec<u8>> {
    if query.metadata.message_type != MessageType::Query || query.queries.len() != 1 {
        return Vec::new();
    }
    let real = answer(behavior, query);
    let mut out = Vec::new();
    match (behavior.mode, over_tcp) {
        (Mode::Silent, _) => {}
        (Mode::Truncate, false) => {
            let mut cut = real.truncate();
            cut.metadata.message_type = MessageType::Response;
            cut.metadata.id = query.metadata.id;
            out.push(cut);
        }
        (Mode::SpoofFirst, false) => {
            let mut wrong_id = real.clone();
            wrong_id.metadata.id = query.metadata.id.wrapping_add(1);
            spoof_answers(&mut wrong_id);
            let mut wrong_question = real.clone();
            wrong_question.queries[0].set_name(Name::from_ascii("evil.example.").unwrap());
            spoof_answers(&mut wrong_question);
            out.extend([wrong_id, wrong_question, real]);
        }
        _ => out.push(real),
    }
    out.into_iter().map(|m| m.to_vec().unwrap()).collect()
}

fn spoof_answers(msg: &mut Message) {
    for record in &mut msg.answers {
        record.data = RData::A(A(SPOOFED));
    }
}

async fn serve_udp(udp: UdpSocket, behavior: Arc<Mutex<Behavior>>, seen: Arc<Mutex<Seen>>) {
    let udp = Arc::new(udp);
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((len, peer)) = udp.recv_from(&mut buf).await else {
            continue;
        };
        let Ok(query) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        record(&seen, &query, "udp");
        let behavior = behavior.lock().unwrap().clone();
        let udp = udp.clone();
        tokio::spawn(async move {
            tokio::time::sleep(behavior.delay).await;
            for bytes in replies(&behavior, &query, false) {
                let _ = udp.send_to(&bytes, peer).await;
            }
        });
    }
}

async fn serve_tcp(tcp: TcpListener, behavior: Arc<Mutex<Behavior>>, seen: Arc<Mutex<Seen>>) {
    loop {
        let Ok((stream, _)) = tcp.accept().await else {
            continue;
        };
        tokio::spawn(tcp_connection(stream, behavior.clone(), seen.clone()));
    }
}

async fn tcp_connection(
    mut stream: TcpStream,
    behavior: Arc<Mutex<Behavior>>,
    seen: Arc<Mutex<Seen>>,
) {
    while let Ok(len) = stream.read_u16().await {
        let mut buf = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut buf).await.is_err() {
            return;
        }
        let Ok(query) = Message::from_vec(&buf) else {
            return;
        };
        record(&seen, &query, "tcp");
        let behavior = behavior.lock().unwrap().clone();
        tokio::time::sleep(behavior.delay).await;
        for bytes in replies(&behavior, &query, true) {
            let mut frame = (bytes.len() as u16).to_be_bytes().to_vec();
            frame.extend_from_slice(&bytes);
            if stream.write_all(&frame).await.is_err() {
                return;
            }
        }
    }
}
