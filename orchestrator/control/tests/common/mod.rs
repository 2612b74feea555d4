//! An in-process API server over real TLS with the embedded store.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use berth_client::ClientConfig;
use berth_control::api::Lifetimes;
use berth_control::bootstrap::ServerSettings;
use berth_control::controllers::{Progress, Settings};
use berth_control::serve::{BoundServer, Datastore};
use tokio::sync::oneshot;

/// Only catches a hang.
pub const HANG: Duration = Duration::from_secs(20);

pub struct Running {
    pub stop: Option<oneshot::Sender<()>>,
    pub done: tokio::task::JoinHandle<()>,
    pub admin: ClientConfig,
    /// The bootstrap token (what agents join with).
    pub bootstrap_token: String,
    /// The controllers' queues (idle and untouched without controllers).
    pub progress: Progress,
}

impl Running {
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(HANG, self.done)
            .await
            .unwrap()
            .unwrap();
    }
}

/// An API server alone (no controllers): what the API tests look at.
pub async fn start(dir: &Path) -> Running {
    start_with(dir, None).await
}

/// A server running the controllers with `controllers`.
pub async fn start_with(dir: &Path, controllers: Option<Settings>) -> Running {
    start_full(dir, controllers, Lifetimes::default()).await
}

/// A server with `controllers` whose credentials live `lifetimes`.
pub async fn start_full(
    dir: &Path,
    controllers: Option<Settings>,
    lifetimes: Lifetimes,
) -> Running {
    let settings = ServerSettings {
        data_dir: dir.to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_sans: Vec::new(),
    };
    let server = BoundServer::bind(&settings, &Datastore::Embedded)
        .await
        .unwrap()
        .with_controllers(controllers)
        .with_lifetimes(lifetimes)
        .unwrap();
    let addr = server.local_addr().unwrap();
    let mut admin = ClientConfig::load(&server.prepared().admin_conf).unwrap();
    admin.server = format!("https://{addr}");
    let bootstrap_token = server.prepared().tokens.bootstrap();
    let progress = server.progress();
    let (tx, rx) = oneshot::channel();
    let done = tokio::spawn(async move {
        server.run(async { rx.await.unwrap_or(()) }).await.unwrap();
    });
    Running {
        stop: Some(tx),
        done,
        admin,
        bootstrap_token,
        progress,
    }
}
