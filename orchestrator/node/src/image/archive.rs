//! Writing an [`ImageBuilder`] as an OCI image archive: a tar of an OCI
//! image layout (`oci-layout`, `index.json`, `blobs/sha256/<hex>`) with one
//! uncompressed layer, which `ctr images import` takes.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::ImageError;
use super::builder::{Entry, ImageBuilder};

/// Media type of `index.json`.
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of the manifest.
pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of the image configuration.
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of the (uncompressed) layer.
pub const MEDIA_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// The index annotation that names the image; containerd imports the
/// manifest under this reference.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The content of the `oci-layout` file.
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// What [`ImageBuilder::write`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageArchive {
    /// The archive file.
    pub path: PathBuf,
    /// The normalized reference in its index annotation.
    pub reference: String,
    /// The manifest's digest (`sha256:<hex>`).
    pub manifest_digest: String,
    /// The configuration's digest: the image ID the CRI reports.
    pub image_id: String,
    /// The layer's digest (also its diff ID: it is uncompressed).
    pub layer_digest: String,
    /// The layer's size in bytes (the image's size as the CRI reports it,
    /// roughly).
    pub layer_size: u64,
}

/// A blob: its bytes and `sha256:<hex>` digest.
struct Blob {
    digest: String,
    bytes: Vec<u8>,
}

impl Blob {
    fn new(bytes: Vec<u8>) -> Blob {
        let digest = format!("sha256:{:x}", Sha256::digest(&bytes));
        Blob { digest, bytes }
    }

    fn json(what: &'static str, value: &Value) -> Result<Blob, ImageError> {
        serde_json::to_vec(value)
            .map(Blob::new)
            .map_err(|source| ImageError::Encode { what, source })
    }

    fn descriptor(&self, media_type: &str) -> Value {
        json!({ "mediaType": media_type, "digest": self.digest, "size": self.bytes.len() })
    }

    fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }
}

/// The OCI (Go) name of this machine's architecture.
pub fn oci_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

impl ImageBuilder {
    /// Writes the image as an OCI archive to `out` (through a temporary
    /// file next to it, renamed into place). The same builder over the same
    /// files writes the same bytes.
    pub fn write(&self, out: &Path) -> Result<ImageArchive, ImageError> {
        let layer = Blob::new(self.layer()?);
        let mut config = serde_json::Map::new();
        if !self.entrypoint.is_empty() {
            config.insert("Entrypoint".into(), json!(self.entrypoint));
        }
        if !self.cmd.is_empty() {
            config.insert("Cmd".into(), json!(self.cmd));
        }
        if !self.env.is_empty() {
            let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            config.insert("Env".into(), json!(env));
        }
        config.insert(
            "WorkingDir".into(),
            json!(self.working_dir.as_deref().unwrap_or("/")),
        );
        let platform = json!({ "architecture": oci_architecture(), "os": "linux" });
        let config = Blob::json(
            "the image configuration",
            &json!({
                "architecture": oci_architecture(),
                "os": "linux",
                "config": config,
                "rootfs": { "type": "layers", "diff_ids": [layer.digest] },
                "history": [{ "created_by": "berth image build" }],
            }),
        )?;
        let manifest = Blob::json(
            "the image manifest",
            &json!({
                "schemaVersion": 2,
                "mediaType": MEDIA_MANIFEST,
                "config": config.descriptor(MEDIA_CONFIG),
                "layers": [layer.descriptor(MEDIA_LAYER)],
            }),
        )?;
        let mut manifest_desc = manifest.descriptor(MEDIA_MANIFEST);
        manifest_desc["annotations"] = json!({ ANNOTATION_REF_NAME: self.reference });
        manifest_desc["platform"] = platform;
        let index = Blob::json(
            "the image index",
            &json!({
                "schemaVersion": 2,
                "mediaType": MEDIA_INDEX,
                "manifests": [manifest_desc],
            }),
        )?;

        let mut partial = out.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let written = (|| -> io::Result<()> {
            let file = fs::File::create(&partial)?;
            let mut archive = tar::Builder::new(io::BufWriter::new(file));
            append_bytes(&mut archive, "oci-layout", 0o644, OCI_LAYOUT)?;
            append_bytes(&mut archive, "index.json", 0o644, &index.bytes)?;
            append_dir(&mut archive, "blobs/", 0o755)?;
            append_dir(&mut archive, "blobs/sha256/", 0o755)?;
            for blob in [&layer, &config, &manifest] {
                let path = format!("blobs/sha256/{}", blob.hex());
                append_bytes(&mut archive, &path, 0o644, &blob.bytes)?;
            }
            let file = archive
                .into_inner()?
                .into_inner()
                .map_err(|e| e.into_error())?;
            file.sync_all()?;
            fs::rename(&partial, out)
        })();
        if let Err(source) = written {
            let _ = fs::remove_file(&partial);
            return Err(ImageError::Write {
                path: out.to_path_buf(),
                source,
            });
        }
        Ok(ImageArchive {
            path: out.to_path_buf(),
            reference: self.reference.clone(),
            manifest_digest: manifest.digest,
            image_id: config.digest,
            layer_digest: layer.digest,
            layer_size: u64::try_from(layer.bytes.len()).unwrap_or(u64::MAX),
        })
    }

    /// The layer tar, in memory.
    fn layer(&self) -> Result<Vec<u8>, ImageError> {
        let mut layer = tar::Builder::new(Vec::new());
        let layer_error = |source| ImageError::Layer { source };
        for (path, entry) in &self.entries {
            match entry {
                Entry::Dir { mode } => {
                    append_dir(&mut layer, &format!("{path}/"), *mode).map_err(layer_error)?;
                }
                Entry::Bytes { mode, bytes } => {
                    append_bytes(&mut layer, path, *mode, bytes).map_err(layer_error)?;
                }
                Entry::File { mode, source } => {
                    let read = |e| ImageError::Read {
                        path: source.clone(),
                        source: e,
                    };
                    let file = fs::File::open(source).map_err(read)?;
                    let len = file.metadata().map_err(read)?.len();
                    let mut header = header(tar::EntryType::Regular, *mode, len);
                    // Reading is the likelier failure: name the file.
                    layer
                        .append_data(&mut header, path, io::Read::take(file, len))
                        .map_err(read)?;
                }
                Entry::Symlink { target } => {
                    let mut header = header(tar::EntryType::Symlink, 0o777, 0);
                    layer
                        .append_link(&mut header, path, target)
                        .map_err(layer_error)?;
                }
            }
        }
        layer.into_inner().map_err(layer_error)
    }
}

/// A GNU header: owner 0:0, mtime 0.
fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

fn append_dir<W: Write>(archive: &mut tar::Builder<W>, path: &str, mode: u32) -> io::Result<()> {
    let mut h = header(tar::EntryType::Directory, mode, 0);
    archive.append_data(&mut h, path, io::empty())
}

fn append_bytes<W: Write>(
    archive: &mut tar::Builder<W>,
    path: &str,
    mode: u32,
    bytes: &[u8],
) -> io::Result<()> {
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    let mut h = header(tar::EntryType::Regular, mode, len);
    archive.append_data(&mut h, path, bytes)
}
