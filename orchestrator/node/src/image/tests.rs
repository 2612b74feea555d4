//! The archive layout, read back with the `tar` crate.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::*;

/// One tar entry as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    kind: tar::EntryType,
    mode: u32,
    mtime: u64,
    uid: u64,
    link: Option<String>,
    bytes: Vec<u8>,
}

fn read_tar(bytes: &[u8]) -> BTreeMap<String, Item> {
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let h = entry.header().clone();
        let link = entry
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned());
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        let item = Item {
            kind: h.entry_type(),
            mode: h.mode().unwrap(),
            mtime: h.mtime().unwrap(),
            uid: h.uid().unwrap(),
            link,
            bytes,
        };
        assert!(out.insert(path.clone(), item).is_none(), "{path} twice");
    }
    out
}

/// The archive, checked for OCI layout consistency: every blob's name is
/// the digest of its content, the descriptors' digests and sizes match.
/// Returns (index, config, layer entries).
fn check_layout(archive: &Path) -> (Value, Value, BTreeMap<String, Item>) {
    let outer = read_tar(&fs::read(archive).unwrap());
    assert_eq!(outer["oci-layout"].bytes, OCI_LAYOUT);
    for (path, item) in &outer {
        if let Some(hex) = path.strip_prefix("blobs/sha256/")
            && !hex.is_empty()
        {
            assert_eq!(
                format!("{:x}", Sha256::digest(&item.bytes)),
                hex,
                "blob {path}"
            );
        }
    }
    let blob = |desc: &Value| -> Vec<u8> {
        let digest = desc["digest"].as_str().unwrap();
        let hex = digest.strip_prefix("sha256:").unwrap();
        let item = &outer[&format!("blobs/sha256/{hex}")];
        assert_eq!(desc["size"].as_u64().unwrap(), item.bytes.len() as u64);
        item.bytes.clone()
    };
    let index: Value = serde_json::from_slice(&outer["index.json"].bytes).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], MEDIA_INDEX);
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0]["mediaType"], MEDIA_MANIFEST);
    assert_eq!(manifests[0]["platform"]["os"], "linux");
    assert_eq!(manifests[0]["platform"]["architecture"], oci_architecture());
    let manifest: Value = serde_json::from_slice(&blob(&manifests[0])).unwrap();
    assert_eq!(manifest["config"]["mediaType"], MEDIA_CONFIG);
    let config: Value = serde_json::from_slice(&blob(&manifest["config"])).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], MEDIA_LAYER);
    let layer_bytes = blob(&layers[0]);
    // Uncompressed: the diff ID is the layer's digest.
    assert_eq!(config["rootfs"]["diff_ids"][0], layers[0]["digest"]);
    assert_eq!(config["os"], "linux");
    let layer = read_tar(&layer_bytes);
    for (path, item) in &layer {
        assert_eq!(item.mtime, 0, "{path}");
        assert_eq!(item.uid, 0, "{path}");
    }
    (index, config, layer)
}

fn fake_busybox(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("busybox");
    fs::write(&p, b"\x7fELF not really busybox").unwrap();
    p
}

