//! The busybox image `berth up` gives the cluster (`busybox:latest`, from
//! the host's static busybox): built on every `up` — the build is
//! reproducible, so the same berth builds the same image ID — and imported
//! into the agent's containerd when containerd has no such image or holds
//! another build of it (one a berth with another image layout made, e.g.
//! without `/tmp`), which it replaces.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_node::containerd::{ContainerdError, cri_snapshotter};
use berth_node::image::{self, ImageArchive, ImageError};
use berth_node::runtime::cri::CriRuntime;
use berth_node::runtime::{Runtime as _, RuntimeError};

/// The archive's file name (in the agent's data dir).
pub const ARCHIVE: &str = "busybox.oci.tar";
/// How long containerd's CRI may take to report a replaced image's new ID
/// (it learns of the import through an event).
const REPLACED_SEEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the image could not be made available.
#[derive(Debug, thiserror::Error)]
pub enum BusyboxError {
    /// containerd did not say which image the reference names.
    #[error("looking up {reference} in containerd")]
    Lookup {
        /// The image reference.
        reference: String,
        /// The runtime's error.
        #[source]
        source: RuntimeError,
    },
    /// The image could not be built or written.
    #[error("building {reference} from {} into {}", busybox.display(), archive.display())]
    Build {
        /// The image reference.
        reference: String,
        /// The host's busybox binary.
        busybox: PathBuf,
        /// The archive.
        archive: PathBuf,
        /// Why (boxed: an image error is large).
        #[source]
        source: Box<ImageError>,
    },
    /// containerd's CRI snapshotter could not be asked.
    #[error("asking containerd at {} for its snapshotter", socket.display())]
    Snapshotter {
        /// containerd's socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: ContainerdError,
    },
    /// `ctr images import` failed.
    #[error("importing {} into containerd at {}", archive.display(), socket.display())]
    Import {
        /// The archive.
        archive: PathBuf,
        /// containerd's socket.
        socket: PathBuf,
        /// Why (boxed: an image error is large).
        #[source]
        source: Box<ImageError>,
    },
    /// After a replacing import, the CRI still names another image.
    #[error(
        "{reference} was imported as {expected}, but containerd's CRI still reports {found:?} after {within:?}"
    )]
    NotReplaced {
        /// The image reference.
        reference: String,
        /// The image ID imported.
        expected: String,
        /// The image ID the CRI reports.
        found: Option<String>,
        /// How long it was given.
        within: Duration,
    },
}

/// What was done about the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// containerd holds this very build: nothing imported.
    Present,
    /// containerd had no such image: imported.
    Imported,
    /// containerd held another build under the same reference: this one
    /// imported in its place.
    Replaced {
        /// The image ID containerd held.
        previous: String,
    },
}

/// The image as `berth up` left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busybox {
    /// Its reference (`docker.io/library/busybox:latest`).
    pub reference: String,
    /// Its image ID (the configuration's digest).
    pub image_id: String,
    /// The host binary it was built from.
    pub built_from: PathBuf,
    /// What was done.
    pub outcome: Outcome,
}

/// What to do given the ID of the image built and the one containerd
/// holds under its reference.
fn outcome(built: &str, held: Option<String>) -> Outcome {
    match held {
        Some(id) if id == built => Outcome::Present,
        Some(previous) => Outcome::Replaced { previous },
        None => Outcome::Imported,
    }
}

/// Builds `busybox:latest` from the static `busybox` into `archive`.
fn build(busybox: &Path, archive: &Path) -> Result<ImageArchive, BusyboxError> {
    let reference = image::normalize("busybox");
    image::busybox_image(busybox, &reference)
        .and_then(|b| b.write(archive))
        .map_err(|source| BusyboxError::Build {
            reference,
            busybox: busybox.to_path_buf(),
            archive: archive.to_path_buf(),
            source: Box::new(source),
        })
}

/// Makes `busybox:latest`, built from the host's `busybox` into
/// `dir`/[`ARCHIVE`], the image containerd (at `socket`, answering CRI
/// calls as `runtime`) has under that reference.
pub async fn ensure(
    runtime: &CriRuntime,
    socket: &Path,
    busybox: &Path,
    dir: &Path,
) -> Result<Busybox, BusyboxError> {
    let archive = dir.join(ARCHIVE);
    let built = build(busybox, &archive)?;
    let reference = built.reference.clone();
    let lookup = |source| BusyboxError::Lookup {
        reference: reference.clone(),
        source,
    };
    let held = runtime.image_id(&reference).await.map_err(lookup)?;
    let outcome = outcome(&built.image_id, held);
    if outcome != Outcome::Present {
        let snapshotter =
            cri_snapshotter(socket)
                .await
                .map_err(|source| BusyboxError::Snapshotter {
                    socket: socket.to_path_buf(),
                    source,
                })?;
        image::import(socket, &archive, &snapshotter)
            .await
            .map_err(|source| BusyboxError::Import {
                archive: archive.clone(),
                socket: socket.to_path_buf(),
                source: Box::new(source),
            })?;
    }
    if matches!(outcome, Outcome::Replaced { .. }) {
        let deadline = Instant::now() + REPLACED_SEEN_TIMEOUT;
        loop {
            let now = runtime.image_id(&reference).await.map_err(lookup)?;
            if now.as_deref() == Some(built.image_id.as_str()) {
                break;
            }
            if Instant::now() > deadline {
                return Err(BusyboxError::NotReplaced {
                    reference,
                    expected: built.image_id,
                    found: now,
                    within: REPLACED_SEEN_TIMEOUT,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(Busybox {
        reference,
        image_id: built.image_id,
        built_from: busybox.to_path_buf(),
        outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_another_build_or_none_is_imported() {
        assert_eq!(
            outcome("sha256:a", Some("sha256:a".into())),
            Outcome::Present
        );
        assert_eq!(outcome("sha256:a", None), Outcome::Imported);
        assert_eq!(
            outcome("sha256:a", Some("sha256:b".into())),
            Outcome::Replaced {
                previous: "sha256:b".into()
            }
        );
    }

    #[test]
    fn the_same_build_has_the_same_id_and_an_older_layout_another() {
        let dir = tempfile::tempdir().unwrap();
        let busybox = dir.path().join("busybox");
        std::fs::write(&busybox, b"\x7fELF not really busybox").unwrap();
        let first = build(&busybox, &dir.path().join("a.tar")).unwrap();
        let again = build(&busybox, &dir.path().join("b.tar")).unwrap();
        assert_eq!(first.image_id, again.image_id, "a rebuild is not a change");
        assert_eq!(first.reference, "docker.io/library/busybox:latest");
        // A build of an earlier berth: busybox and its applets, no /tmp.
        let mut older = image::ImageBuilder::new("busybox")
            .binary(&busybox, image::BUSYBOX_AT)
            .unwrap();
        for applet in image::BUSYBOX_APPLETS {
            older = older.symlink(&format!("/bin/{applet}"), "busybox").unwrap();
        }
        let older = older
            .env("PATH", "/bin")
            .cmd(["sh"])
            .write(&dir.path().join("old.tar"))
            .unwrap();
        assert_ne!(older.image_id, first.image_id);
        assert_eq!(
            outcome(&first.image_id, Some(older.image_id.clone())),
            Outcome::Replaced {
                previous: older.image_id
            }
        );
    }
}
