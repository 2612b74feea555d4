//! `rollout status deployment/NAME [--timeout DURATION]`.

use std::time::Duration;

use anyhow::bail;
use berth_api::{Kind, Object};
use clap::{Args, Subcommand};

use super::{ClientArgs, client, get_object, namespace, runtime, target};

/// `rollout SUBCOMMAND`.
#[derive(Debug, Subcommand)]
pub enum RolloutCmd {
    /// `rollout status deployment/NAME`: wait until it is rolled out.
    Status(RolloutStatusArgs),
}

/// `rollout status`'s arguments.
#[derive(Debug, Args)]
pub struct RolloutStatusArgs {
    /// `deployment/NAME` or `deploy NAME`.
    pub target: Vec<String>,
    /// Give up after this long: `300` (seconds), `250ms`, `1m30s`, `5m`
    /// (0: wait forever).
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = crate::cmd::duration::parse)]
    pub timeout: Duration,
}

pub fn rollout(c: RolloutCmd, client_args: &ClientArgs) -> anyhow::Result<()> {
    match c {
        RolloutCmd::Status(a) => rollout_status(a, client_args),
    }
}

fn rollout_status(a: RolloutStatusArgs, client_args: &ClientArgs) -> anyhow::Result<()> {
    let (kind, name) = target(&a.target)?;
    if kind != Kind::Deployment {
        bail!(
            "rollout status: {} have no rollouts (Deployments do)",
            kind.plural()
        );
    }
    let ns = namespace(client_args);
    runtime()?.block_on(async move {
        let mut api = client(client_args).await?;
        let started = std::time::Instant::now();
        let mut last = String::new();
        loop {
            let obj = get_object(&mut api, kind, &ns, &name).await?;
            let Object::Deployment(d) = &obj else {
                bail!("not a Deployment");
            };
            let (want, st) = (d.spec.replicas, &d.status);
            let line = if st.observed_generation < d.metadata.generation {
                "Waiting for deployment spec update to be observed...".to_owned()
            } else if st.updated_replicas < want {
                format!(
                    "Waiting for deployment {name:?} rollout to finish: {} out of {want} new replicas have been updated...",
                    st.updated_replicas
                )
            } else if st.replicas > st.updated_replicas {
                format!(
                    "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...",
                    st.replicas - st.updated_replicas
                )
            } else if st.available_replicas < st.updated_replicas {
                format!(
                    "Waiting for deployment {name:?} rollout to finish: {} of {} updated replicas are available...",
                    st.available_replicas, st.updated_replicas
                )
            } else {
                println!("deployment {name:?} successfully rolled out");
                return Ok(());
            };
            if line != last {
                println!("{line}");
                last = line;
            }
            if !a.timeout.is_zero() && started.elapsed() > a.timeout {
                bail!("timed out waiting for the rollout (are its pods scheduled and ready? see `berth get pods -o wide` and `berth get events`)");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}
