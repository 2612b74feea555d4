//! What can be checked without running containerd.

use std::collections::HashMap;
use std::path::Path;

use berth_cni::containerd::ContainerdConfig;

use super::cri::snapshotter_from_info;
use super::process::{find_containerd_on, is_containerd_on};
use super::*;

fn config(dir: &Path, socket: &Path) -> ContainerdConfig {
    ContainerdConfig::new(
        dir.join("root"),
        dir.join("state"),
        socket,
        "berth.local/pause:test",
        dir.join("cni-bin"),
        dir.join("cni-conf"),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_missing_containerd_binary_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cd");
    let missing = tmp.path().join("no-such-containerd");
    let err = runtime()
        .block_on(Containerd::start_binary(
            &missing,
            &dir,
            config(&dir, &dir.join("c.sock")),
        ))
        .unwrap_err();
    assert!(
        matches!(&err, ContainerdError::BinaryMissing { path } if *path == missing),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("the containerd binary") && msg.contains("no-such-containerd"),
        "{msg}"
    );
    // Nothing was created for it.
    assert!(!dir.exists());
}

#[test]
fn a_socket_path_too_long_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cd");
    let socket = dir.join("x".repeat(120));
    // Any existing file passes the binary check; runc and the shim come from
    // PATH (installed here).
    if which("runc").is_none() || which("containerd-shim-runc-v2").is_none() {
        eprintln!("runc or containerd-shim-runc-v2 not installed: checked only up to them");
        return;
    }
    let err = runtime()
        .block_on(Containerd::start_binary(
            Path::new("/bin/true"),
            &dir,
            config(&dir, &socket),
        ))
        .unwrap_err();
    assert!(
        matches!(err, ContainerdError::SocketPathTooLong { max: 107, .. }),
        "{err:?}"
    );
}

#[test]
fn snapshotter_is_read_from_the_verbose_cri_status() {
    let mut info = HashMap::new();
    info.insert(
        "config".to_string(),
        r#"{"containerd":{"snapshotter":"native","defaultRuntimeName":"runc"}}"#.to_string(),
    );
    assert_eq!(snapshotter_from_info(&info).unwrap(), "native");
    info.insert("config".into(), r#"{"containerd":{}}"#.into());
    assert!(
        snapshotter_from_info(&info)
            .unwrap_err()
            .contains("containerd.snapshotter")
    );
    info.insert("config".into(), "{".into());
    assert!(snapshotter_from_info(&info).unwrap_err().contains("JSON"));
    assert!(
        snapshotter_from_info(&HashMap::new())
            .unwrap_err()
            .contains("no `config`")
    );
}

#[test]
fn only_a_containerd_on_our_config_is_recognised() {
    let me = i32::try_from(std::process::id()).unwrap();
    assert!(!is_containerd_on(me, Path::new("/nonexistent/config.toml")));
    assert_eq!(
        find_containerd_on(Path::new("/nonexistent/berth/config.toml")),
        None
    );
}

#[test]
fn log_tail_takes_the_last_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("containerd.log");
    assert_eq!(log_tail(&log, 3), "");
    std::fs::write(&log, "a\nb\nc\nd\n").unwrap();
    assert_eq!(log_tail(&log, 2), "c\nd");
    assert_eq!(log_tail(&log, 10), "a\nb\nc\nd");
}
