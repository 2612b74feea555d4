//! Types shared by Berth's kernel programs and their userspace loader.
//!
//! Everything here is `#![no_std]`, `#[repr(C)]` with explicit padding and
//! no `bool`, so that the kernel and userspace agree on every byte. A change
//! of any type's layout is a map layout version bump ([`MAP_LAYOUT_VERSION`]).
//!
//! Addresses and ports are stored in network byte order, exactly as the
//! kernel hands them to `cgroup/connect4` and friends (`user_ip4`,
//! `user_port`), so the programs never convert.
#![no_std]

pub mod ct;
pub mod destroy;
pub mod lb;
pub mod select;

/// Bumped whenever a map key or value changes layout. Pinned maps live in a
/// directory named after it so that an old layout is never read as a new one.
pub const MAP_LAYOUT_VERSION: u32 = 2;

/// IANA protocol numbers used in service keys.
pub const PROTO_TCP: u8 = 6;
/// UDP.
pub const PROTO_UDP: u8 = 17;

/// `ECONNREFUSED` on Linux: what connect()/sendmsg() to a service without
/// backends returns.
pub const ECONNREFUSED: i32 = 111;
