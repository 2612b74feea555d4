//! A client for the load-balancer tests, started inside a test's network
//! namespace and cgroup. Prints `key=value` lines the tests parse.
//!
//! lbprobe tcp ADDR N            N connections, each "who\n" -> backend id;
//!                                counts per id, getpeername mismatches, failures
//! lbprobe udp ADDR              unconnected UDP: the id and the reply's source
//! lbprobe udp-connected ADDR    connected UDP: the id and getpeername
//! lbprobe connect ADDR          one connect(): "ok" or errno and elapsed µs
//! lbprobe stream ADDR          connect/who/close in a loop until stdin ends:
//!                                `progress=OK` every 20 answers, then ok and
//!                                failed counts
//! lbprobe hold ADDR             one TCP connection: its id at once, then a
//!                                ping every 100 ms until stdin ends
//!                                (`progress=N` after each): exchanges, failures
//! lbprobe idle-tcp ADDR SECS    one TCP connection: its id at once, then waits
//!                                up to SECS for it to end: result, errno, when
//!                                (error_at_ms, Unix time); then who on a new one.
//!                                SECS `stdin`: until stdin ends, then
//!                                `result=open` if it has not ended
//! lbprobe idle-udp ADDR SECS    the same with a connected UDP socket

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpStream, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn who(addr: SocketAddr) -> anyhow::Result<(String, SocketAddr)> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    let peer = s.peer_addr()?;
    s.write_all(b"who\n")?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line)?;
    if line.is_empty() {
        bail!("empty reply");
    }
    Ok((line.trim().to_string(), peer))
}

/// An unbound-port UDP socket of `addr`'s family, with the read timeout.
fn udp_socket(addr: SocketAddr) -> anyhow::Result<UdpSocket> {
    let bind = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let s = UdpSocket::bind(bind)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

/// Asks a connection's backend id, keeping it open.
fn ask_id(s: &mut TcpStream) -> anyhow::Result<String> {
    s.write_all(b"id?\n")?;
    let mut line = String::new();
    BufReader::new(&*s).read_line(&mut line)?;
    if line.is_empty() {
        bail!("empty reply");
    }
    Ok(line.trim().to_string())
}

/// A line the test reads while the probe goes on.
/// A flag set once stdin ends (the test closed it): how a test says stop.
fn stdin_closed() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        stopped.store(true, Ordering::Relaxed);
    });
    stop
}

fn announce(line: &str) {
    println!("{line}");
    let _ = std::io::stdout().flush();
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// How an idle socket's wait ended: Ok(true) end of stream, Ok(false) data.
fn report_end(r: std::io::Result<bool>) {
    let at = now_ms();
    match r {
        Ok(true) => println!("result=eof\nerrno=0"),
        Ok(false) => println!("result=data\nerrno=0"),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            println!("result=timeout\nerrno=0")
        }
        Err(e) => println!(
            "result=error\nerrno={}\nerror={e}",
            e.raw_os_error().unwrap_or(-1)
        ),
    }
    println!("error_at_ms={at}");
}

