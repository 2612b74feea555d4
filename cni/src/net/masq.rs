//! `ipMasq`: masquerade (source NAT to the outgoing interface's address)
//! of traffic from a pod's address leaving its pod CIDR.
//!
//! nftables through libnftnl (crate `nftnl`, rule building and parsing) over
//! a netfilter netlink socket (crate `mnl`); no `nft`/`iptables` binary. One
//! table `berth-cni` per family (`ip`, `ip6`) with a base chain
//! `postrouting` (type nat, hook postrouting, priority srcnat = 100). Per
//! attachment and address one rule:
//!
//! ```text
//! ip saddr 10.244.1.5 ip daddr != 10.244.1.0/24 ip daddr != 224.0.0.0/4 masquerade comment "<tag>"
//! ```
//!
//! with one more `daddr !=` per `nonMasqueradeCIDRs` entry of the family
//! (the cluster's pod CIDR, so that pods on other nodes see the pod's own
//! address and only traffic leaving the cluster is masqueraded).
//!
//! The comment ([`tag`]) names the attachment, so DEL and GC find and delete
//! exactly its rules (by handle). Everything runs in the calling thread's
//! network namespace (the node's).

use std::ffi::{CStr, CString};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use nftnl::nftnl_sys::{self as sys, libc};
use nftnl::{Batch, Chain, ChainType, Hook, MsgType, Policy, ProtoFamily, Rule, Table, nft_expr};

use super::names::host_veth_name;

/// The table holding Berth's masquerade chain (one per family).
pub const TABLE: &CStr = c"berth-cni";
/// The nat base chain hooked at postrouting.
pub const CHAIN: &CStr = c"postrouting";
/// nftables' `srcnat` priority.
const SRCNAT_PRIORITY: i32 = 100;
/// Netlink receive buffer size (libnftnl's maximum message size).
const BUF_LEN: usize = 1 << 17;
/// libnftnl's rule-comment userdata type (`NFTNL_UDATA_RULE_COMMENT`).
const UDATA_RULE_COMMENT: u8 = 0;
/// Attempts at deleting rules when another process changes the chain meanwhile.
const DELETE_ATTEMPTS: usize = 3;

/// An IP family of a masquerade table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Table `ip berth-cni`.
    Ipv4,
    /// Table `ip6 berth-cni`.
    Ipv6,
}

impl Family {
    /// Both families.
    pub const ALL: [Family; 2] = [Family::Ipv4, Family::Ipv6];

    /// The family of `ip`.
    pub fn of(ip: IpAddr) -> Family {
        if ip.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }

    fn proto(self) -> ProtoFamily {
        match self {
            Family::Ipv4 => ProtoFamily::Ipv4,
            Family::Ipv6 => ProtoFamily::Ipv6,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "ip",
            Family::Ipv6 => "ip6",
        }
    }
}

/// nftables failures.
#[derive(Debug, thiserror::Error)]
pub enum MasqError {
    /// The netfilter netlink socket could not be opened or used.
    #[error("nftables: {what}: {source}")]
    Socket {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The kernel refused a transaction.
    #[error("nftables: {op}: {source}")]
    Request {
        /// The transaction, with the objects it names.
        op: String,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },
    /// A value cannot be put into a rule.
    #[error("nftables: {what}")]
    Invalid {
        /// Description naming the value.
        what: String,
    },
}

impl MasqError {
    /// The errno of a refused request, if this is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            MasqError::Request { source, .. } | MasqError::Socket { source, .. } => {
                source.raw_os_error()
            }
            MasqError::Invalid { .. } => None,
        }
    }
}

/// One address to masquerade: the pod's address and its pod CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The pod's address (`saddr`).
    pub ip: IpAddr,
    /// Traffic to this network is left alone (`daddr !=`).
    pub subnet: IpNet,
    /// And to these (`nonMasqueradeCIDRs` of the pod's family).
    pub except: Vec<IpNet>,
}

/// A rule of a `berth-cni` postrouting chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasqRule {
    /// Its handle (what deletion names).
    pub handle: u64,
    /// Its comment, if it has one.
    pub comment: Option<String>,
}

