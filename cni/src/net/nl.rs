//! A netlink (rtnetlink) connection per network namespace, all driven by
//! one small current-thread runtime owned by the invocation.

use std::fs::File;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, setns};
use rtnetlink::Handle;
use tokio::runtime::Runtime;

/// Netlink failures.
#[derive(Debug, thiserror::Error)]
pub enum NlError {
    /// The runtime or a socket could not be created.
    #[error("{what}: {source}")]
    Setup {
        /// What was being set up.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A network namespace could not be opened or entered.
    #[error("network namespace {path}: {source}")]
    Netns {
        /// Its path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The kernel refused a request.
    #[error("{op}: {source}")]
    Request {
        /// The request, with the objects it names.
        op: String,
        /// rtnetlink's error (the kernel's errno for a refusal).
        #[source]
        source: rtnetlink::Error,
    },
    /// A sysctl could not be written.
    #[error("sysctl {key} = {value}: {source}")]
    Sysctl {
        /// Its path under `/proc/sys`.
        key: String,
        /// The value.
        value: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An object is not what it must be (e.g. `bridge` names a non-bridge).
    #[error("{what}")]
    Unexpected {
        /// Description.
        what: String,
    },
}

impl NlError {
    /// The kernel's errno of a refused request (positive), if this is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NlError::Request {
                source: rtnetlink::Error::NetlinkError(m),
                ..
            } => Some(m.raw_code().abs()),
            _ => None,
        }
    }
}

/// Wraps an rtnetlink error with a description of the request.
pub(crate) fn req(op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NlError {
    let op = op.into();
    move |source| NlError::Request { op, source }
}

/// The runtime plus a connection in the namespace of the calling thread
/// ("host": the node's namespace).
#[derive(Debug)]
pub struct Netlink {
    rt: Runtime,
    host: Handle,
}

impl Netlink {
    /// Opens a connection in the calling thread's network namespace.
    pub fn open() -> Result<Netlink, NlError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|source| NlError::Setup {
                what: "tokio runtime",
                source,
            })?;
        let host = {
            let _guard = rt.enter();
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(|source| NlError::Setup {
                    what: "netlink socket",
                    source,
                })?;
            rt.spawn(conn);
            handle
        };
        Ok(Netlink { rt, host })
    }

    /// The host namespace's handle.
    pub fn host(&self) -> Handle {
        self.host.clone()
    }

    /// A connection inside the namespace at `path` (e.g. `CNI_NETNS`). The
    /// socket is created by a short-lived thread that entered the namespace
    /// (`setns` affects only the calling thread); a socket stays in the
    /// namespace it was created in, whichever thread uses it afterwards.
    pub fn open_in(&self, netns: &File, path: &Path) -> Result<Handle, NlError> {
        let rt = self.rt.handle().clone();
        let made = std::thread::scope(|s| {
            s.spawn(|| {
                setns(netns, CloneFlags::CLONE_NEWNET).map_err(|e| NlError::Netns {
                    path: path.to_path_buf(),
                    source: io::Error::from(e),
                })?;
                let _guard = rt.enter();
                rtnetlink::new_connection()
                    .map(|(conn, handle, _)| (conn, handle))
                    .map_err(|source| NlError::Setup {
                        what: "netlink socket in container",
                        source,
                    })
            })
            .join()
        });
        let (conn, handle) = match made {
            Ok(r) => r?,
            Err(_) => {
                return Err(NlError::Unexpected {
                    what: "thread entering the container namespace panicked".into(),
                });
            }
        };
        self.rt.spawn(conn);
        Ok(handle)
    }

    /// Runs `f` to completion on the runtime.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

/// Opens a network namespace file (`CNI_NETNS`).
pub fn open_netns(path: &Path) -> Result<File, NlError> {
    File::open(path).map_err(|source| NlError::Netns {
        path: path.to_path_buf(),
        source,
    })
}
