//! Removes what killed earlier runs left: only Berth's test objects (names
//! with Berth's test prefixes whose owning process is gone).

use berth_test_support::cleanup;

pub fn run() -> anyhow::Result<()> {
    let mut n = 0;
    cleanup::stale(|what| {
        eprintln!("clean: removed {what}");
        n += 1;
    });
    if n == 0 {
        eprintln!("clean: nothing stale");
    }
    Ok(())
}
