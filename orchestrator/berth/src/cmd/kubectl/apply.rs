//! `apply -f FILE|DIR|-`: create or update objects from manifests.

use anyhow::Context as _;
use berth_api::ParseOptions;
use berth_client::proto::{ObjectKey, WriteRequest};
use clap::Args;

use super::{ClientArgs, client, runtime, status};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A manifest file, a directory of them, or `-` for stdin.
    #[arg(short, long = "filename", required = true)]
    pub files: Vec<String>,
    /// Read directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

pub fn apply(a: ApplyArgs, client_args: &ClientArgs) -> anyhow::Result<()> {
    let opts = ParseOptions {
        namespace: client_args.namespace.clone(),
        recursive: a.recursive,
        validate: true,
    };
    let mut docs = Vec::new();
    for f in &a.files {
        docs.extend(berth_api::manifest::read(f, &opts)?);
    }
    runtime()?.block_on(async move {
        let mut api = client(client_args).await?;
        for doc in docs {
            for w in &doc.warnings {
                eprintln!("Warning: {w}");
            }
            let key = doc.object.key();
            let json = doc.object.to_json()?;
            let existed = api.get(to_proto(&key)).await.is_ok();
            api.apply(WriteRequest { object_json: json })
                .await
                .map_err(status)
                .with_context(|| format!("applying {key}"))?;
            let verb = if existed { "configured" } else { "created" };
            println!("{}/{} {verb}", key.kind.singular(), key.name);
        }
        anyhow::Ok(())
    })
}

pub(super) fn to_proto(key: &berth_api::ObjectKey) -> ObjectKey {
    ObjectKey {
        kind: key.kind.name().to_owned(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
    }
}
