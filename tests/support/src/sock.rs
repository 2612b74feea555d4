//! Socket setup that std does not offer: `SO_REUSEADDR`, `IPV6_V6ONLY`,
//! a large listen backlog, `SO_LINGER`.

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, bind, listen, setsockopt, socket,
    sockopt,
};

use crate::error::{Error, Result};

/// Listen backlog of the echo servers.
pub(crate) const BACKLOG: i32 = 4096;

fn bound(addr: SocketAddr, ty: SockType) -> Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(family, ty, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| Error::errno(format!("socket for {addr}"), e))?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)
        .map_err(|e| Error::errno(format!("SO_REUSEADDR for {addr}"), e))?;
    if addr.is_ipv6() {
        // An IPv6 wildcard must not also grab the IPv4 port.
        setsockopt(&fd, sockopt::Ipv6V6Only, &true)
            .map_err(|e| Error::errno(format!("IPV6_V6ONLY for {addr}"), e))?;
    }
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))
        .map_err(|e| Error::errno(format!("bind {addr}"), e))?;
    Ok(fd)
}

/// A TCP listener on `addr` with `SO_REUSEADDR` and a [`BACKLOG`] backlog.
pub(crate) fn tcp_listener(addr: SocketAddr) -> Result<TcpListener> {
    let fd = bound(addr, SockType::Stream)?;
    let backlog = Backlog::new(BACKLOG).unwrap_or(Backlog::MAXCONN);
    listen(&fd, backlog).map_err(|e| Error::errno(format!("listen on {addr}"), e))?;
    Ok(TcpListener::from(fd))
}

/// A UDP socket bound to `addr`.
pub(crate) fn udp_socket(addr: SocketAddr) -> Result<UdpSocket> {
    Ok(UdpSocket::from(bound(addr, SockType::Datagram)?))
}

/// Makes `close` send a RST instead of entering TIME_WAIT, so that clients
/// opening thousands of connections per second do not run out of ports.
pub(crate) fn set_linger_zero(stream: &TcpStream) -> Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    setsockopt(stream, sockopt::Linger, &linger).map_err(|e| Error::errno("SO_LINGER", e))
}
