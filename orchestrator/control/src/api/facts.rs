//! What the node authorizer reads, from the store.

use berth_api::{Kind, Node, Object, ObjectKey, Pod};
use berth_store::Store;

use super::{store_key, store_prefix};
use crate::auth::{AuthError, Facts};

/// The store as the authorizer's [`Facts`].
#[derive(Debug)]
pub(super) struct StoreFacts<'a> {
    pub(super) store: &'a dyn Store,
}

fn store_err(source: berth_store::StoreError) -> AuthError {
    AuthError::Store { source }
}

impl StoreFacts<'_> {
    async fn object(&self, key: ObjectKey) -> Result<Option<Object>, AuthError> {
        let item = self.store.get(&store_key(&key)).await.map_err(store_err)?;
        Ok(item.and_then(|i| Object::from_json(&i.value).ok()))
    }
}

impl Facts for StoreFacts<'_> {
    async fn pod(&self, namespace: &str, name: &str) -> Result<Option<Pod>, AuthError> {
        Ok(
            match self
                .object(ObjectKey::new(Kind::Pod, namespace, name))
                .await?
            {
                Some(Object::Pod(p)) => Some(p),
                _ => None,
            },
        )
    }

    async fn node(&self, name: &str) -> Result<Option<Node>, AuthError> {
        Ok(
            match self.object(ObjectKey::new(Kind::Node, "", name)).await? {
                Some(Object::Node(n)) => Some(n),
                _ => None,
            },
        )
    }

    async fn pods_on(&self, node: &str) -> Result<Vec<Pod>, AuthError> {
        // Every pod is read: an index by node comes with the REST API's
        // field selectors.
        let (items, _) = self
            .store
            .list(&store_prefix(Kind::Pod, ""))
            .await
            .map_err(store_err)?;
        Ok(items
            .iter()
            .filter_map(|i| match Object::from_json(&i.value) {
                Ok(Object::Pod(p)) if p.spec.node_name == node => Some(p),
                _ => None,
            })
            .collect())
    }
}
