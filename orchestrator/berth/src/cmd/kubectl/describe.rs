//! `describe KIND NAME`: the object in detail, with its Events.

use berth_api::Object;
use berth_client::proto::ListRequest;
use clap::Args;

use super::{ClientArgs, client, get_object, kind, namespace, runtime, status};

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
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
