//! Whether the overlayfs snapshotter can work.

use std::fs;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};

/// Whether an overlay mount works on the file system holding `dir` (which
/// must exist): mounts one in a probe directory under it, then removes it.
pub fn overlay_works(dir: &Path) -> bool {
    let base = dir.join(format!(".berth-overlay-probe-{}", std::process::id()));
    let [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map(|d| base.join(d));
    let ok = [&lower, &upper, &work, &merged]
        .iter()
        .all(|d| fs::create_dir_all(d).is_ok())
        && {
            let opts = format!(
                "lowerdir={},upperdir={},workdir={}",
                lower.display(),
                upper.display(),
                work.display()
            );
            let mounted = mount(
                Some("overlay"),
                &merged,
                Some("overlay"),
                MsFlags::empty(),
                Some(opts.as_str()),
            )
            .is_ok();
            if mounted {
                let _ = umount2(&merged, MntFlags::MNT_DETACH);
            }
            mounted
        };
    let _ = fs::remove_dir_all(&base);
    ok
}
