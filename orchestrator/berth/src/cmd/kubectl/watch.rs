//! `get -w`: the current objects, then every change as it happens.

use berth_api::{Kind, Object};
use berth_client::proto::WatchRequest;
use berth_client::proto::watch_event::Type;

use super::status;

/// `get -w`: the current objects, then every change as it happens.
pub(super) async fn watch(
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
