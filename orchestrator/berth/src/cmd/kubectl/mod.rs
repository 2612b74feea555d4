//! The kubectl-like CLI, one file per verb: [`apply`], [`get`] (with
//! [`watch`]), [`delete`], [`describe`], [`scale`], [`rollout`]; here the
//! flags and helpers they share.

mod apply;
mod credentials;
mod delete;
mod describe;
pub(super) mod get;
mod rollout;
mod scale;
mod table;
mod watch;

pub use self::apply::{ApplyArgs, apply};
pub use self::credentials::{BootstrapCmd, NodeCmd, bootstrap_token, node};
pub use self::delete::{DeleteArgs, delete};
pub use self::describe::{DescribeArgs, describe};
pub use self::get::{GetArgs, get};
pub use self::rollout::{RolloutCmd, rollout};
pub use self::scale::{ScaleArgs, scale};

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use berth_api::{Kind, Object};
use berth_client::proto::ObjectKey;
use berth_client::{ApiClient, connect, find_config};
use clap::Args;

/// Flags every client command takes (global: `berth -n prod get pods`
/// and `berth get pods -n prod` both work).
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Credentials file (else $BERTH_CONFIG, ~/.berth/config, /var/lib/berth/admin.conf).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Namespace (default `default`).
    #[arg(short, long, global = true)]
    pub namespace: Option<String>,
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// `-n`, else `default`.
pub(super) fn namespace(args: &ClientArgs) -> String {
    args.namespace.clone().unwrap_or_else(|| "default".into())
}

pub(super) async fn client(args: &ClientArgs) -> anyhow::Result<ApiClient> {
    let config = find_config(args.config.as_deref())?;
    Ok(connect(&config).await?)
}

pub(super) fn status(e: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}", e.message())
}

pub(super) fn kind(name: &str) -> anyhow::Result<Kind> {
    Ok(Kind::from_resource_name(name)?)
}

/// `deployment/web` or `deploy web` → (Deployment, web).
pub(super) fn target(words: &[String]) -> anyhow::Result<(Kind, String)> {
    match words {
        [one] => {
            let (k, n) = one.split_once('/').with_context(|| {
                format!("invalid value {one:?}: expected KIND/NAME or KIND NAME")
            })?;
            Ok((kind(k)?, n.to_owned()))
        }
        [k, n] => Ok((kind(k)?, n.clone())),
        _ => bail!("expected KIND/NAME or KIND NAME"),
    }
}

pub(super) async fn get_object(
    api: &mut berth_client::ApiClient,
    kind: Kind,
    ns: &str,
    name: &str,
) -> anyhow::Result<Object> {
    let r = api
        .get(ObjectKey {
            kind: kind.name().into(),
            namespace: ns.into(),
            name: name.into(),
        })
        .await
        .map_err(status)?;
    Ok(Object::from_json(&r.into_inner().object_json)?)
}
