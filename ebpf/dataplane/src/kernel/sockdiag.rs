//! sock_diag (NETLINK_SOCK_DIAG) in one network namespace: dump the TCP or
//! UDP sockets of a family, and destroy one (SOCK_DESTROY, which needs
//! CONFIG_INET_DIAG_DESTROY). The socket must be opened inside the
//! namespace whose sockets it is to see.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const SOCK_DESTROY: u16 = 21;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
/// Every TCP state (and UDP's "established"/"close").
const ALL_STATES: u32 = u32::MAX;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct NlMsgHdr {
    len: u32,
    type_: u16,
    flags: u16,
    seq: u32,
    pid: u32,
}

/// `struct inet_diag_sockid`: ports and addresses in network byte order.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct SockId {
    pub sport: u16,
    pub dport: u16,
    pub src: [u32; 4],
    pub dst: [u32; 4],
    pub if_: u32,
    pub cookie: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ReqV2 {
    family: u8,
    protocol: u8,
    ext: u8,
    pad: u8,
    states: u32,
    id: SockId,
}

/// `struct inet_diag_msg`, the head of each dumped socket.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct DiagMsg {
    family: u8,
    state: u8,
    timer: u8,
    retrans: u8,
    id: SockId,
    expires: u32,
    rqueue: u32,
    wqueue: u32,
    uid: u32,
    inode: u32,
}

const _: () = assert!(size_of::<SockId>() == 48);
const _: () = assert!(size_of::<ReqV2>() == 56);
const _: () = assert!(size_of::<DiagMsg>() == 72);

impl SockId {
    /// The peer as an address (IPv4 sockets use the first word).
    pub fn dst_addr(&self, family: i32) -> IpAddr {
        if family == libc::AF_INET {
            IpAddr::V4(Ipv4Addr::from(self.dst[0].to_ne_bytes()))
        } else {
            let mut o = [0u8; 16];
            for (i, w) in self.dst.iter().enumerate() {
                o[4 * i..4 * i + 4].copy_from_slice(&w.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(o))
        }
    }

    pub fn cookie(&self) -> u64 {
        u64::from(self.cookie[0]) | (u64::from(self.cookie[1]) << 32)
    }
}

/// A sock_diag socket of the calling thread's network namespace.
pub(crate) struct Diag {
    fd: OwnedFd,
    seq: u32,
}

fn as_bytes<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: T is a #[repr(C)] plain-integer struct without implicit
    // padding (size asserts above), so all its bytes are initialised.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
}

impl Diag {
    pub fn open() -> io::Result<Self> {
        // SAFETY: plain socket(2); the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a new descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self { fd, seq: 0 })
    }

    fn send(&mut self, type_: u16, flags: u16, req: &ReqV2) -> io::Result<u32> {
        self.seq += 1;
        let hdr = NlMsgHdr {
            len: (size_of::<NlMsgHdr>() + size_of::<ReqV2>()) as u32,
            type_,
            flags,
            seq: self.seq,
            pid: 0,
        };
        let mut buf = Vec::with_capacity(hdr.len as usize);
        buf.extend_from_slice(as_bytes(&hdr));
        buf.extend_from_slice(as_bytes(req));
        // SAFETY: buf is a valid buffer of buf.len() bytes.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(self.seq)
    }

    /// Reads replies to `seq` until DONE (dump) or the ACK/error (request),
    /// handing each socket message to `each`.
    fn recv(&mut self, seq: u32, mut each: impl FnMut(&DiagMsg)) -> io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: buf is writable for buf.len() bytes.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut off = 0usize;
            let n = n as usize;
            while off + size_of::<NlMsgHdr>() <= n {
                // SAFETY: at least a header's bytes remain; read unaligned.
                let hdr: NlMsgHdr = unsafe { std::ptr::read_unaligned(buf[off..].as_ptr().cast()) };
                let len = hdr.len as usize;
                if len < size_of::<NlMsgHdr>() || off + len > n {
                    return Err(io::Error::other("truncated sock_diag reply"));
                }
                let body = &buf[off + size_of::<NlMsgHdr>()..off + len];
                off += (len + 3) & !3;
                if hdr.seq != seq {
                    continue;
                }
                match hdr.type_ {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        if body.len() < 4 {
                            return Err(io::Error::other("short netlink error"));
                        }
                        let code = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
                        return if code == 0 {
                            Ok(())
                        } else {
                            Err(io::Error::from_raw_os_error(-code))
                        };
                    }
                    _ if body.len() >= size_of::<DiagMsg>() => {
                        // SAFETY: the body holds at least one inet_diag_msg.
                        let m: DiagMsg = unsafe { std::ptr::read_unaligned(body.as_ptr().cast()) };
                        each(&m);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Every socket of `family` (AF_INET/AF_INET6) and `protocol` (IPPROTO_*)
    /// with a peer: (socket id).
    pub fn dump(&mut self, family: i32, protocol: u8) -> io::Result<Vec<SockId>> {
        let req = ReqV2 {
            family: family as u8,
            protocol,
            states: ALL_STATES,
            ..ReqV2::default()
        };
        let seq = self.send(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, &req)?;
        let mut out = Vec::new();
        self.recv(seq, |m| {
            if m.id.dport != 0 {
                out.push(m.id);
            }
        })?;
        Ok(out)
    }

    /// Destroys one socket: its owner sees ECONNABORTED at once (a TCP
    /// peer gets a reset).
    pub fn destroy(&mut self, family: i32, protocol: u8, id: &SockId) -> io::Result<()> {
        let req = ReqV2 {
            family: family as u8,
            protocol,
            states: ALL_STATES,
            id: *id,
            ..ReqV2::default()
        };
        let seq = self.send(SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, &req)?;
        self.recv(seq, |_| {})
    }
}
