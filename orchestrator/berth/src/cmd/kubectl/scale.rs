//! `scale deployment/NAME --replicas N`.

use anyhow::bail;
use berth_api::{Kind, Object};
use berth_client::proto::WriteRequest;
use clap::Args;

use super::{ClientArgs, client, get_object, namespace, runtime, status, target};

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// `deployment/NAME` or `deploy NAME`.
    pub target: Vec<String>,
    /// The new replica count.
    #[arg(long)]
    pub replicas: i32,
}

pub fn scale(a: ScaleArgs, client_args: &ClientArgs) -> anyhow::Result<()> {
    let (kind, name) = target(&a.target)?;
    if kind != Kind::Deployment {
        bail!(
            "scale: {} cannot be scaled (Deployments can)",
            kind.plural()
        );
    }
    if a.replicas < 0 {
        bail!(
            "--replicas: Invalid value: {}: must be greater than or equal to 0",
            a.replicas
        );
    }
    let ns = namespace(client_args);
    runtime()?.block_on(async move {
        let mut api = client(client_args).await?;
        // Compare-and-swap: retry when someone else changed it meanwhile.
        for _ in 0..5 {
            let mut obj = get_object(&mut api, kind, &ns, &name).await?;
            if let Object::Deployment(d) = &mut obj {
                d.spec.replicas = a.replicas;
            }
            match api
                .update(WriteRequest {
                    object_json: obj.to_json()?,
                })
                .await
            {
                Ok(_) => {
                    println!("deployment/{name} scaled");
                    return Ok(());
                }
                Err(e) if e.code() == tonic::Code::Aborted => continue,
                Err(e) => return Err(status(e)),
            }
        }
        bail!("deployment/{name}: changed by others five times in a row; try again")
    })
}