#[test]
fn busybox_image_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let busybox = fake_busybox(tmp.path());
    let out = tmp.path().join("busybox.tar");
    let written = busybox_image(&busybox, "busybox")
        .unwrap()
        .write(&out)
        .unwrap();
    assert_eq!(written.reference, "docker.io/library/busybox:latest");
    assert!(!tmp.path().join("busybox.tar.partial").exists());

    let (index, config, layer) = check_layout(&out);
    let desc = &index["manifests"][0];
    assert_eq!(
        desc["annotations"][ANNOTATION_REF_NAME],
        "docker.io/library/busybox:latest"
    );
    assert_eq!(desc["digest"], written.manifest_digest.as_str());
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(config["config"]["Env"], serde_json::json!(["PATH=/bin"]));
    assert!(config["config"].get("Entrypoint").is_none());
    assert_eq!(config["config"]["WorkingDir"], "/");
    assert_eq!(
        written.image_id,
        format!(
            "sha256:{:x}",
            Sha256::digest(serde_json::to_vec(&config).unwrap())
        )
    );

    let bin = &layer["bin/"];
    assert_eq!((bin.kind, bin.mode), (tar::EntryType::Directory, 0o755));
    let bb = &layer["bin/busybox"];
    assert_eq!((bb.kind, bb.mode), (tar::EntryType::Regular, 0o755));
    assert_eq!(bb.bytes, fs::read(&busybox).unwrap());
    for applet in BUSYBOX_APPLETS {
        let l = &layer[&format!("bin/{applet}")];
        assert_eq!(l.kind, tar::EntryType::Symlink, "{applet}");
        assert_eq!(l.link.as_deref(), Some("busybox"), "{applet}");
    }
    // The public image's layout: what programs write to and read.
    for (dir, mode) in [
        ("tmp/", 0o1777),
        ("root/", 0o700),
        ("home/", 0o755),
        ("var/", 0o755),
        ("etc/", 0o755),
    ] {
        let d = &layer[dir];
        assert_eq!((d.kind, d.mode), (tar::EntryType::Directory, mode), "{dir}");
    }
    for (file, text) in [("etc/passwd", BUSYBOX_PASSWD), ("etc/group", BUSYBOX_GROUP)] {
        let f = &layer[file];
        assert_eq!((f.kind, f.mode), (tar::EntryType::Regular, 0o644), "{file}");
        assert_eq!(f.bytes, text.as_bytes(), "{file}");
    }
    assert!(BUSYBOX_PASSWD.starts_with("root:x:0:0:root:/root:/bin/sh\n"));
    assert!(BUSYBOX_GROUP.starts_with("root:x:0:\n"));
    // bin/ and busybox, the applets, the directories, passwd and group.
    assert_eq!(
        layer.len(),
        2 + BUSYBOX_APPLETS.len() + BUSYBOX_DIRS.len() + 2
    );
}

#[test]
fn pause_image_config() {
    let tmp = tempfile::tempdir().unwrap();
    let busybox = fake_busybox(tmp.path());
    let out = tmp.path().join("pause.tar");
    pause_image(&busybox, "berth.local/pause:1")
        .unwrap()
        .write(&out)
        .unwrap();
    let (index, config, layer) = check_layout(&out);
    assert_eq!(
        index["manifests"][0]["annotations"][ANNOTATION_REF_NAME],
        "berth.local/pause:1"
    );
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(PAUSE_ENTRYPOINT)
    );
    assert!(config["config"].get("Cmd").is_none());
    assert_eq!(
        layer.keys().collect::<Vec<_>>(),
        ["bin/", "bin/busybox"].iter().collect::<Vec<_>>()
    );
}

#[test]
fn rootfs_keeps_modes_links_and_order_and_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("usr/lib")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(root.join("tmp")).unwrap();
    fs::write(root.join("etc/secret"), b"s3cret").unwrap();
    fs::write(root.join("usr/lib/tool"), b"#!/bin/sh\n").unwrap();
    std::os::unix::fs::symlink("../usr/lib/tool", root.join("etc/tool")).unwrap();
    std::os::unix::fs::symlink("/nowhere", root.join("dangling")).unwrap();
    let chmod = |p: &str, m: u32| {
        fs::set_permissions(root.join(p), fs::Permissions::from_mode(m)).unwrap();
    };
    chmod("etc/secret", 0o600);
    chmod("usr/lib/tool", 0o4750);
    chmod("tmp", 0o1777);
    chmod("etc", 0o750);

    let image = ImageBuilder::new("localhost/rootfs")
        .rootfs(&root)
        .unwrap()
        .entrypoint(["/usr/lib/tool"])
        .cmd(["a", "b"])
        .env("A", "1")
        .env("B", "2")
        .env("A", "3")
        .working_dir("/tmp");
    let first = image.write(&tmp.path().join("a.tar")).unwrap();
    let second = image.write(&tmp.path().join("b.tar")).unwrap();
    assert_eq!(
        fs::read(tmp.path().join("a.tar")).unwrap(),
        fs::read(tmp.path().join("b.tar")).unwrap(),
        "same input, same archive"
    );
    assert_eq!(first.manifest_digest, second.manifest_digest);

    let (index, config, layer) = check_layout(&tmp.path().join("a.tar"));
    assert_eq!(
        index["manifests"][0]["annotations"][ANNOTATION_REF_NAME],
        "localhost/rootfs:latest"
    );
    assert_eq!(config["config"]["Env"], serde_json::json!(["A=3", "B=2"]));
    assert_eq!(config["config"]["WorkingDir"], "/tmp");
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["a", "b"]));
    let paths: Vec<&str> = layer.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "dangling",
            "etc/",
            "etc/secret",
            "etc/tool",
            "tmp/",
            "usr/",
            "usr/lib/",
            "usr/lib/tool"
        ]
    );
    let mode = |p: &str| layer[p].mode;
    assert_eq!(mode("etc/"), 0o750);
    assert_eq!(mode("tmp/"), 0o1777);
    assert_eq!(mode("etc/secret"), 0o600);
    assert_eq!(mode("usr/lib/tool"), 0o4750);
    assert_eq!(layer["etc/secret"].bytes, b"s3cret");
    assert_eq!(layer["etc/tool"].link.as_deref(), Some("../usr/lib/tool"));
    assert_eq!(layer["dangling"].link.as_deref(), Some("/nowhere"));
}