/// The comment tagging an attachment's rules: the host veth name (a hash of
/// network, container id and ifname: unique per attachment) and, for people
/// reading `nft list ruleset`, the container id and ifname. At most 127
/// bytes (libnftnl's comment limit): a long container id is cut, the hash
/// keeps the tag unique.
pub fn tag(network: &str, container_id: &str, ifname: &str) -> String {
    let veth = host_veth_name(network, container_id, ifname);
    let room = 127 - veth.len() - ifname.len() - 2;
    let id: String = container_id.chars().take(room).collect();
    format!("{veth} {id}/{ifname}")
}

/// Adds one masquerade rule per target, tagged `tag`, creating the tables
/// and chains as needed; all in one atomic transaction.
pub fn add(tag: &str, targets: &[Target]) -> Result<(), MasqError> {
    if targets.is_empty() {
        return Ok(());
    }
    let comment = CString::new(tag).map_err(|_| MasqError::Invalid {
        what: format!("rule comment {tag:?} contains a NUL byte"),
    })?;
    let families: Vec<Family> = Family::ALL
        .into_iter()
        .filter(|f| targets.iter().any(|t| Family::of(t.ip) == *f))
        .collect();
    let tables: Vec<Table> = families
        .iter()
        .map(|f| Table::new(TABLE, f.proto()))
        .collect();
    let chains: Vec<Chain<'_>> = tables.iter().map(base_chain).collect();
    let mut batch = Batch::new();
    for (table, chain) in tables.iter().zip(&chains) {
        batch.add(table, MsgType::Add);
        batch.add(chain, MsgType::Add);
    }
    for t in targets {
        let Some(i) = families.iter().position(|f| *f == Family::of(t.ip)) else {
            continue;
        };
        let rule = masq_rule(&chains[i], t, &comment)?;
        batch.add(&rule, MsgType::Add);
    }
    let ips: Vec<String> = targets.iter().map(|t| t.ip.to_string()).collect();
    send_batch(
        batch,
        &format!("add masquerade rule {tag:?} for {}", ips.join(", ")),
    )
}

/// Deletes every rule tagged `tag` in both families; returns how many.
/// Absent tables are fine (nothing to delete).
pub fn remove(tag: &str) -> Result<usize, MasqError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match remove_once(tag) {
            // Another process deleted a rule between our listing and our
            // deletion: list again.
            Err(e) if e.errno() == Some(libc::ENOENT) && attempt < DELETE_ATTEMPTS => {}
            other => return other,
        }
    }
}

fn remove_once(tag: &str) -> Result<usize, MasqError> {
    let mut deleted = 0;
    for family in Family::ALL {
        let handles: Vec<u64> = list(family)?
            .into_iter()
            .filter(|r| r.comment.as_deref() == Some(tag))
            .map(|r| r.handle)
            .collect();
        if handles.is_empty() {
            continue;
        }
        let table = Table::new(TABLE, family.proto());
        let chain = Chain::new(CHAIN, &table);
        let mut batch = Batch::new();
        for h in &handles {
            let mut rule = Rule::new(&chain);
            rule.set_handle(*h);
            batch.add(&rule, MsgType::Del);
        }
        send_batch(
            batch,
            &format!(
                "delete masquerade rules {tag:?} (handles {handles:?}) from {} {}",
                family.name(),
                TABLE.to_string_lossy()
            ),
        )?;
        deleted += handles.len();
    }
    Ok(deleted)
}

/// The rules of the `berth-cni` postrouting chain of `family` (empty when
/// the table does not exist).
pub fn list(family: Family) -> Result<Vec<MasqRule>, MasqError> {
    let socket = open_socket()?;
    let mut buf = AlignedBuf::new();
    let seq = 1;
    let len = build_rule_dump(&mut buf.0, family, seq)?;
    socket
        .send(&buf.0[..len])
        .map_err(|source| MasqError::Socket {
            what: "send rule dump request",
            source,
        })?;
    let mut rules = Vec::new();
    loop {
        let n = socket
            .recv_raw(&mut buf.0)
            .map_err(|source| MasqError::Socket {
                what: "receive rule dump",
                source,
            })?;
        match mnl::cb_run2(&buf.0[..n], seq, socket.portid(), on_rule, &mut rules) {
            Ok(mnl::CbResult::Stop) => return Ok(rules),
            Ok(mnl::CbResult::Ok) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Vec::new()),
            Err(source) => {
                return Err(MasqError::Request {
                    op: format!(
                        "list rules of {} {} {}",
                        family.name(),
                        TABLE.to_string_lossy(),
                        CHAIN.to_string_lossy()
                    ),
                    source,
                });
            }
        }
    }
}

