//! A pause image built locally as an OCI image archive (oci-layout,
//! index.json, blobs/sha256), importable with `ctr images import`.

use std::fs;
use std::path::Path;

use anyhow::Context as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

/// Where Debian's busybox-static puts its binary.
pub const BUSYBOX_STATIC: &str = "/bin/busybox";

/// The command of the pause image: sleep until killed.
pub const PAUSE_ENTRYPOINT: &[&str] = &["/bin/busybox", "sleep", "infinity"];

const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MEDIA_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// A blob: its digest (`sha256:<hex>`) and size.
#[derive(Debug, Clone)]
struct Blob {
    digest: String,
    bytes: Vec<u8>,
}

impl Blob {
    fn new(bytes: Vec<u8>) -> Blob {
        let digest = format!("sha256:{:x}", Sha256::digest(&bytes));
        Blob { digest, bytes }
    }

    fn descriptor(&self, media_type: &str) -> serde_json::Value {
        json!({ "mediaType": media_type, "digest": self.digest, "size": self.bytes.len() })
    }
}

/// Writes an OCI image archive to `out`: one layer holding `busybox` (a
/// static binary) as `/bin/busybox`, entrypoint [`PAUSE_ENTRYPOINT`], the
/// manifest annotated `org.opencontainers.image.ref.name = reference`.
/// Returns the image's manifest digest.
pub fn write_pause_archive(out: &Path, reference: &str, busybox: &Path) -> anyhow::Result<String> {
    let binary = fs::read(busybox)
        .with_context(|| format!("reading {} (busybox-static)", busybox.display()))?;
    let layer = Blob::new(layer_tar(&binary)?);
    let config = Blob::new(serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": PAUSE_ENTRYPOINT,
            "Env": ["PATH=/bin"],
            "WorkingDir": "/",
        },
        "rootfs": { "type": "layers", "diff_ids": [layer.digest] },
        "history": [{ "created_by": "berth-cri-tests: busybox sleep infinity" }],
    }))?);
    let manifest = Blob::new(serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": config.descriptor(MEDIA_CONFIG),
        "layers": [layer.descriptor(MEDIA_LAYER)],
    }))?);
    let mut manifest_desc = manifest.descriptor(MEDIA_MANIFEST);
    manifest_desc["annotations"] = json!({ "org.opencontainers.image.ref.name": reference });
    manifest_desc["platform"] = json!({ "architecture": "amd64", "os": "linux" });
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [manifest_desc],
    }))?;

    let file = fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut archive = tar::Builder::new(file);
    append(
        &mut archive,
        "oci-layout",
        0o644,
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    append(&mut archive, "index.json", 0o644, &index)?;
    for blob in [&layer, &config, &manifest] {
        let hex = blob.digest.trim_start_matches("sha256:");
        append(
            &mut archive,
            &format!("blobs/sha256/{hex}"),
            0o644,
            &blob.bytes,
        )?;
    }
    archive.into_inner()?.sync_all()?;
    Ok(manifest.digest)
}

/// The layer: `bin/` and `bin/busybox`.
fn layer_tar(busybox: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut layer = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_mtime(0);
    dir.set_cksum();
    layer.append_data(&mut dir, "bin/", std::io::empty())?;
    append(&mut layer, "bin/busybox", 0o755, busybox)?;
    Ok(layer.into_inner()?)
}

fn append<W: std::io::Write>(
    archive: &mut tar::Builder<W>,
    path: &str,
    mode: u32,
    bytes: &[u8],
) -> anyhow::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(mode);
    header.set_size(u64::try_from(bytes.len())?);
    header.set_mtime(0);
    header.set_cksum();
    archive.append_data(&mut header, path, bytes)?;
    Ok(())
}
