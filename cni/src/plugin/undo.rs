//! Undoing a failed ADD: delete the veth, the masquerade rules and the
//! reservation, as far as ADD got. If undoing fails too, the error reports
//! both failures. The steps sit behind a trait so the double-failure path
//! can be exercised without breaking a kernel or a file system.

use super::PluginError;

/// How far ADD got, for the clean-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Stage {
    /// Addresses reserved, nothing created in the kernel yet.
    Reserved,
    /// The veth pair may exist.
    VethAttempted,
    /// Masquerade rules may exist.
    MasqAttempted,
}

/// The clean-up steps of ADD.
pub(super) trait Undo {
    /// Deletes the host veth (and with it the container end).
    fn delete_veth(&self) -> Result<(), PluginError>;
    /// Deletes the attachment's masquerade rules.
    fn remove_masq(&self) -> Result<(), PluginError>;
    /// Frees the attachment's reservations.
    fn release(&self) -> Result<(), PluginError>;
}

/// Undoes what ADD did up to `stage` after it failed with `err`; returns
/// the error to report: `err` itself, or `CleanupFailed` carrying `err` and
/// every clean-up failure.
pub(super) fn undo(err: PluginError, stage: Stage, steps: &impl Undo) -> PluginError {
    tracing::warn!(error = %err, ?stage, "ADD failed; removing what it created");
    let mut failures = Vec::new();
    if stage >= Stage::MasqAttempted
        && let Err(e) = steps.remove_masq()
    {
        failures.push(e.to_string());
    }
    if stage >= Stage::VethAttempted
        && let Err(e) = steps.delete_veth()
    {
        failures.push(e.to_string());
    }
    if let Err(e) = steps.release() {
        failures.push(e.to_string());
    }
    if failures.is_empty() {
        err
    } else {
        PluginError::CleanupFailed {
            source: Box::new(err),
            cleanup: failures.join("; "),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::io;

    use super::*;
    use crate::error::Code;
    use crate::ipam::{IpamError, StoreError};
    use crate::net::NlError;

    /// Records the steps run; `release` fails as a read-only data directory would.
    #[derive(Debug, Default)]
    struct Failing {
        ran: RefCell<Vec<&'static str>>,
    }

    impl Undo for Failing {
        fn delete_veth(&self) -> Result<(), PluginError> {
            self.ran.borrow_mut().push("veth");
            Ok(())
        }
        fn remove_masq(&self) -> Result<(), PluginError> {
            self.ran.borrow_mut().push("masq");
            Ok(())
        }
        fn release(&self) -> Result<(), PluginError> {
            self.ran.borrow_mut().push("release");
            Err(PluginError::from(IpamError::from(StoreError::Io {
                op: "remove reservation",
                path: "/data/net/10.0.0.2".into(),
                source: io::Error::from_raw_os_error(libc::EROFS),
            })))
        }
    }

    fn add_failure() -> PluginError {
        PluginError::from(NlError::Unexpected {
            what: "add route 0.0.0.0/0 via 10.0.0.1: network unreachable".into(),
        })
    }

    #[test]
    fn failed_cleanup_reports_both_failures_with_the_add_failures_code() {
        let steps = Failing::default();
        let e = undo(add_failure(), Stage::VethAttempted, &steps);
        assert!(matches!(e, PluginError::CleanupFailed { .. }), "{e:?}");
        assert_eq!(e.code(), Code::Netlink);
        let cni = e.to_cni();
        assert!(cni.msg.contains("network unreachable"), "{}", cni.msg);
        assert!(
            cni.msg.contains("clean-up after the failure also failed"),
            "{}",
            cni.msg
        );
        assert!(cni.msg.contains("/data/net/10.0.0.2"), "{}", cni.msg);
        assert_eq!(*steps.ran.borrow(), ["veth", "release"]);
    }

    #[test]
    fn only_the_stages_reached_are_undone() {
        let steps = Failing::default();
        let _ = undo(add_failure(), Stage::Reserved, &steps);
        assert_eq!(*steps.ran.borrow(), ["release"]);
        let steps = Failing::default();
        let _ = undo(add_failure(), Stage::MasqAttempted, &steps);
        assert_eq!(*steps.ran.borrow(), ["masq", "veth", "release"]);
    }
}