fn base_chain(table: &Table) -> Chain<'_> {
    let mut chain = Chain::new(CHAIN, table);
    chain.set_type(ChainType::Nat);
    chain.set_hook(Hook::PostRouting, SRCNAT_PRIORITY);
    chain.set_policy(Policy::Accept);
    chain
}

fn masq_rule<'a>(chain: &'a Chain<'a>, t: &Target, comment: &CStr) -> Result<Rule<'a>, MasqError> {
    let mut rule = Rule::new(chain);
    let subnet = t.subnet.trunc();
    match (t.ip, subnet) {
        (IpAddr::V4(ip), IpNet::V4(net)) => {
            rule.add_expr(&nft_expr!(payload ipv4 saddr));
            rule.add_expr(&nft_expr!(cmp == ip));
            let extra = t.except.iter().filter_map(|n| match n {
                IpNet::V4(n) => Some((n.network(), n.netmask())),
                IpNet::V6(_) => None,
            });
            let fixed = [
                (net.network(), net.netmask()),
                (Ipv4Addr::new(224, 0, 0, 0), Ipv4Addr::new(240, 0, 0, 0)),
            ];
            for (addr, mask) in fixed.into_iter().chain(extra) {
                rule.add_expr(&nft_expr!(payload ipv4 daddr));
                rule.add_expr(&nft_expr!(bitwise mask mask, xor Ipv4Addr::UNSPECIFIED));
                rule.add_expr(&nft_expr!(cmp != addr));
            }
        }
        (IpAddr::V6(ip), IpNet::V6(net)) => {
            rule.add_expr(&nft_expr!(payload ipv6 saddr));
            rule.add_expr(&nft_expr!(cmp == ip));
            let extra = t.except.iter().filter_map(|n| match n {
                IpNet::V6(n) => Some((n.network(), n.netmask())),
                IpNet::V4(_) => None,
            });
            let fixed = [
                (net.network(), net.netmask()),
                (
                    Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
                    Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
                ),
            ];
            for (addr, mask) in fixed.into_iter().chain(extra) {
                rule.add_expr(&nft_expr!(payload ipv6 daddr));
                rule.add_expr(&nft_expr!(bitwise mask mask, xor Ipv6Addr::UNSPECIFIED));
                rule.add_expr(&nft_expr!(cmp != addr));
            }
        }
        _ => {
            return Err(MasqError::Invalid {
                what: format!(
                    "address {} and pod CIDR {} are of different families",
                    t.ip, t.subnet
                ),
            });
        }
    }
    rule.add_expr(&nft_expr!(masquerade));
    rule.set_comment(comment)
        .map_err(|reason| MasqError::Invalid {
            what: format!("rule comment {comment:?}: {reason}"),
        })?;
    Ok(rule)
}

/// A receive buffer aligned for `nlmsghdr`, as libmnl requires.
#[repr(C, align(8))]
struct AlignedBuf([u8; BUF_LEN]);

impl AlignedBuf {
    fn new() -> Box<AlignedBuf> {
        Box::new(AlignedBuf([0; BUF_LEN]))
    }
}

fn open_socket() -> Result<mnl::Socket, MasqError> {
    mnl::Socket::new(mnl::Bus::Netfilter).map_err(|source| MasqError::Socket {
        what: "open netfilter netlink socket",
        source,
    })
}

/// Sends a transaction and waits for the kernel's acknowledgement of each
/// of its messages; the first refusal is the error.
fn send_batch(batch: Batch, op: &str) -> Result<(), MasqError> {
    let batch = batch.finalize();
    let socket = open_socket()?;
    let request = |source| MasqError::Request {
        op: op.to_string(),
        source,
    };
    socket.send_all(&batch).map_err(request)?;
    let mut expected = batch.sequence_numbers().len();
    let mut buf = AlignedBuf::new();
    while expected > 0 {
        let n = socket
            .recv_raw(&mut buf.0)
            .map_err(|source| MasqError::Socket {
                what: "receive transaction acknowledgements",
                source,
            })?;
        for message in mnl::NlMessages::new(&buf.0[..n]) {
            let message = message.map_err(request)?;
            // Sequence 0: libmnl then accepts any sequence number; the
            // kernel answers in order, one message per request message.
            mnl::cb_run(message, 0, socket.portid()).map_err(request)?;
            expected = expected.saturating_sub(1);
        }
    }
    Ok(())
}

