//! `node revoke NAME` and `bootstrap-token rotate [--ttl D]`: the admin's
//! side of node credentials.

use berth_client::proto::{NodeCredentialRequest, RotateBootstrapRequest};
use clap::{Args, Subcommand};

use super::{ClientArgs, client, runtime, status};

/// `berth node ...`.
#[derive(Debug, Subcommand)]
pub enum NodeCmd {
    /// Revoke every credential of a node at once (its agent is refused
    /// until it joins again with the bootstrap token: rotate that too when
    /// the node is not to be trusted).
    Revoke(RevokeArgs),
}

/// `node revoke`'s arguments.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The Node's name.
    pub name: String,
}

/// `berth bootstrap-token ...`.
#[derive(Debug, Subcommand)]
pub enum BootstrapCmd {
    /// Replace the bootstrap token (the server writes it to its
    /// `node-token` file and prints it here); the old one is refused.
    Rotate(RotateArgs),
}

/// `bootstrap-token rotate`'s arguments.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Its lifetime: `300` (seconds), `90m`, `24h` (default: the server's
    /// --bootstrap-token-ttl).
    #[arg(long, value_name = "DURATION", value_parser = crate::cmd::duration::positive)]
    pub ttl: Option<std::time::Duration>,
}

pub fn node(c: NodeCmd, client_args: &ClientArgs) -> anyhow::Result<()> {
    let NodeCmd::Revoke(a) = c;
    runtime()?.block_on(async move {
        let mut api = client(client_args).await?;
        let r = api
            .revoke_node_credential(NodeCredentialRequest {
                node: a.name.clone(),
            })
            .await
            .map_err(status)?
            .into_inner();
        println!("node/{}: {} credential(s) revoked", a.name, r.revoked);
        anyhow::Ok(())
    })
}

pub fn bootstrap_token(c: BootstrapCmd, client_args: &ClientArgs) -> anyhow::Result<()> {
    let BootstrapCmd::Rotate(a) = c;
    runtime()?.block_on(async move {
        let mut api = client(client_args).await?;
        let r = api
            .rotate_bootstrap_token(RotateBootstrapRequest {
                ttl_seconds: a.ttl.map_or(0, |d| d.as_secs().max(1)),
            })
            .await
            .map_err(status)?
            .into_inner();
        println!("{}", r.token);
        match r.expires_unix {
            0 => eprintln!("bootstrap token rotated; it does not expire"),
            t => eprintln!(
                "bootstrap token rotated; it expires at {}",
                berth_api::Time::from_unix(t, 0)
            ),
        }
        anyhow::Ok(())
    })
}
