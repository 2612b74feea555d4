//! What every object of this crate carries: the panic handler a `no_std`
//! binary needs (never reached: the verifier rejects any path to it) and
//! the license section (GPL-compatible, for GPL-only helpers and kfuncs).

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