/// Writes a `NFT_MSG_GETRULE` dump request for the `berth-cni` postrouting
/// chain of `family` into `buf`; returns its length.
fn build_rule_dump(buf: &mut [u8], family: Family, seq: u32) -> Result<usize, MasqError> {
    // SAFETY: `buf` is BUF_LEN bytes, far more than a header plus two short
    // string attributes; the rule object is allocated, used to build the
    // payload and freed here, and the strings are valid NUL-terminated
    // constants that libnftnl copies.
    let len = unsafe {
        let nlh = sys::nftnl_nlmsg_build_hdr(
            buf.as_mut_ptr().cast(),
            libc::NFT_MSG_GETRULE as u16,
            family.proto() as u16,
            libc::NLM_F_DUMP as u16,
            seq,
        );
        let rule = sys::nftnl_rule_alloc();
        if rule.is_null() {
            return Err(MasqError::Socket {
                what: "allocate a libnftnl rule",
                source: io::Error::from(io::ErrorKind::OutOfMemory),
            });
        }
        sys::nftnl_rule_set_str(rule, sys::NFTNL_RULE_TABLE as u16, TABLE.as_ptr());
        sys::nftnl_rule_set_str(rule, sys::NFTNL_RULE_CHAIN as u16, CHAIN.as_ptr());
        sys::nftnl_rule_nlmsg_build_payload(nlh, rule);
        sys::nftnl_rule_free(rule);
        (*nlh).nlmsg_len as usize
    };
    Ok(len)
}

/// libmnl callback: one rule of the dump.
fn on_rule(nlh: &libc::nlmsghdr, rules: &mut Vec<MasqRule>) -> libc::c_int {
    // SAFETY: `nlh` is a complete message validated by libmnl; the rule
    // object is allocated and freed here, and the userdata pointer returned
    // by libnftnl points at `len` bytes owned by that rule, copied out
    // before the rule is freed.
    let parsed = unsafe {
        let rule = sys::nftnl_rule_alloc();
        if rule.is_null() {
            return mnl::mnl_sys::MNL_CB_ERROR;
        }
        if sys::nftnl_rule_nlmsg_parse(nlh, rule) < 0 {
            sys::nftnl_rule_free(rule);
            return mnl::mnl_sys::MNL_CB_ERROR;
        }
        let handle = sys::nftnl_rule_get_u64(rule, sys::NFTNL_RULE_HANDLE as u16);
        let mut len: u32 = 0;
        let data = sys::nftnl_rule_get_data(rule, sys::NFTNL_RULE_USERDATA as u16, &mut len);
        let udata = if data.is_null() {
            Vec::new()
        } else {
            std::slice::from_raw_parts(data.cast::<u8>(), len as usize).to_vec()
        };
        sys::nftnl_rule_free(rule);
        (handle, udata)
    };
    rules.push(MasqRule {
        handle: parsed.0,
        comment: comment_of(&parsed.1),
    });
    mnl::mnl_sys::MNL_CB_OK
}

/// The comment in a rule's userdata: type-length-value records
/// (`u8` type, `u8` length, value), the comment NUL-terminated.
fn comment_of(udata: &[u8]) -> Option<String> {
    let mut rest = udata;
    while let [kind, len, tail @ ..] = rest {
        let len = usize::from(*len);
        let value = tail.get(..len)?;
        if *kind == UDATA_RULE_COMMENT {
            let text = value.split(|b| *b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        rest = &tail[len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_short_and_unique() {
        let long = "a".repeat(200);
        let t = tag("net", &long, "eth0");
        assert!(t.len() <= 127, "{t}");
        assert_ne!(t, tag("net", &format!("{long}b"), "eth0"));
        assert!(tag("net", "abc", "eth0").ends_with(" abc/eth0"));
    }

    #[test]
    fn comment_parsing() {
        let mut u = vec![5, 2, 9, 9, UDATA_RULE_COMMENT, 4];
        u.extend_from_slice(b"abc\0");
        assert_eq!(comment_of(&u).as_deref(), Some("abc"));
        assert_eq!(comment_of(&[UDATA_RULE_COMMENT, 9, 1]), None);
        assert_eq!(comment_of(&[]), None);
    }
}