#[test]
fn binary_at_a_deep_path_gets_parents() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = fake_busybox(tmp.path());
    let out = tmp.path().join("x.tar");
    ImageBuilder::new("x")
        .binary(&bin, "/opt/app/bin/app")
        .unwrap()
        .write(&out)
        .unwrap();
    let (_, _, layer) = check_layout(&out);
    let paths: Vec<&str> = layer.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        ["opt/", "opt/app/", "opt/app/bin/", "opt/app/bin/app"]
    );
}

#[test]
fn bad_paths_and_files_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = fake_busybox(tmp.path());
    let err = ImageBuilder::new("x").binary(&bin, "bin/app").unwrap_err();
    assert!(matches!(err, ImageError::RelativePath { .. }), "{err}");
    let err = ImageBuilder::new("x").binary(&bin, "/a/../b").unwrap_err();
    assert!(matches!(err, ImageError::DotDot { .. }), "{err}");
    let err = ImageBuilder::new("x").binary(&bin, "/").unwrap_err();
    assert!(matches!(err, ImageError::RootPath { .. }), "{err}");
    let missing = tmp.path().join("missing");
    let err = ImageBuilder::new("x")
        .binary(&missing, "/bin/x")
        .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    let err = ImageBuilder::new("x")
        .binary(tmp.path(), "/bin/x")
        .unwrap_err();
    assert!(matches!(err, ImageError::NotAFile { .. }), "{err}");
    let err = ImageBuilder::new("x")
        .binary(&bin, "/bin/x")
        .unwrap()
        .symlink("/bin/x/y", "z")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("/bin/x is already in the image and is not a directory"),
        "{err}"
    );

    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let err = ImageBuilder::new("x").rootfs(&root).unwrap_err();
    assert!(
        matches!(err, ImageError::Unsupported { kind: "fifo", .. }),
        "{err}"
    );
    let err = ImageBuilder::new("x").rootfs(&bin).unwrap_err();
    assert!(matches!(err, ImageError::NotADirectory { .. }), "{err}");
}

#[test]
fn replacing_a_directory_drops_its_content() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = fake_busybox(tmp.path());
    let image = ImageBuilder::new("x")
        .binary(&bin, "/lib/a/b")
        .unwrap()
        .symlink("/lib/a", "elsewhere")
        .unwrap();
    let out = tmp.path().join("x.tar");
    image.write(&out).unwrap();
    let (_, _, layer) = check_layout(&out);
    assert_eq!(layer.keys().collect::<Vec<_>>(), ["lib/", "lib/a"]);
}

#[test]
fn ctr_import_output_is_parsed() {
    let out = "unpacking docker.io/library/busybox:latest \
               (sha256:4f1c0c1e0d2d1c1b3b0f0c9c3c1d0e0f0a0b0c0d0e0f00112233445566778899)...done\n";
    assert_eq!(
        import::imported_refs(out),
        ["docker.io/library/busybox:latest"]
    );
    assert!(import::imported_refs("").is_empty());
}
