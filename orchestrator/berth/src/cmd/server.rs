//! `berth server`: the API server (embedded store by default).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use berth_control::bootstrap::{DEFAULT_LISTEN, ServerSettings};
use berth_control::serve::{BoundServer, Datastore};
use clap::Args;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// State: store, CA, tokens, admin.conf, node-token.
    #[arg(long, default_value = "/var/lib/berth/server")]
    pub data_dir: PathBuf,
    /// Address of the API (gRPC over TLS).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Another name or address for the server certificate (repeatable).
    #[arg(long = "tls-san", value_name = "NAME|IP")]
    pub tls_sans: Vec<String>,
    /// `embedded` (default) or `etcd://HOST:PORT[,HOST:PORT...]`.
    #[arg(long, default_value = "embedded")]
    pub datastore: Datastore,
}

pub fn run(a: ServerArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let settings = ServerSettings {
            data_dir: a.data_dir,
            listen: a.listen,
            tls_sans: a.tls_sans,
        };
        let server = BoundServer::bind(&settings, &a.datastore).await?;
        println!(
            "berth server: serving on https://{} (credentials: {}, node token: {})",
            server.local_addr()?,
            server.prepared().admin_conf.display(),
            settings.data_dir.join("node-token").display()
        );
        server.run(shutdown_signal()).await?;
        println!("berth server: stopped");
        anyhow::Ok(())
    })
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}
