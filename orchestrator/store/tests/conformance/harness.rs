//! One fresh store per test, for each backend.

use std::sync::Arc;

use berth_store::{EmbeddedOptions, EmbeddedStore, EtcdOptions, EtcdStore, Store};

use crate::etcd_server::EtcdServer;

/// A backend under test: a fresh, empty store and what keeps it alive.
pub trait Backend: Sized {
    async fn start() -> anyhow::Result<Self>;
    fn store(&self) -> Arc<dyn Store>;
}

/// A redb file in a temporary directory.
pub struct Embedded {
    store: Arc<EmbeddedStore>,
    _dir: tempfile::TempDir,
}

impl Backend for Embedded {
    async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-store")
            .tempdir()?;
        let store = EmbeddedStore::open(dir.path().join("store.redb"), EmbeddedOptions::default())?;
        Ok(Self {
            store: Arc::new(store),
            _dir: dir,
        })
    }

    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

/// Its own etcd server, with keys under a prefix of their own.
pub struct Etcd {
    store: Arc<EtcdStore>,
    _server: EtcdServer,
}

impl Backend for Etcd {
    async fn start() -> anyhow::Result<Self> {
        let server = EtcdServer::start().await?;
        let store =
            EtcdStore::connect(EtcdOptions::new([server.endpoint.clone()]).prefix("/berth-test"))
                .await?;
        Ok(Self {
            store: Arc::new(store),
            _server: server,
        })
    }

    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}
