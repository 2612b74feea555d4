//! Who sent a request ([`ApiService::identify`]) and whether they may do
//! what it asks ([`ApiService::check`]): the tokens, the node credentials
//! in the store, and the node authorizer over [`StoreFacts`].

use std::future::Future;

use berth_api::{Kind, Object, ObjectKey};
use tonic::{Request, Status};

use super::errors;
use super::facts::StoreFacts;
use super::service::ApiService;
use crate::auth::{Attributes, AuthError, Identity, Verb, authorize};

/// The bearer token of `req`, checked for form.
fn bearer<T>(req: &Request<T>) -> Result<&str, Status> {
    let header = match req.metadata().get("authorization") {
        None => return Err(errors::auth(AuthError::Missing)),
        Some(v) => v.to_str().map_err(|_| {
            errors::auth(AuthError::Malformed {
                reason: "the authorization header is not ASCII",
            })
        })?,
    };
    let token = header.strip_prefix("Bearer ").ok_or_else(|| {
        errors::auth(AuthError::Malformed {
            reason: "expected `authorization: Bearer <token>`",
        })
    })?;
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(errors::auth(AuthError::Malformed {
            reason: "a token is printable ASCII without spaces",
        }));
    }
    Ok(token)
}

impl ApiService {
    /// Who sent `req`.
    pub(super) async fn identify<T>(&self, req: &Request<T>) -> Result<Identity, Status> {
        let token = bearer(req)?;
        match self.tokens.match_token(token).map_err(errors::auth)? {
            Some(true) => Ok(Identity::Admin),
            Some(false) => Ok(Identity::Bootstrap),
            None => Ok(Identity::Node(
                self.credentials.verify(token).await.map_err(errors::auth)?,
            )),
        }
    }

    /// For a call made with a node credential: what ends when the node's
    /// credentials are revoked (`berth node revoke`, or the Node deleted),
    /// with the refusal, so that a watch it holds ends at once too. It
    /// follows the node's credentials in the store. (A credential that
    /// merely expires does not end a watch, as a rotation replaces it.)
    /// `None` for the other tokens.
    pub(super) async fn until_refused<T>(
        &self,
        req: &Request<T>,
    ) -> Result<Option<impl Future<Output = Status> + Send + 'static>, Status> {
        let token = bearer(req)?.to_owned();
        let Ok((node, _)) = crate::auth::credentials::parse(&token) else {
            return Ok(None);
        };
        let key = crate::auth::NodeCredentials::key(node);
        let storage = |e: berth_store::StoreError| Status::unavailable(format!("storage: {e}"));
        let from = self.store.current_revision().await.map_err(storage)?;
        let mut changes = self.store.watch(&key, from).await.map_err(storage)?;
        let credentials = self.credentials.clone();
        let revoked = AuthError::Revoked {
            node: node.to_owned(),
        };
        Ok(Some(async move {
            // Checked after the watch started: a revocation between the
            // call's check and the watch is not missed.
            if let Err(e) = credentials.verify(&token).await {
                return errors::auth(e);
            }
            loop {
                match tokio_stream::StreamExt::next(&mut changes).await {
                    Some(Ok(berth_store::Event::Delete { .. })) => return errors::auth(revoked),
                    Some(_) => {}
                    None => {
                        return Status::unavailable(
                            "the node credentials' watch ended: watch again",
                        );
                    }
                }
            }
        }))
    }

    /// Authenticates `req` and authorises what `a` says it asks.
    pub(super) async fn check<T>(
        &self,
        req: &Request<T>,
        a: Attributes<'_>,
    ) -> Result<Identity, Status> {
        let who = self.identify(req).await?;
        let facts = StoreFacts {
            store: self.store.as_ref(),
        };
        if let Err(e) = authorize(&who, &a, &facts).await {
            if let AuthError::Forbidden { rule, .. } = &e {
                tracing::info!(who = %who, verb = %a.verb, kind = %a.kind, namespace = a.namespace, name = a.name, %rule, "refused");
            }
            return Err(errors::auth(e));
        }
        Ok(who)
    }

    /// [`ApiService::check`] for `verb` on `obj`.
    pub(super) async fn check_object<T>(
        &self,
        req: &Request<T>,
        verb: Verb,
        obj: &Object,
    ) -> Result<Identity, Status> {
        let m = obj.metadata();
        let a = Attributes {
            verb,
            kind: obj.kind(),
            namespace: &m.namespace,
            name: &m.name,
            object: Some(obj),
        };
        self.check(req, a).await
    }

    /// [`ApiService::check`] for `verb` on the object at `key`.
    pub(super) async fn check_key<T>(
        &self,
        req: &Request<T>,
        verb: Verb,
        key: &ObjectKey,
    ) -> Result<Identity, Status> {
        let a = Attributes {
            verb,
            kind: key.kind,
            namespace: &key.namespace,
            name: &key.name,
            object: None,
        };
        self.check(req, a).await
    }
}

/// How long credentials live.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// A node credential (the agent rotates it at two thirds of this).
    pub node_credential: std::time::Duration,
    /// A bootstrap token (`None`: for ever).
    pub bootstrap_token: Option<std::time::Duration>,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            node_credential: crate::auth::credentials::DEFAULT_TTL,
            bootstrap_token: Some(crate::auth::tokens::DEFAULT_BOOTSTRAP_TTL),
        }
    }
}

/// A credential request about `node`.
pub(super) fn for_node(verb: Verb, node: &str) -> Attributes<'_> {
    Attributes {
        verb,
        kind: Kind::Node,
        namespace: "",
        name: node,
        object: None,
    }
}

/// A list or a watch of `kind` in `namespace` (all when empty).
pub(super) fn everything(verb: Verb, kind: Kind, namespace: &str) -> Attributes<'_> {
    Attributes {
        verb,
        kind,
        namespace,
        name: "",
        object: None,
    }
}
