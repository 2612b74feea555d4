//! IPv4 hooks: connect4/sendmsg4 translate a VIP to a backend,
//! recvmsg4/getpeername4 show the VIP again ([`crate::sock`] over
//! [`V4`]).

use aya_ebpf::{macros::cgroup_sock_addr, programs::SockAddrContext};

use crate::{
    ctx::{ALLOW, verdict},
    family::V4,
    sock::{try_revnat, try_xlate},
};

#[cgroup_sock_addr(connect4)]
pub fn berth_connect4(ctx: SockAddrContext) -> i32 {
    verdict(try_xlate::<V4>(&ctx))
}

#[cgroup_sock_addr(sendmsg4)]
pub fn berth_sendmsg4(ctx: SockAddrContext) -> i32 {
    verdict(try_xlate::<V4>(&ctx))
}

#[cgroup_sock_addr(recvmsg4)]
pub fn berth_recvmsg4(ctx: SockAddrContext) -> i32 {
    let _ = try_revnat::<V4>(&ctx);
    ALLOW
}

#[cgroup_sock_addr(getpeername4)]
pub fn berth_getpeername4(ctx: SockAddrContext) -> i32 {
    let _ = try_revnat::<V4>(&ctx);
    ALLOW
}
