//! A small UDP client: waits until a server answers, and checks a sample
//! of its answers record by record before anything is measured (dnsperf
//! only sees rcodes).

use std::{
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use hickory_proto::{
    op::{Message, Query, ResponseCode},
    rr::{Name, RData, RecordType},
};

use super::{
    proc::{self, Guard},
    workload::{NAMESPACES, PORT, Svc, TTL, Workload},
};
use crate::interrupt;

/// How long one query waits for its answer.
const QUERY_TIMEOUT: Duration = Duration::from_millis(300);
/// How many services the answer check looks at.
pub const CHECKED_SERVICES: usize = 64;

/// One query over UDP to `127.0.0.1:port`.
pub fn ask(port: u16, name: &str, qtype: RecordType) -> anyhow::Result<Message> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    sock.connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    sock.set_read_timeout(Some(QUERY_TIMEOUT))?;
    let mut query = Message::query();
    let fqdn = Name::from_ascii(format!("{name}."))
        .with_context(|| format!("{name:?} is not a DNS name"))?;
    query.add_query(Query::query(fqdn, qtype));
    sock.send(&query.to_vec()?)?;
    let mut buf = [0u8; 4096];
    loop {
        let n = sock
            .recv(&mut buf)
            .with_context(|| format!("no answer to {name} {qtype} within {QUERY_TIMEOUT:?}"))?;
        let resp = Message::from_vec(&buf[..n])
            .with_context(|| format!("undecodable answer to {name} {qtype}"))?;
        if resp.metadata.id == query.metadata.id {
            return Ok(resp);
        }
    }
}

/// Waits until the server answers the A query of `first` with NOERROR
/// (a server still loading its zone refuses or fails), at most `limit`.
/// Returns how long that took from `started`.
pub fn wait_ready(
    server: &mut Guard,
    log: &std::path::Path,
    port: u16,
    first: &Svc,
    started: Instant,
    limit: Duration,
) -> anyhow::Result<Duration> {
    loop {
        interrupt::check()?;
        if let Some(status) = server.exited() {
            anyhow::bail!(
                "{} exited ({status}) before answering: {}",
                server.name,
                proc::tail(log, 8)
            );
        }
        let last = match ask(port, &first.fqdn(), RecordType::A) {
            Ok(resp) if resp.metadata.response_code == ResponseCode::NoError => {
                return Ok(started.elapsed());
            }
            Ok(resp) => format!("answered {}", resp.metadata.response_code),
            Err(e) => format!("{e:#}"),
        };
        if started.elapsed() > limit {
            anyhow::bail!(
                "{} did not answer {} A within {limit:?} ({last}); log: {}",
                server.name,
                first.fqdn(),
                proc::tail(log, 8)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks the answers of a sample of services (A, SRV with its additional
/// A) and two nonexistent names (NXDOMAIN with the SOA). Returns what is
/// wrong; empty when all is right.
pub fn check_answers(port: u16, w: &Workload) -> Vec<String> {
    let mut problems = Vec::new();
    for s in w.sample(CHECKED_SERVICES) {
        if let Err(e) = check_service(port, s) {
            problems.push(format!("{e:#}"));
        }
        if problems.len() >= 5 {
            break;
        }
    }
    for name in [
        format!("missing-0.{}.svc.cluster.local", NAMESPACES[0]),
        format!("www-1.example.com.{}.svc.cluster.local", NAMESPACES[1]),
    ] {
        match ask(port, &name, RecordType::A) {
            Ok(r) => {
                let soa = r
                    .authorities
                    .iter()
                    .any(|a| matches!(a.data, RData::SOA(_)));
                if r.metadata.response_code != ResponseCode::NXDomain || !soa {
                    problems.push(format!(
                        "{name} A: {} with {} authority records, want NXDOMAIN with the SOA",
                        r.metadata.response_code,
                        r.authorities.len()
                    ));
                }
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    problems
}

fn check_service(port: u16, s: &Svc) -> anyhow::Result<()> {
    let fqdn = s.fqdn();
    let r = ask(port, &fqdn, RecordType::A)?;
    let got: Vec<String> = r.answers.iter().map(|a| a.data.to_string()).collect();
    anyhow::ensure!(
        r.metadata.response_code == ResponseCode::NoError
            && got == [s.ip.to_string()]
            && r.answers.iter().all(|a| a.ttl == TTL)
            && r.metadata.authoritative,
        "{fqdn} A: {} {got:?} (aa {}), want NOERROR [{}] TTL {TTL}, authoritative",
        r.metadata.response_code,
        r.metadata.authoritative,
        s.ip
    );
    let srv_name = s.srv_name();
    let r = ask(port, &srv_name, RecordType::SRV)?;
    let want_target = format!("{fqdn}.");
    let srv_ok = r.answers.len() == 1
        && matches!(&r.answers[0].data, RData::SRV(v)
            if v.priority == 0 && v.weight == 100 && v.port == PORT
                && v.target.to_string().eq_ignore_ascii_case(&want_target));
    let glue = r.additionals.iter().any(|a| {
        a.name.to_string().eq_ignore_ascii_case(&want_target)
            && a.data.to_string() == s.ip.to_string()
    });
    anyhow::ensure!(
        r.metadata.response_code == ResponseCode::NoError && srv_ok && glue,
        "{srv_name} SRV: {} answers {:?} additionals {:?}, want NOERROR \
         [0 100 {PORT} {want_target}] with {want_target} A {} in the additional section",
        r.metadata.response_code,
        r.answers
            .iter()
            .map(|a| a.data.to_string())
            .collect::<Vec<_>>(),
        r.additionals
            .iter()
            .map(|a| format!("{} {}", a.name, a.data))
            .collect::<Vec<_>>(),
        s.ip
    );
    Ok(())
}
