//! The socket hooks' logic, once for both families ([`Family`]): connect
//! and sendmsg translate a VIP to a backend, recvmsg and getpeername show
//! the VIP again. The entry points are the twins `sock4` and `sock6`.

use aya_ebpf::programs::SockAddrContext;

use crate::{
    ctx::{Skip, client, cookie, l4_proto, set_user_port, user_port},
    family::Family,
    maps::count_translated,
    pick::select,
};

/// Rewrites the VIP:port the socket goes to into a backend's, and records
/// the VIP for [`try_revnat`].
pub fn try_xlate<F: Family>(ctx: &SockAddrContext) -> Result<(), Skip> {
    let proto = l4_proto(ctx).ok_or(Skip::NotService)?;
    let vip = F::user_ip(ctx);
    let port = user_port(ctx);
    let (master, backend_id, be) = select::<F>(vip, port, proto, client(ctx))?;
    let (addr, be_port) = F::backend_endpoint(&be);
    let key = F::revnat_key(cookie(ctx), (addr, be_port));
    // Losing a reverse entry only affects what recvmsg/getpeername show;
    // the connection itself still goes to the backend.
    let _ = F::revnat().insert(key, F::revnat_value((vip, port)), 0);
    F::set_user_ip(ctx, addr);
    set_user_port(ctx, be_port);
    count_translated(master.service_id, backend_id);
    Ok(())
}

/// Shows the VIP:port the socket asked for instead of the backend's.
pub fn try_revnat<F: Family>(ctx: &SockAddrContext) -> Option<()> {
    let key = F::revnat_key(cookie(ctx), (F::user_ip(ctx), user_port(ctx)));
    // SAFETY: the value is copied out at once. LRU maps are preallocated:
    // an entry evicted and reused during this copy could show another
    // socket's VIP, a race of a few instructions under LRU pressure only.
    let v = unsafe { F::revnat().get(key) }.copied()?;
    let (addr, port) = F::revnat_vip(&v);
    F::set_user_ip(ctx, addr);
    set_user_port(ctx, port);
    Some(())
}
