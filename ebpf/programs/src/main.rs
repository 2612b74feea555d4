//! Socket-level service load balancing: cgroup sock_addr hooks that rewrite
//! a service VIP:port to a backend at connect()/sendmsg() time and show the
//! VIP again at recvmsg()/getpeername(). One object for the cgroup socket
//! attach points, as Cilium's bpf_sock; the v4/v6 twins live in `sock4` and
//! `sock6`, shared logic in `maps` and `ctx`.
#![no_std]
#![no_main]

mod affinity;
mod ctx;
mod maglev;
mod maps;
mod revnat;
mod sock4;
mod sock6;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: the verifier rejects any program that could reach this point;
    // there is no panic at run time in a loaded BPF program.
    unsafe { core::hint::unreachable_unchecked() }
}

#[unsafe(no_mangle)]
#[unsafe(link_section = "license")]
pub static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