/// The next attempt, on a new connection.
fn next_who(addr: SocketAddr) {
    match who(addr) {
        Ok((id, _)) => println!("next_id={id}"),
        Err(e) => println!("next_id=\nnext_error={e}"),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr: SocketAddr = args
        .get(1)
        .context("usage: lbprobe CMD ADDR ...")?
        .parse()
        .context("ADDR")?;
    match args[0].as_str() {
        "tcp" => cmd_tcp(addr, &args),
        "udp" => cmd_udp(addr),
        "udp-connected" => cmd_udp_connected(addr),
        "connect" => cmd_connect(addr),
        "stream" => cmd_stream(addr),
        "hold" => cmd_hold(addr),
        "idle-tcp" => cmd_idle_tcp(addr, &args),
        "idle-udp" => cmd_idle_udp(addr, &args),
        other => bail!("unknown command {other}"),
    }
}

fn cmd_tcp(addr: SocketAddr, args: &[String]) -> anyhow::Result<()> {
    let n: usize = args.get(2).context("N")?.parse()?;
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    let (mut failed, mut mismatch) = (0, 0);
    let mut first_error = String::new();
    for _ in 0..n {
        match who(addr) {
            Ok((id, peer)) => {
                *ids.entry(id).or_default() += 1;
                if peer != addr {
                    mismatch += 1;
                }
            }
            Err(e) => {
                if failed == 0 {
                    first_error = e.to_string();
                }
                failed += 1;
            }
        }
    }
    for (id, c) in ids {
        println!("id.{id}={c}");
    }
    println!("failed={failed}\npeer_mismatch={mismatch}\nfirst_error={first_error}");

    Ok(())
}

fn cmd_udp(addr: SocketAddr) -> anyhow::Result<()> {
    let s = udp_socket(addr)?;
    s.send_to(b"who", addr)?;
    let mut buf = [0u8; 512];
    let (n, from) = s.recv_from(&mut buf)?;
    println!(
        "id={}\nfrom={from}",
        String::from_utf8_lossy(&buf[..n]).trim()
    );

    Ok(())
}

fn cmd_udp_connected(addr: SocketAddr) -> anyhow::Result<()> {
    let s = udp_socket(addr)?;
    s.connect(addr)?;
    s.send(b"who")?;
    let mut buf = [0u8; 512];
    let n = s.recv(&mut buf)?;
    println!(
        "id={}\npeer={}",
        String::from_utf8_lossy(&buf[..n]).trim(),
        s.peer_addr()?
    );

    Ok(())
}

fn cmd_connect(addr: SocketAddr) -> anyhow::Result<()> {
    let t = Instant::now();
    let r = TcpStream::connect_timeout(&addr, IO_TIMEOUT);
    let us = t.elapsed().as_micros();
    match r {
        Ok(_) => println!("result=ok\nelapsed_us={us}"),
        Err(e) => println!(
            "result=error\nerrno={}\nerror={e}\nelapsed_us={us}",
            e.raw_os_error().unwrap_or(-1)
        ),
    }

    Ok(())
}

fn cmd_stream(addr: SocketAddr) -> anyhow::Result<()> {
    // Runs until the test closes stdin: the test, not a clock,
    // says when what it does beside the stream is done.
    let stop = stdin_closed();
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut first_error = String::new();
    while !stop.load(Ordering::Relaxed) {
        match who(addr) {
            Ok(_) => {
                ok += 1;
                if ok % 20 == 0 {
                    announce(&format!("progress={ok}"));
                }
            }
            Err(e) => {
                if failed == 0 {
                    first_error = e.to_string();
                }
                failed += 1;
            }
        }
    }
    println!("ok={ok}\nfailed={failed}\nfirst_error={first_error}");

    Ok(())
}

fn cmd_hold(addr: SocketAddr) -> anyhow::Result<()> {
    let stop = stdin_closed();
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    let id = ask_id(&mut s)?;
    announce(&format!("id={id}"));
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut first_error = String::new();
    let mut buf = [0u8; 16];
    while !stop.load(Ordering::Relaxed) {
        let r = s
            .write_all(b"ping")
            .and_then(|()| std::io::Read::read_exact(&mut s, &mut buf[..4]));
        match r {
            Ok(()) => {
                ok += 1;
                announce(&format!("progress={ok}"));
            }
            Err(e) => {
                if failed == 0 {
                    first_error = e.to_string();
                }
                failed += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("exchanges={ok}\nfailed={failed}\nfirst_error={first_error}");

    Ok(())
}

fn cmd_idle_tcp(addr: SocketAddr, args: &[String]) -> anyhow::Result<()> {
    let wait = args.get(2).context("SECS")?;
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    let id = ask_id(&mut s)?;
    announce(&format!("id={id}"));
    let mut buf = [0u8; 16];
    if wait == "stdin" {
        // Until the test says stop: then, whether it is still open.
        let stop = stdin_closed();
        s.set_read_timeout(Some(Duration::from_millis(100)))?;
        loop {
            match std::io::Read::read(&mut s, &mut buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if stop.load(Ordering::Relaxed) {
                        println!("result=open\nerrno=0");
                        break;
                    }
                }
                r => {
                    report_end(r.map(|n| n == 0));
                    break;
                }
            }
        }
    } else {
        let secs: f64 = wait.parse()?;
        s.set_read_timeout(Some(Duration::from_secs_f64(secs)))?;
        let r = std::io::Read::read(&mut s, &mut buf);
        report_end(r.map(|n| n == 0));
    }
    next_who(addr);

    Ok(())
}

fn cmd_idle_udp(addr: SocketAddr, args: &[String]) -> anyhow::Result<()> {
    let secs: f64 = args.get(2).context("SECS")?.parse()?;
    let s = udp_socket(addr)?;
    s.connect(addr)?;
    s.send(b"who")?;
    let mut buf = [0u8; 512];
    let n = s.recv(&mut buf)?;
    announce(&format!("id={}", String::from_utf8_lossy(&buf[..n]).trim()));
    s.set_read_timeout(Some(Duration::from_secs_f64(secs)))?;
    let r = s.recv(&mut buf);
    report_end(r.map(|_| false));
    // A DNS client's next query: a new socket.
    let s = udp_socket(addr)?;
    s.connect(addr)?;
    s.send(b"who")?;
    match s.recv(&mut buf) {
        Ok(n) => println!("next_id={}", String::from_utf8_lossy(&buf[..n]).trim()),
        Err(e) => println!("next_id=\nnext_error={e}"),
    }

    Ok(())
}
