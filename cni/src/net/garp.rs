//! Gratuitous ARP for the pod's IPv4 addresses, sent from inside the pod on
//! its interface once its bridge port forwards.
//!
//! `arp_notify` alone is not enough behind a bridge: the kernel sends its
//! announcement the instant the container end comes up, while the host end's
//! bridge port is still disabled (the bridge learns of the carrier change a
//! moment later, asynchronously), and the bridge drops it. So ADD waits for
//! the port to forward and then sends the ARP itself, like the reference
//! `bridge` plugin.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::sched::{CloneFlags, setns};

/// Failures to send a gratuitous ARP.
#[derive(Debug, thiserror::Error)]
pub enum GarpError {
    /// The container's namespace could not be entered.
    #[error("gratuitous ARP: enter network namespace {path}: {source}")]
    Netns {
        /// Its path.
        path: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The packet socket could not be opened or the frame not sent.
    #[error("gratuitous ARP for {ip} on interface index {index}: {op}: {source}")]
    Send {
        /// The address announced.
        ip: Ipv4Addr,
        /// The interface.
        index: u32,
        /// The failed call.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The sending thread panicked.
    #[error("gratuitous ARP: the thread in the container namespace panicked")]
    Panicked,
}

/// An ARP request announcing `ip` at `mac`: sender and target protocol
/// address both `ip` (RFC 5227's ARP announcement).
pub fn announcement(mac: [u8; 6], ip: Ipv4Addr) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[0..2].copy_from_slice(&1u16.to_be_bytes()); // htype: Ethernet
    p[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // ptype: IPv4
    p[4] = 6; // hlen
    p[5] = 4; // plen
    p[6..8].copy_from_slice(&1u16.to_be_bytes()); // oper: request
    p[8..14].copy_from_slice(&mac);
    p[14..18].copy_from_slice(&ip.octets());
    // tha stays zero
    p[24..28].copy_from_slice(&ip.octets());
    p
}

/// Broadcasts an announcement of each of `ips` on interface `index` of the
/// namespace `netns`.
pub fn send_in(
    netns: &File,
    netns_path: &Path,
    index: u32,
    mac: [u8; 6],
    ips: &[Ipv4Addr],
) -> Result<(), GarpError> {
    if ips.is_empty() {
        return Ok(());
    }
    let sent = std::thread::scope(|s| {
        s.spawn(|| {
            setns(netns, CloneFlags::CLONE_NEWNET).map_err(|e| GarpError::Netns {
                path: netns_path.display().to_string(),
                source: io::Error::from(e),
            })?;
            let fd = packet_socket().map_err(|source| GarpError::Send {
                ip: ips[0],
                index,
                op: "socket(AF_PACKET)",
                source,
            })?;
            for ip in ips {
                send_one(&fd, index, &announcement(mac, *ip)).map_err(|source| {
                    GarpError::Send {
                        ip: *ip,
                        index,
                        op: "sendto",
                        source,
                    }
                })?;
            }
            Ok(())
        })
        .join()
    });
    sent.unwrap_or(Err(GarpError::Panicked))
}

fn eth_p_arp_be() -> u16 {
    (libc::ETH_P_ARP as u16).to_be()
}

fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            i32::from(eth_p_arp_be()),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn send_one(fd: &OwnedFd, index: u32, payload: &[u8]) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = eth_p_arp_be();
    sll.sll_ifindex =
        i32::try_from(index).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    // SAFETY: `payload` and `sll` are valid for the lengths passed; the
    // kernel only reads them.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            payload.as_ptr().cast(),
            payload.len(),
            0,
            std::ptr::from_ref(&sll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcement_layout() {
        let p = announcement([0x0a, 0x58, 1, 2, 3, 4], Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(&p[..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&p[8..14], &[0x0a, 0x58, 1, 2, 3, 4]);
        assert_eq!(&p[14..18], &[10, 0, 0, 2]);
        assert_eq!(&p[18..24], &[0; 6]);
        assert_eq!(&p[24..28], &[10, 0, 0, 2]);
    }
}
