//! Removes what killed earlier runs left: only Berth's test objects (names
//! with Berth's test prefixes whose owning process is gone): the node
//! agent tests' and `berth bench pods`' containerd directories first
//! (their containers, containerd and shims, network namespaces, mounts),
//! then namespaces, interfaces, cgroups and bpffs entries.

use berth_test_support::{cleanup, leftovers};

pub fn run() -> anyhow::Result<()> {
    let mut n = 0;
    let mut report = |what: &str| {
        eprintln!("clean: removed {what}");
        n += 1;
    };
    leftovers::stale_node_dirs(&mut report);
    cleanup::stale(&mut report);
    if n == 0 {
        eprintln!("clean: nothing stale");
    }
    Ok(())
}
