//! Fixtures for running `berth-cni` under a real containerd (Debian's 1.6)
//! through its CRI plugin, without any image registry:
//!
//! - the pause image: berth-node's ([`berth_node::image::pause_image`]);
//! - [`containerd`]: a containerd started as a plain background process with
//!   its own root, state and socket, and everything it leaves behind removed
//!   on drop;
//! - [`cri`]: a CRI (v1) client over containerd's unix socket.
//!
//! Everything here needs root.

pub mod containerd;
pub mod cri;
pub mod guard;

use std::path::PathBuf;

/// Where the `berth` binary is: `$BERTH_BIN`, else `target/release/berth` of
/// this workspace. An error (naming the fix) when it does not exist.
pub fn berth_bin() -> anyhow::Result<PathBuf> {
    let path = match std::env::var_os("BERTH_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/berth"),
    };
    if !path.is_file() {
        anyhow::bail!(
            "the berth binary is missing at {} (set BERTH_BIN, or build it: run `cargo xtask test`, \
             or `cargo build --release -p berth`)",
            path.display()
        );
    }
    Ok(path.canonicalize()?)
}
