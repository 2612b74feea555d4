//! One exchange with one upstream: UDP from a fresh socket with a random
//! query id, then TCP when the UDP answer is truncated.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::ProtoError;
use hickory_proto::op::{Message, MessageType, Query};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Receive buffer for UDP answers: we ask for at most 1232 bytes; a
/// longer datagram is cut here, fails to parse, and is retried over TCP.
const UDP_BUFFER: usize = 4096;
/// The QR (response) bit in the third header byte.
const QR: u8 = 0x80;

/// Errors of one exchange with an upstream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransportError {
    /// A socket operation failed (e.g. connection refused).
    #[error("{transport} exchange with {upstream} failed")]
    Io {
        /// `udp` or `tcp`.
        transport: &'static str,
        /// The upstream.
        upstream: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No matching answer within the time allowed.
    #[error("no answer from {upstream} within {window:?}")]
    Timeout {
        /// The upstream.
        upstream: SocketAddr,
        /// The time allowed.
        window: Duration,
    },
    /// The query could not be encoded.
    #[error("encoding the query for {upstream}")]
    Encode {
        /// The upstream.
        upstream: SocketAddr,
        /// The encoding error.
        #[source]
        source: ProtoError,
    },
    /// The TCP answer does not answer the query (wrong id or question, or
    /// not parseable).
    #[error("{upstream} answered over tcp with a message that does not match the query")]
    Mismatch {
        /// The upstream.
        upstream: SocketAddr,
    },
}

impl TransportError {
    /// Whether the error is the time running out.
    pub(crate) fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }
}

/// A random 16-bit value (query ids).
///
/// Each call hashes a counter with a fresh [`RandomState`], whose SipHash
/// keys are seeded from the operating system's random source; this needs
/// no extra crate and is unpredictable to an off-path spoofer.
pub(crate) fn random_u16() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (hasher.finish() >> 24) as u16
}

/// Sends `query` (with a fresh random id) to `upstream` and returns its
/// answer; the whole exchange (UDP, and TCP after a truncated answer) must
/// end within `window`.
///
/// Over UDP, datagrams from other addresses are filtered by the connected
/// socket and datagrams whose id or question differ are ignored (a spoofer
/// cannot end the exchange). A connection refused (ICMP port unreachable)
/// fails at once.
pub(crate) async fn exchange(
    upstream: SocketAddr,
    mut query: Message,
    window: Duration,
) -> Result<Message, TransportError> {
    query.metadata.id = random_u16();
    let bytes = query
        .to_vec()
        .map_err(|source| TransportError::Encode { upstream, source })?;
    let question = query.queries.first().cloned().unwrap_or_default();
    let expected = Expected {
        id: query.metadata.id,
        question: &question,
    };
    let attempt = async {
        match udp(upstream, &bytes, &expected).await? {
            Some(answer) => Ok(answer),
            None => {
                tracing::debug!(%upstream, "truncated answer over UDP, retrying over TCP");
                tcp(upstream, &bytes, &expected).await
            }
        }
    };
    tokio::time::timeout(window, attempt)
        .await
        .map_err(|_| TransportError::Timeout { upstream, window })?
}

/// What an answer must match.
#[derive(Debug)]
struct Expected<'a> {
    id: u16,
    question: &'a Query,
}

/// A received message, judged against the query.
#[derive(Debug)]
enum Checked {
    /// The answer to the query (possibly with TC set).
    Answer(Message),
    /// Our id with QR set but not parseable (cut by the sender or by our
    /// buffer): try TCP.
    Unparsed,
    /// Not an answer to the query.
    Foreign,
}

fn check(bytes: &[u8], expected: &Expected<'_>) -> Checked {
    if bytes.len() < 12 || u16::from_be_bytes([bytes[0], bytes[1]]) != expected.id {
        return Checked::Foreign;
    }
    match Message::from_vec(bytes) {
        Ok(msg)
            if msg.metadata.message_type == MessageType::Response
                && msg.queries.len() == 1
                && same_question(&msg.queries[0], expected.question) =>
        {
            Checked::Answer(msg)
        }
        Ok(_) => Checked::Foreign,
        Err(_) if bytes[2] & QR == QR => Checked::Unparsed,
        Err(_) => Checked::Foreign,
    }
}

fn same_question(got: &Query, sent: &Query) -> bool {
    // Name equality is case-insensitive.
    got.name() == sent.name()
        && got.query_type() == sent.query_type()
        && got.query_class() == sent.query_class()
}

