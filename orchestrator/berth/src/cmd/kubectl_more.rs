//! `scale`, `rollout status`, `describe` and `get -w`.

use std::time::Duration;

use anyhow::{Context as _, bail};
use berth_api::{Kind, Object};
use berth_client::proto::watch_event::Type;
use berth_client::proto::{ListRequest, ObjectKey, WatchRequest, WriteRequest};
use clap::Args;

use super::kubectl::{ClientArgs, client, kind, namespace, runtime, status};

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// `deployment/NAME` or `deploy NAME`.
    pub target: Vec<String>,
    /// The new replica count.
    #[arg(long)]
    pub replicas: i32,
}

#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// `status`.
    pub action: String,
    /// `deployment/NAME` or `deploy NAME`.
    pub target: Vec<String>,
    /// Give up after this many seconds (0: wait forever).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
}

/// `deployment/web` or `deploy web` → (Deployment, web).
fn target(words: &[String]) -> anyhow::Result<(Kind, String)> {
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

async fn get_object(
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

pub fn rollout(a: RolloutArgs, client_args: &ClientArgs) -> anyhow::Result<()> {
    if a.action != "status" {
        bail!(
            "rollout: invalid value {:?}: only `status` is supported",
            a.action
        );
    }
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
            if a.timeout > 0 && started.elapsed() > Duration::from_secs(a.timeout) {
                bail!("timed out waiting for the rollout (are its pods scheduled and ready? see `berth get pods -o wide` and `berth get events`)");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

pub fn describe(a: DescribeArgs, client_args: &ClientArgs) -> anyhow::Result<()> {
    let kind = kind(&a.kind)?;
    let ns = namespace(client_args);
    runtime()?.block_on(async move {
        let mut api = client(client_args).await?;
        let obj = get_object(&mut api, kind, &ns, &a.name).await?;
        let m = obj.metadata();
        println!("Name:         {}", m.name);
        if kind.is_namespaced() {
            println!("Namespace:    {}", m.namespace);
        }
        let join = |map: &std::collections::BTreeMap<String, String>| {
            if map.is_empty() {
                "<none>".to_owned()
            } else {
                map.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            }
        };
        println!("Labels:       {}", join(&m.labels));
        println!("Annotations:  {}", join(&m.annotations));
        if let Some(t) = &m.creation_timestamp {
            println!("Created:      {t}");
        }
        println!("UID:          {}", m.uid);
        println!("Version:      {}", m.resource_version);
        // The rest as YAML, without the metadata already shown.
        let mut value: serde_json::Value = serde_json::from_slice(&obj.to_json()?)?;
        if let Some(map) = value.as_object_mut() {
            for k in ["apiVersion", "kind", "metadata"] {
                map.remove(k);
            }
        }
        let yaml = indented(&value);
        print!("{yaml}");
        let events = api
            .list(ListRequest {
                kind: "Event".into(),
                namespace: ns.clone(),
                label_selector: String::new(),
            })
            .await
            .map_err(status)?
            .into_inner();
        let mine: Vec<Object> = events
            .items_json
            .iter()
            .filter_map(|j| Object::from_json(j).ok())
            .filter(|e| match e {
                Object::Event(ev) => {
                    ev.involved_object.name == a.name && ev.involved_object.kind == kind.name()
                }
                _ => false,
            })
            .collect();
        if mine.is_empty() {
            println!("Events:       <none>");
        } else {
            println!("Events:");
            for e in mine {
                if let Object::Event(ev) = e {
                    println!("  {}\t{}\t{}", ev.type_, ev.reason, ev.message);
                }
            }
        }
        anyhow::Ok(())
    })
}

/// JSON value → indented `key: value` lines (a small YAML-like view).
fn indented(v: &serde_json::Value) -> String {
    fn walk(v: &serde_json::Value, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                            out.push_str(&format!("{pad}{k}:\n"));
                            walk(v, indent + 2, out);
                        }
                        _ => out.push_str(&format!("{pad}{k}: {}\n", scalar(v))),
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    match item {
                        serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                            out.push_str(&format!("{pad}-\n"));
                            walk(item, indent + 2, out);
                        }
                        _ => out.push_str(&format!("{pad}- {}\n", scalar(item))),
                    }
                }
            }
            other => out.push_str(&format!("{pad}{}\n", scalar(other))),
        }
    }
    fn scalar(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
    let mut out = String::new();
    walk(v, 0, &mut out);
    out
}

/// `get -w`: the current objects, then every change as it happens.
pub async fn watch(
    api: &mut berth_client::ApiClient,
    kind: Kind,
    ns: &str,
    from: u64,
) -> anyhow::Result<()> {
    let mut stream = api
        .watch(WatchRequest {
            kind: kind.name().into(),
            namespace: ns.into(),
            resource_version: from,
        })
        .await
        .map_err(status)?
        .into_inner();
    while let Some(e) = stream.message().await.map_err(status)? {
        let obj = Object::from_json(&e.object_json)?;
        let what = match Type::try_from(e.r#type) {
            Ok(Type::Added) => "ADDED",
            Ok(Type::Modified) => "MODIFIED",
            Ok(Type::Deleted) => "DELETED",
            Err(_) => "?",
        };
        println!("{what:<9} {}/{}", obj.kind().singular(), obj.name());
    }
    Ok(())
}
