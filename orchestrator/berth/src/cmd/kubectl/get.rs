//! `get KIND [NAME] [-o wide|yaml|json|name] [-l SELECTOR] [-A] [-w]`.

use anyhow::bail;
use berth_api::{Kind, Object, Time};
use berth_client::proto::{ListRequest, ObjectKey};
use clap::{Args, ValueEnum};

use super::{ClientArgs, client, kind, namespace, runtime, status};

/// `-o`: how `get` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// The table with `-o wide`'s extra columns.
    Wide,
    /// YAML (a `List` of several).
    Yaml,
    /// JSON (a `List` of several).
    Json,
    /// `kind/name` lines.
    Name,
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
    /// Output: a table (default), `wide` (more columns), `yaml`, `json`,
    /// or `name` (KIND/NAME lines).
    #[arg(short, long, value_enum)]
    pub output: Option<Output>,
    /// Label selector (`app=web,tier!=db,env in (prod,qa),!canary`).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// After listing, print every change as it happens.
    #[arg(short = 'w', long)]
    pub watch: bool,
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
        print_objects(&objects, a.output, a.name.is_some(), all, &ns)?;
        if a.watch {
            if from == 0 {
                from = objects
                    .iter()
                    .filter_map(|o| o.metadata().resource_version.parse().ok())
                    .max()
                    .unwrap_or(0);
            }
            super::watch::watch(&mut api, kind, &ns, from).await?;
        }
        Ok(())
    })
}

fn print_objects(
    objects: &[Object],
    output: Option<Output>,
    single: bool,
    all: bool,
    ns: &str,
) -> anyhow::Result<()> {
    match output {
        Some(Output::Yaml) if single => print!("{}", objects[0].to_yaml()?),
        Some(Output::Json) if single => println!("{}", objects[0].to_json_pretty()?),
        Some(Output::Yaml) => {
            println!("apiVersion: v1\nitems:");
            for o in objects {
                for (i, line) in o.to_yaml()?.lines().enumerate() {
                    println!("{}{line}", if i == 0 { "- " } else { "  " });
                }
            }
            println!("kind: List");
        }
        Some(Output::Json) => {
            let items: Vec<serde_json::Value> = objects
                .iter()
                .map(|o| Ok(serde_json::from_slice(&o.to_json()?)?))
                .collect::<anyhow::Result<_>>()?;
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        Some(Output::Name) => {
            for o in objects {
                println!("{}/{}", o.kind().singular(), o.name());
            }
        }
        None | Some(Output::Wide) => {
            if objects.is_empty() {
                if all {
                    eprintln!("No resources found");
                } else {
                    eprintln!("No resources found in {ns} namespace.");
                }
                return Ok(());
            }
            let wide = output == Some(Output::Wide);
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
            print!("{}", super::table::render(&rows));
        }
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
