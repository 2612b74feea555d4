//! `berth server`: bootstrap, open the store, serve the API over TLS until
//! shutdown, then drain.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use berth_api::{Kind, Namespace, Object, ObjectKey, ObjectMeta, Time};
use berth_client::proto::api_server::ApiServer;
use berth_store::{Bytes, EmbeddedOptions, EmbeddedStore, EtcdOptions, EtcdStore, Store};
use tokio::net::TcpListener;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::api::{ApiService, Lifetimes, store_key};
use crate::bootstrap::{BootstrapError, Prepared, ServerSettings, prepare};
use crate::cluster_dns::ClusterDns;
use crate::controllers::{self, Controllers};

/// Where objects are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datastore {
    /// The embedded store in `<data-dir>/store.redb` (the default).
    Embedded,
    /// etcd at these client URLs (`--datastore etcd://h:p,h:p`).
    Etcd(Vec<String>),
}

impl std::str::FromStr for Datastore {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "embedded" {
            return Ok(Self::Embedded);
        }
        let Some(rest) = s.strip_prefix("etcd://") else {
            return Err(format!(
                "--datastore: invalid value {s:?}: expected \"embedded\" or etcd://HOST:PORT[,HOST:PORT...]"
            ));
        };
        let endpoints: Vec<String> = rest
            .split(',')
            .filter(|e| !e.is_empty())
            .map(|e| format!("http://{e}"))
            .collect();
        if endpoints.is_empty() {
            return Err(format!("--datastore: invalid value {s:?}: no endpoints"));
        }
        Ok(Self::Etcd(endpoints))
    }
}

/// Errors of the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Bootstrap failed.
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    /// The store could not be opened.
    #[error("opening the {what} store")]
    Store {
        /// `embedded` or `etcd`.
        what: &'static str,
        /// Why.
        #[source]
        source: berth_store::StoreError,
    },
    /// The listen address could not be bound.
    #[error("binding {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// TLS or the transport failed.
    #[error("serving the API")]
    Transport(#[source] tonic::transport::Error),
}

/// A server whose socket is bound and whose store is open.
#[derive(Debug)]
pub struct BoundServer {
    listener: TcpListener,
    prepared: Prepared,
    store: Arc<dyn Store>,
    controllers: Option<controllers::Settings>,
    progress: controllers::Progress,
    cluster_dns: Option<ClusterDns>,
    lifetimes: Lifetimes,
}

impl BoundServer {
    /// Bootstraps the data dir, opens the store, makes the `default` and
    /// `kube-system` namespaces if missing, and binds `settings.listen`.
    pub async fn bind(
        settings: &ServerSettings,
        datastore: &Datastore,
    ) -> Result<Self, ServeError> {
        let prepared = prepare(settings)?;
        let store: Arc<dyn Store> = match datastore {
            Datastore::Embedded => Arc::new(
                EmbeddedStore::open(
                    settings.data_dir.join("store.redb"),
                    EmbeddedOptions::default(),
                )
                .map_err(|source| ServeError::Store {
                    what: "embedded",
                    source,
                })?,
            ),
            Datastore::Etcd(endpoints) => Arc::new(
                EtcdStore::connect(EtcdOptions::new(endpoints.clone()))
                    .await
                    .map_err(|source| ServeError::Store {
                        what: "etcd",
                        source,
                    })?,
            ),
        };
        for ns in [
            "default",
            "kube-system",
            berth_api::lease::NODE_LEASE_NAMESPACE,
        ] {
            ensure_namespace(store.as_ref(), ns)
                .await
                .map_err(|source| ServeError::Store {
                    what: "namespace",
                    source,
                })?;
        }
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| ServeError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        Ok(Self {
            listener,
            prepared,
            store,
            controllers: Some(controllers::Settings::default()),
            progress: controllers::Progress::default(),
            cluster_dns: None,
            lifetimes: Lifetimes::default(),
        })
    }

    /// Runs the controllers and the scheduler with `settings` (the
    /// default), or not at all (`None`: an API server only, for tests of
    /// the API alone and for clusters whose controllers run elsewhere).
    pub fn with_controllers(mut self, settings: Option<controllers::Settings>) -> Self {
        self.controllers = settings;
        self
    }

    /// Makes the `kube-system/kube-dns` Service and its node-local
    /// EndpointSlice when missing (`berth server` does by default; `None`,
    /// the library's default, makes nothing).
    pub fn with_cluster_dns(mut self, dns: Option<ClusterDns>) -> Self {
        self.cluster_dns = dns;
        self
    }

    /// How long node credentials and the bootstrap token live (the
    /// bootstrap token's file is written again when it is past that).
    pub fn with_lifetimes(mut self, lifetimes: Lifetimes) -> Result<Self, ServeError> {
        self.prepared.tokens = self
            .prepared
            .tokens
            .with_bootstrap_ttl(lifetimes.bootstrap_token)
            .map_err(|e| ServeError::Bootstrap(e.into()))?;
        self.lifetimes = lifetimes;
        Ok(self)
    }

    /// The controllers' queues, to follow their reconciles once running.
    pub fn progress(&self) -> controllers::Progress {
        self.progress.clone()
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Bootstrap results (CA, tokens, admin.conf path).
    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// Serves until `shutdown` completes, then lets in-flight calls finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
        let identity = Identity::from_pem(
            &self.prepared.pki.server_cert_pem,
            &self.prepared.pki.server_key_pem,
        );
        let (drain, draining) = tokio::sync::watch::channel(false);
        let service = ApiService::new(
            self.store,
            self.prepared.tokens.clone(),
            self.lifetimes,
            draining,
        );
        // The controllers call the service in-process, as the admin.
        let local: berth_client::typed::LocalApi = Arc::new(service.clone());
        let admin = berth_client::Client::local(local, self.prepared.tokens.admin());
        let dns = self
            .cluster_dns
            .map(|d| tokio::spawn(d.ensure_until_done(admin.clone())));
        let running = self
            .controllers
            .map(|settings| Controllers::start_with(admin, settings, self.progress));
        // Our own listener, so tonic's tcp_nodelay does not apply: without
        // it, small replies wait for the client's delayed ACK (~40 ms).
        let incoming = tokio_stream::StreamExt::map(
            tokio_stream::wrappers::TcpListenerStream::new(self.listener),
            |conn| {
                conn.inspect(|s| {
                    if let Err(e) = s.set_nodelay(true) {
                        tracing::debug!(error = %e, "TCP_NODELAY");
                    }
                })
            },
        );
        let shutdown = async move {
            shutdown.await;
            if let Some(d) = dns {
                d.abort();
            }
            if let Some(c) = running {
                tracing::info!("stopping the controllers");
                c.stop().await;
            }
            tracing::info!("draining: open watches end, calls in flight finish");
            let _ = drain.send(true);
        };
        Server::builder()
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(ServeError::Transport)?
            .add_service(ApiServer::new(service))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(ServeError::Transport)
    }
}

async fn ensure_namespace(store: &dyn Store, name: &str) -> berth_store::Result<()> {
    let key = ObjectKey::new(Kind::Namespace, "", name);
    if store.get(&store_key(&key)).await?.is_some() {
        return Ok(());
    }
    let mut meta = ObjectMeta::named("", name);
    meta.creation_timestamp = Some(Time::now());
    meta.generation = 1;
    let ns = Object::Namespace(Namespace {
        metadata: meta,
        ..Namespace::default()
    });
    let bytes = ns.to_json().unwrap_or_default();
    match store.create(&store_key(&key), Bytes::from(bytes)).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_already_exists() => Ok(()),
        Err(e) => Err(e),
    }
}