/// The UDP answer, or `None` when it is truncated.
async fn udp(
    upstream: SocketAddr,
    bytes: &[u8],
    expected: &Expected<'_>,
) -> Result<Option<Message>, TransportError> {
    let io = |source| TransportError::Io {
        transport: "udp",
        upstream,
        source,
    };
    let local: SocketAddr = if upstream.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    // A fresh socket per query: the kernel picks a random ephemeral port.
    let socket = UdpSocket::bind(local).await.map_err(io)?;
    socket.connect(upstream).await.map_err(io)?;
    socket.send(bytes).await.map_err(io)?;
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let len = socket.recv(&mut buf).await.map_err(io)?;
        match check(&buf[..len], expected) {
            Checked::Answer(msg) if msg.metadata.truncation => return Ok(None),
            Checked::Answer(msg) => return Ok(Some(msg)),
            Checked::Unparsed => return Ok(None),
            Checked::Foreign => {
                tracing::debug!(%upstream, len, "ignoring a UDP message that does not answer the query");
            }
        }
    }
}

async fn tcp(
    upstream: SocketAddr,
    bytes: &[u8],
    expected: &Expected<'_>,
) -> Result<Message, TransportError> {
    let io = |source| TransportError::Io {
        transport: "tcp",
        upstream,
        source,
    };
    let len = u16::try_from(bytes.len())
        .map_err(|_| io(std::io::Error::from(std::io::ErrorKind::InvalidInput)))?;
    let mut stream = TcpStream::connect(upstream).await.map_err(io)?;
    let mut frame = Vec::with_capacity(bytes.len() + 2);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(bytes);
    stream.write_all(&frame).await.map_err(io)?;
    let len = usize::from(stream.read_u16().await.map_err(io)?);
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await.map_err(io)?;
    match check(&buf, expected) {
        Checked::Answer(msg) => Ok(msg),
        Checked::Unparsed | Checked::Foreign => Err(TransportError::Mismatch { upstream }),
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{OpCode, ResponseCode};
    use hickory_proto::rr::{Name, RecordType};

    use super::*;

    fn question() -> Query {
        Query::query(Name::from_ascii("example.com.").unwrap(), RecordType::A)
    }

    fn reply(id: u16, question: Query) -> Vec<u8> {
        let mut msg = Message::error_msg(id, OpCode::Query, ResponseCode::NoError);
        msg.add_query(question);
        msg.to_vec().unwrap()
    }

    #[test]
    fn random_ids_vary() {
        let ids: std::collections::HashSet<u16> = (0..64).map(|_| random_u16()).collect();
        assert!(ids.len() > 32, "{ids:?}");
    }

    #[test]
    fn check_matches_id_and_question() {
        let q = question();
        let expected = Expected {
            id: 0x1234,
            question: &q,
        };
        assert!(matches!(
            check(&reply(0x1234, q.clone()), &expected),
            Checked::Answer(_)
        ));
        let upper = Query::query(Name::from_ascii("EXAMPLE.com.").unwrap(), RecordType::A);
        assert!(matches!(
            check(&reply(0x1234, upper), &expected),
            Checked::Answer(_)
        ));
        assert!(matches!(
            check(&reply(0x1235, q.clone()), &expected),
            Checked::Foreign
        ));
        let other = Query::query(Name::from_ascii("example.org.").unwrap(), RecordType::A);
        assert!(matches!(
            check(&reply(0x1234, other), &expected),
            Checked::Foreign
        ));
        let aaaa = Query::query(Name::from_ascii("example.com.").unwrap(), RecordType::AAAA);
        assert!(matches!(
            check(&reply(0x1234, aaaa), &expected),
            Checked::Foreign
        ));
        // A query (QR clear) with our id is not an answer.
        let mut query = Message::query();
        query.metadata.id = 0x1234;
        query.add_query(q.clone());
        assert!(matches!(
            check(&query.to_vec().unwrap(), &expected),
            Checked::Foreign
        ));
        assert!(matches!(
            check(&[0x12, 0x34, 0x80], &expected),
            Checked::Foreign
        ));
    }

    #[test]
    fn unparseable_answer_asks_for_tcp() {
        let q = question();
        let expected = Expected {
            id: 0x1234,
            question: &q,
        };
        let mut bytes = reply(0x1234, q.clone());
        bytes[7] = 1; // one answer that is not there: cut short
        assert!(matches!(check(&bytes, &expected), Checked::Unparsed));
        bytes[2] &= !QR;
        assert!(matches!(check(&bytes, &expected), Checked::Foreign));
    }

    #[tokio::test]
    async fn closed_port_fails_at_once() {
        // Bind then drop a socket: its port is very likely closed now.
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut query = Message::query();
        query.add_query(question());
        let window = Duration::from_secs(30);
        let started = std::time::Instant::now();
        let err = exchange(upstream, query, window).await.unwrap_err();
        assert!(matches!(err, TransportError::Io { .. }), "{err}");
        assert!(started.elapsed() < window);
    }
}
