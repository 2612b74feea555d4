//! `delete KIND NAME [--grace-period N | --now]`.

use berth_client::proto::{DeleteRequest, ObjectKey};
use clap::Args;

use super::{ClientArgs, client, kind, namespace, runtime, status};

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Seconds a Pod on a node gets to end (default: its own
    /// terminationGracePeriodSeconds; 0 removes it at once).
    #[arg(long)]
    pub grace_period: Option<i64>,
    /// Remove at once (`--grace-period 0`).
    #[arg(long)]
    pub now: bool,
}

pub fn delete(a: DeleteArgs, client_args: &ClientArgs) -> anyhow::Result<()> {
    let kind = kind(&a.kind)?;
    runtime()?.block_on(async move {
        let mut api = client(client_args).await?;
        api.delete(DeleteRequest {
            key: Some(ObjectKey {
                kind: kind.name().into(),
                namespace: namespace(client_args),
                name: a.name.clone(),
            }),
            resource_version: 0,
            grace_period_seconds: if a.now { Some(0) } else { a.grace_period },
        })
        .await
        .map_err(status)?;
        println!("{} {:?} deleted", kind.singular(), a.name);
        anyhow::Ok(())
    })
}
