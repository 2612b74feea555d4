//! The kubectl-like CLI: `apply`, `get`, `delete`.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use berth_api::{Kind, Object, ParseOptions, Time};
use berth_client::proto::{DeleteRequest, ListRequest, ObjectKey, WriteRequest};
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

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A manifest file, a directory of them, or `-` for stdin.
    #[arg(short, long = "filename", required = true)]
    pub files: Vec<String>,
    /// Read directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Kind: name, plural or short name (pods, svc, deploy, ep, ...).
    pub kind: String,
    /// One object by name.
    pub name: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output: table (default), yaml, json, name.
    #[arg(short, long)]
    pub output: Option<String>,
    /// Label selector (`app=web,tier!=db`).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// After listing, print every change as it happens.
    #[arg(short = 'w', long)]
    pub watch: bool,
}

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

fn to_proto(key: &berth_api::ObjectKey) -> ObjectKey {
    ObjectKey {
        kind: key.kind.name().to_owned(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
    }
}

pub(super) fn kind(name: &str) -> anyhow::Result<Kind> {
    Ok(Kind::from_resource_name(name)?)
}

pub fn get(a: GetArgs, client_args: &ClientArgs) -> anyhow::Result<()> {
    let kinds: Vec<Kind> = a.kind.split(',').map(kind).collect::<anyhow::Result<_>>()?;
    if kinds.len() > 1 {
        if a.name.is_some() || a.watch {
            bail!("a NAME or -w needs exactly one kind, got {:?}", a.kind);
        }
        for (i, k) in kinds.iter().enumerate() {
            if i > 0 {
                println!();
            }
            get_one(&a, *k, client_args)?;
        }
        return Ok(());
    }
    get_one(&a, kinds[0], client_args)
}

fn get_one(a: &GetArgs, kind: Kind, client_args: &ClientArgs) -> anyhow::Result<()> {
    let ns = if a.all_namespaces {
        String::new()
    } else {
        namespace(client_args)
    };
    runtime()?.block_on(async move {
        let mut api = client(client_args).await?;
        let mut from = 0;
        let a = a;
        let objects: Vec<Object> = match &a.name {
            Some(name) => {
                let r = api
                    .get(ObjectKey {
                        kind: kind.name().into(),
                        namespace: ns.clone(),
                        name: name.clone(),
                    })
                    .await
                    .map_err(status)?;
                vec![Object::from_json(&r.into_inner().object_json)?]
            }
            None => {
                let r = api
                    .list(ListRequest {
                        kind: kind.name().into(),
                        namespace: ns.clone(),
                        label_selector: a.selector.clone().unwrap_or_default(),
                    })
                    .await
                    .map_err(status)?
                    .into_inner();
                from = r.resource_version;
                r.items_json
                    .iter()
                    .map(|j| Object::from_json(j))
                    .collect::<Result<_, _>>()?
            }
        };
        let all = a.all_namespaces && kind.is_namespaced();
        print_objects(&objects, a.output.as_deref(), a.name.is_some(), all, &ns)?;
        if a.watch {
            if from == 0 {
                from = objects
                    .iter()
                    .filter_map(|o| o.metadata().resource_version.parse().ok())
                    .max()
                    .unwrap_or(0);
            }
            super::kubectl_more::watch(&mut api, kind, &ns, from).await?;
        }
        Ok(())
    })
}

fn print_objects(
    objects: &[Object],
    output: Option<&str>,
    single: bool,
    all: bool,
    ns: &str,
) -> anyhow::Result<()> {
    match output {
        Some("yaml") if single => print!("{}", objects[0].to_yaml()?),
        Some("json") if single => println!("{}", objects[0].to_json_pretty()?),
        Some("yaml") => {
            println!("apiVersion: v1\nitems:");
            for o in objects {
                for (i, line) in o.to_yaml()?.lines().enumerate() {
                    println!("{}{line}", if i == 0 { "- " } else { "  " });
                }
            }
            println!("kind: List");
        }
        Some("json") => {
            let items: Vec<serde_json::Value> = objects
                .iter()
                .map(|o| Ok(serde_json::from_slice(&o.to_json()?)?))
                .collect::<anyhow::Result<_>>()?;
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        Some("name") => {
            for o in objects {
                println!("{}/{}", o.kind().singular(), o.name());
            }
        }
        None | Some("wide") => {
            if objects.is_empty() {
                if all {
                    eprintln!("No resources found");
                } else {
                    eprintln!("No resources found in {ns} namespace.");
                }
                return Ok(());
            }
            let wide = output == Some("wide");
            let now = Time::now().unix_seconds();
            let mut header: Vec<String> = Vec::new();
            if all {
                header.push("NAMESPACE".into());
            }
            header.push("NAME".into());
            header.extend(
                berth_api::columns::headers(&objects[0], wide)
                    .into_iter()
                    .map(str::to_owned),
            );
            header.push("AGE".into());
            let mut rows = vec![header];
            for o in objects {
                let mut row = Vec::new();
                if all {
                    row.push(o.namespace().unwrap_or("").to_owned());
                }
                row.push(o.name().to_owned());
                row.extend(berth_api::columns::values(o, wide));
                row.push(
                    o.metadata()
                        .creation_timestamp
                        .map(|t| human_age(now - t.unix_seconds()))
                        .unwrap_or_else(|| "<unknown>".into()),
                );
                rows.push(row);
            }
            let widths: Vec<usize> = (0..rows[0].len())
                .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
                .collect();
            for row in rows {
                let line: Vec<String> = row
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:w$}"))
                    .collect();
                println!("{}", line.join("   ").trim_end());
            }
        }
        Some(other) => bail!("--output: invalid value {other:?}: one of yaml, json, name, wide"),
    }
    Ok(())
}

/// `45s`, `3m`, `2h`, `5d` as kubectl prints ages.
fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
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
