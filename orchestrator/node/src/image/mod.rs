//! Images without a registry: OCI image archives built locally and imported
//! into containerd, and image reference normalisation.
//!
//! - [`normalize`]: `busybox` → `docker.io/library/busybox:latest`, as the
//!   CRI plugin names images;
//! - [`ImageBuilder`]: a one-layer image from a root file system directory,
//!   a static binary, files and links, written by
//!   [`ImageBuilder::write`] as an OCI archive (`oci-layout`, `index.json`
//!   with the [`ANNOTATION_REF_NAME`] annotation, `blobs/sha256`);
//!   [`pause_image`] and [`busybox_image`] from the host's static busybox;
//! - [`import`]: `ctr images import` into the CRI plugin's namespace.

mod archive;
mod builder;
mod import;
mod presets;
mod reference;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use self::archive::{
    ANNOTATION_REF_NAME, ImageArchive, MEDIA_CONFIG, MEDIA_INDEX, MEDIA_LAYER, MEDIA_MANIFEST,
    OCI_LAYOUT, oci_architecture,
};
pub use self::builder::{BINARY_MODE, ImageBuilder, PARENT_DIR_MODE};
pub use self::import::{IMPORT_TIMEOUT, import};
pub use self::presets::{
    BUSYBOX_APPLETS, BUSYBOX_AT, BUSYBOX_DIRS, BUSYBOX_GROUP, BUSYBOX_PASSWD, BUSYBOX_STATIC,
    PAUSE_ENTRYPOINT, busybox_image, pause_image,
};
pub use self::reference::{DEFAULT_REGISTRY, DEFAULT_TAG, OFFICIAL_PREFIX, normalize};

use crate::containerd::CommandError;

/// Why an image could not be built or imported.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A host file or directory could not be read.
    #[error("reading {path}")]
    Read {
        /// What was read.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The root file system given is not a directory.
    #[error("{path} is not a directory")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The binary given is not a regular file.
    #[error("{path} is not a regular file")]
    NotAFile {
        /// The path given.
        path: PathBuf,
    },
    /// A host file of a kind a layer does not carry.
    #[error(
        "{path} is a {kind}: only directories, regular files and symbolic links go into an image"
    )]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// A host path (or link target) that is not UTF-8.
    #[error("{path:?} is not UTF-8")]
    NonUtf8Path {
        /// The path.
        path: PathBuf,
    },
    /// An image path that is not absolute.
    #[error("image path {path:?} is not absolute (it must start with `/`)")]
    RelativePath {
        /// The path given.
        path: String,
    },
    /// An image path with a `..` component.
    #[error("image path {path:?} contains `..`")]
    DotDot {
        /// The path given.
        path: String,
    },
    /// `/` given where a file or link is added.
    #[error("image path {path:?} is the root directory, not a place for a file or link")]
    RootPath {
        /// The path given.
        path: String,
    },
    /// Something was added below a file or link.
    #[error("cannot add {path}: {parent} is already in the image and is not a directory")]
    ParentNotADirectory {
        /// What was added.
        path: String,
        /// Its parent that is not a directory.
        parent: String,
    },
    /// Encoding a JSON document of the image failed.
    #[error("encoding {what}")]
    Encode {
        /// Which document.
        what: &'static str,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// Building the layer tar failed.
    #[error("building the image layer")]
    Layer {
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing the archive failed.
    #[error("writing the image archive {path}")]
    Write {
        /// The archive.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `ctr` is not installed.
    #[error("ctr is not installed (Debian package `containerd`; run `cargo xtask setup`)")]
    CtrMissing,
    /// `ctr images import` failed.
    #[error("importing {archive}")]
    Import {
        /// The archive.
        archive: PathBuf,
        /// The command's failure (with its stderr).
        #[source]
        source: CommandError,
    },
    /// `ctr images import` succeeded but named no image: the archive's
    /// index has no [`ANNOTATION_REF_NAME`] that is a full reference.
    #[error("`{command}` imported no named image; its output: {stdout:?}")]
    NothingImported {
        /// The command line.
        command: String,
        /// What it printed.
        stdout: String,
    },
}
