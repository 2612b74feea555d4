//! `berth server` (the real binary, embedded store) killed with SIGKILL in
//! the middle of 1,000 writes from 4 concurrent clients: after a restart
//! every acknowledged write is there.

mod common;

use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_client::proto::{ListRequest, WriteRequest};
use berth_client::{ClientConfig, connect};

/// Only catches a hang.
const READY: Duration = common::server::SERVER_READY;
const WRITERS: usize = 4;
const WRITES: usize = 1000;
/// Kill after this many acknowledgements.
const KILL_AT: usize = 300;

/// Starts the server and reads its credentials.
fn start(dir: &Path) -> (Child, ClientConfig) {
    let child = common::server::start_server(dir);
    (child, ClientConfig::load(&dir.join("admin.conf")).unwrap())
}

fn config_map(name: &str) -> WriteRequest {
    let json = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"k":"{name}"}}}}"#
    );
    WriteRequest {
        object_json: json.into_bytes(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, config) = start(dir.path());
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (config, acked) = (config.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            let mut api = connect(&config).await.unwrap();
            for i in 0..WRITES / WRITERS {
                let name = format!("cm-{w}-{i}");
                if api.create(config_map(&name)).await.is_err() {
                    return;
                }
                acked.lock().unwrap().push(name);
            }
        }));
    }
    let deadline = std::time::Instant::now() + READY;
    while acked.lock().unwrap().len() < KILL_AT {
        assert!(
            std::time::Instant::now() < deadline,
            "writes too slow to reach {KILL_AT}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= KILL_AT && acked.len() < WRITES,
        "{} acked",
        acked.len()
    );

    let (mut server, config) = start(dir.path());
    let mut api = connect(&config).await.unwrap();
    let list = api
        .list(ListRequest {
            kind: "ConfigMap".into(),
            namespace: "default".into(),
            label_selector: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let stored: std::collections::HashSet<String> = list
        .items_json
        .iter()
        .map(|j| {
            let v: serde_json::Value = serde_json::from_slice(j).unwrap();
            v["metadata"]["name"].as_str().unwrap().to_owned()
        })
        .collect();
    let missing: Vec<&String> = acked.iter().filter(|n| !stored.contains(*n)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    eprintln!(
        "{} acknowledged before kill -9, {} stored after restart",
        acked.len(),
        stored.len()
    );
    server.kill().unwrap();
    server.wait().unwrap();
}
