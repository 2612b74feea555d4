//! IPv6 hooks: connect6/sendmsg6 translate a VIP to a backend,
//! recvmsg6/getpeername6 show the VIP again ([`crate::sock`] over
//! [`V6`]).

use aya_ebpf::{macros::cgroup_sock_addr, programs::SockAddrContext};

use crate::{
    ctx::{ALLOW, verdict},
    family::V6,
    sock::{try_revnat, try_xlate},
};

#[cgroup_sock_addr(connect6)]
pub fn berth_connect6(ctx: SockAddrContext) -> i32 {
    verdict(try_xlate::<V6>(&ctx))
}

#[cgroup_sock_addr(sendmsg6)]
pub fn berth_sendmsg6(ctx: SockAddrContext) -> i32 {
    verdict(try_xlate::<V6>(&ctx))
}

#[cgroup_sock_addr(recvmsg6)]
pub fn berth_recvmsg6(ctx: SockAddrContext) -> i32 {
    let _ = try_revnat::<V6>(&ctx);
    ALLOW
}

#[cgroup_sock_addr(getpeername6)]
pub fn berth_getpeername6(ctx: SockAddrContext) -> i32 {
    let _ = try_revnat::<V6>(&ctx);
    ALLOW
}
