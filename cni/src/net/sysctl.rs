//! Sysctls of the container's network namespace. `/proc/sys/net` shows the
//! namespace of the thread that opens it, so the write is done by a
//! short-lived thread that entered the container's namespace.

use std::fs::File;
use std::io;
use std::path::Path;

use nix::sched::{CloneFlags, setns};

use super::nl::NlError;

/// Writes `value` to `/proc/sys/<key>` (`key` as a path: `net/ipv4/conf/eth0/arp_notify`,
/// so interface names containing '.' need no escaping) inside the namespace `netns`.
pub fn set_in(netns: &File, netns_path: &Path, key: &str, value: &str) -> Result<(), NlError> {
    let made = std::thread::scope(|s| {
        s.spawn(|| {
            setns(netns, CloneFlags::CLONE_NEWNET).map_err(|e| NlError::Netns {
                path: netns_path.to_path_buf(),
                source: io::Error::from(e),
            })?;
            std::fs::write(Path::new("/proc/sys").join(key), value).map_err(|source| {
                NlError::Sysctl {
                    key: key.to_string(),
                    value: value.to_string(),
                    source,
                }
            })
        })
        .join()
    });
    made.unwrap_or_else(|_| {
        Err(NlError::Unexpected {
            what: format!("thread setting sysctl {key} in the container panicked"),
        })
    })
}
