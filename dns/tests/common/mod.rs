//! Shared by the test binaries that talk to a real server with `dig`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Command;

use berth_dns::{Handler, HealthServer, Server};

/// A server on 127.0.0.1:0 in a thread of its own; returns its DNS address
/// and, if asked, its metrics address.
pub fn start(
    handler: impl FnOnce() -> Handler + Send + 'static,
    metrics: bool,
) -> (SocketAddr, Option<SocketAddr>) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = Server::bind("127.0.0.1:0".parse().unwrap(), handler())
                .await
                .unwrap();
            let health = if metrics {
                let h =
                    HealthServer::bind("127.0.0.1:0".parse().unwrap(), server.handler().clone())
                        .await
                        .unwrap();
                let addr = h.local_addr().unwrap();
                tokio::spawn(h.run());
                Some(addr)
            } else {
                None
            };
            tx.send((server.local_addr(), health)).unwrap();
            server.run().await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// Runs dig against `addr` only (never the system resolver).
pub fn dig(addr: SocketAddr, args: &[&str]) -> String {
    let port = addr.port().to_string();
    let out = Command::new("dig")
        .args([&format!("@{}", addr.ip()), "-p", &port])
        .args(["+nosearch", "+time=5", "+tries=1", "+retry=0"])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `dig` ({e}): install it with `cargo xtask setup` (Debian package dnsutils)")
        });
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The answer section as `name type data` lines.
pub fn answer_lines(output: &str) -> Vec<String> {
    let mut in_answer = false;
    let mut lines = Vec::new();
    for l in output.lines() {
        if l.starts_with(";; ANSWER SECTION") {
            in_answer = true;
            continue;
        }
        if in_answer {
            if l.trim().is_empty() {
                break;
            }
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() >= 5 {
                lines.push(format!("{} {} {}", f[0], f[3], f[4..].join(" ")));
            }
        }
    }
    lines
}

/// The response code dig printed (`NOERROR`, `SERVFAIL`, ...), or "" when
/// no answer came.
pub fn status(output: &str) -> String {
    output
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_default()
        .to_owned()
}

/// GET `path` from the metrics endpoint: (status line, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}
