//! A typed client: Berth's objects in, Berth's objects out, over either a
//! TLS connection ([`Client::remote`]) or the API service itself in the same
//! process ([`Client::local`], what the controllers inside `berth server`
//! use: the same validation, allocation and authorisation, no network).

use std::pin::Pin;
use std::sync::Arc;

use berth_api::{Kind, Object, ObjectError, Resource};
use tokio_stream::{Stream, StreamExt as _};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::{Code, Request, Status};

use crate::connect::ApiClient;
use crate::proto::api_server::Api;
use crate::proto::{
    BindRequest, BootstrapToken, DeleteRequest, ListRequest, NodeCredential, NodeCredentialRequest,
    ObjectKey, RotateBootstrapRequest, WatchEvent, WatchRequest, WriteRequest,
};

/// The stream of a watch, as the service produces it.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, Status>> + Send>>;

/// The API service, called in-process.
pub type LocalApi = Arc<dyn Api<WatchStream = EventStream>>;

/// Errors of [`Client`] calls.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error.
    #[error("{verb} {what}: {}", source.message())]
    Status {
        /// The call (`create`, `update`, ...).
        verb: &'static str,
        /// The object or kind it was about.
        what: String,
        /// The server's status.
        #[source]
        source: Status,
    },
    /// An object from the server does not decode.
    #[error("decoding a {kind} from the server")]
    Decode {
        /// The kind asked for.
        kind: Kind,
        /// Why.
        #[source]
        source: ObjectError,
    },
    /// An object from the server is of another kind.
    #[error("the server sent a {found} where a {expected} was asked for")]
    WrongKind {
        /// The kind asked for.
        expected: Kind,
        /// The kind sent.
        found: Kind,
    },
    /// An object could not be encoded.
    #[error("encoding {what}")]
    Encode {
        /// The object.
        what: String,
        /// Why.
        #[source]
        source: berth_api::output::EncodeError,
    },
}

impl ClientError {
    /// The gRPC code, when the server answered.
    pub fn code(&self) -> Option<Code> {
        match self {
            ClientError::Status { source, .. } => Some(source.code()),
            _ => None,
        }
    }

    /// The object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(Code::NotFound)
    }

    /// The object changed since it was read (compare-and-swap failed).
    pub fn is_conflict(&self) -> bool {
        self.code() == Some(Code::Aborted)
    }

    /// The object exists already.
    pub fn is_already_exists(&self) -> bool {
        self.code() == Some(Code::AlreadyExists)
    }

    /// The watch's revision was compacted: list again.
    pub fn is_too_old(&self) -> bool {
        self.code() == Some(Code::OutOfRange)
    }
}

/// Options of [`Client::delete`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Delete only if the object is still at this version (0: any).
    pub resource_version: u64,
    /// A Pod's grace period (`None`: its own; `Some(0)`: at once).
    pub grace_period_seconds: Option<i64>,
}

/// A list and the revision it is consistent at.
#[derive(Debug, Clone)]
pub struct List<R> {
    /// The objects.
    pub items: Vec<R>,
    /// Watch from here to see every later change.
    pub resource_version: u64,
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<R> {
    /// Created or updated: the new state.
    Applied(R),
    /// Deleted: the last state.
    Deleted(R),
}

/// A typed watch event: the change and its revision.
pub type TypedEvent<R> = (Change<R>, u64);

/// A typed watch.
pub type TypedStream<R> = Pin<Box<dyn Stream<Item = Result<TypedEvent<R>, ClientError>> + Send>>;

#[derive(Clone)]
enum Transport {
    Remote(ApiClient),
    Local {
        api: LocalApi,
        auth: MetadataValue<Ascii>,
    },
}

/// A typed client of the Berth API. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    transport: Transport,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.transport {
            Transport::Remote(_) => "Client(remote)",
            Transport::Local { .. } => "Client(local)",
        })
    }
}

/// Calls `$method` on whichever transport the client has.
macro_rules! call {
    ($self:expr, $method:ident, $msg:expr) => {
        match &$self.transport {
            Transport::Remote(c) => c.clone().$method($msg).await.map(|r| r.into_inner()),
            Transport::Local { api, auth } => {
                let mut req = Request::new($msg);
                req.metadata_mut().insert("authorization", auth.clone());
                api.$method(req).await.map(|r| r.into_inner())
            }
        }
    };
}

fn decode<R: Resource + TryFrom<Object>>(bytes: &[u8]) -> Result<R, ClientError> {
    let obj = Object::from_json(bytes).map_err(|source| ClientError::Decode {
        kind: R::KIND,
        source,
    })?;
    let found = obj.kind();
    R::try_from(obj).map_err(|_| ClientError::WrongKind {
        expected: R::KIND,
        found,
    })
}

fn encode<R: Resource>(obj: &R) -> Result<WriteRequest, ClientError> {
    let object: Object = obj.clone().into();
    let object_json = object.to_json().map_err(|source| ClientError::Encode {
        what: object.key().to_string(),
        source,
    })?;
    Ok(WriteRequest { object_json })
}

fn status(verb: &'static str, what: impl std::fmt::Display) -> impl FnOnce(Status) -> ClientError {
    move |source| ClientError::Status {
        verb,
        what: what.to_string(),
        source,
    }
}

impl Client {
    /// A client over a TLS connection ([`crate::connect`]).
    pub fn remote(client: ApiClient) -> Self {
        Self {
            transport: Transport::Remote(client),
        }
    }

    /// A client calling the API service in this process with `token`.
    pub fn local(api: LocalApi, token: &str) -> Self {
        let auth = format!("Bearer {token}")
            .parse()
            .unwrap_or_else(|_| MetadataValue::from_static("Bearer invalid"));
        Self {
            transport: Transport::Local { api, auth },
        }
    }

    /// The object, or `None` if there is none.
    pub async fn get<R: Resource + TryFrom<Object>>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<R>, ClientError> {
        let key = ObjectKey {
            kind: R::KIND.name().into(),
            namespace: namespace.into(),
            name: name.into(),
        };
        match call!(self, get, key) {
            Ok(reply) => decode(&reply.object_json).map(Some),
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(status("get", format!("{} {namespace}/{name}", R::KIND))(s)),
        }
    }

    /// Every object of the kind in `namespace` (every namespace when empty)
    /// matching `label_selector` (kubectl's `-l` syntax; empty: all).
    pub async fn list<R: Resource + TryFrom<Object>>(
        &self,
        namespace: &str,
        label_selector: &str,
    ) -> Result<List<R>, ClientError> {
        let req = ListRequest {
            kind: R::KIND.name().into(),
            namespace: namespace.into(),
            label_selector: label_selector.into(),
        };
        let reply = call!(self, list, req).map_err(status("list", R::KIND.plural()))?;
        let items = reply
            .items_json
            .iter()
            .map(|b| decode(b))
            .collect::<Result<_, _>>()?;
        Ok(List {
            items,
            resource_version: reply.resource_version,
        })
    }

    /// Creates `obj`; returns it as stored.
    pub async fn create<R: Resource + TryFrom<Object>>(&self, obj: &R) -> Result<R, ClientError> {
        let req = encode(obj)?;
        let reply = call!(self, create, req).map_err(status("create", obj.key()))?;
        decode(&reply.object_json)
    }

    /// Replaces `obj` (CAS on its resourceVersion); the status stays.
    pub async fn update<R: Resource + TryFrom<Object>>(&self, obj: &R) -> Result<R, ClientError> {
        let req = encode(obj)?;
        let reply = call!(self, update, req).map_err(status("update", obj.key()))?;
        decode(&reply.object_json)
    }

    /// Replaces `obj`'s status (CAS on its resourceVersion); nothing else.
    pub async fn update_status<R: Resource + TryFrom<Object>>(
        &self,
        obj: &R,
    ) -> Result<R, ClientError> {
        let req = encode(obj)?;
        let reply =
            call!(self, update_status, req).map_err(status("update status of", obj.key()))?;
        decode(&reply.object_json)
    }

    /// Creates or replaces `obj`.
    pub async fn apply<R: Resource + TryFrom<Object>>(&self, obj: &R) -> Result<R, ClientError> {
        let req = encode(obj)?;
        let reply = call!(self, apply, req).map_err(status("apply", obj.key()))?;
        decode(&reply.object_json)
    }

    /// Deletes an object; returns its last state (a Pod on a node: its
    /// terminating state). Not found is an error ([`ClientError::is_not_found`]).
    pub async fn delete(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        opts: DeleteOptions,
    ) -> Result<Object, ClientError> {
        let req = DeleteRequest {
            key: Some(ObjectKey {
                kind: kind.name().into(),
                namespace: namespace.into(),
                name: name.into(),
            }),
            resource_version: opts.resource_version,
            grace_period_seconds: opts.grace_period_seconds,
        };
        let reply = call!(self, delete, req)
            .map_err(status("delete", format!("{kind} {namespace}/{name}")))?;
        Object::from_json(&reply.object_json).map_err(|source| ClientError::Decode { kind, source })
    }

    /// Binds a pending Pod to `node` (CAS on `resource_version` unless 0).
    pub async fn bind(
        &self,
        namespace: &str,
        name: &str,
        node: &str,
        resource_version: u64,
    ) -> Result<berth_api::Pod, ClientError> {
        let req = BindRequest {
            namespace: namespace.into(),
            name: name.into(),
            node: node.into(),
            resource_version,
        };
        let reply = call!(self, bind, req)
            .map_err(status("bind", format!("Pod {namespace}/{name} to {node}")))?;
        decode(&reply.object_json)
    }

    /// A node credential for `node`: for the bootstrap token, the node's
    /// own credential (a fresh one: rotation) or the admin.
    pub async fn issue_node_credential(&self, node: &str) -> Result<NodeCredential, ClientError> {
        let req = NodeCredentialRequest { node: node.into() };
        call!(self, issue_node_credential, req)
            .map_err(status("issue a credential", format!("for node {node}")))
    }

    /// Revokes every credential of `node` (admin); how many there were.
    pub async fn revoke_node_credential(&self, node: &str) -> Result<u32, ClientError> {
        let req = NodeCredentialRequest { node: node.into() };
        call!(self, revoke_node_credential, req)
            .map(|r| r.revoked)
            .map_err(status("revoke the credentials", format!("of node {node}")))
    }

    /// Replaces the bootstrap token (admin); `ttl_seconds` 0: the server's
    /// default lifetime.
    pub async fn rotate_bootstrap_token(
        &self,
        ttl_seconds: u64,
    ) -> Result<BootstrapToken, ClientError> {
        let req = RotateBootstrapRequest { ttl_seconds };
        call!(self, rotate_bootstrap_token, req).map_err(status("rotate", "the bootstrap token"))
    }

    /// Every change to objects of the kind in `namespace` (all when empty)
    /// after `resource_version`, in order.
    pub async fn watch<R: Resource + TryFrom<Object>>(
        &self,
        namespace: &str,
        resource_version: u64,
    ) -> Result<TypedStream<R>, ClientError> {
        let req = WatchRequest {
            kind: R::KIND.name().into(),
            namespace: namespace.into(),
            resource_version,
        };
        let what = R::KIND.plural();
        let stream: EventStream = match &self.transport {
            Transport::Remote(c) => Box::pin(
                c.clone()
                    .watch(req)
                    .await
                    .map_err(status("watch", what))?
                    .into_inner(),
            ),
            Transport::Local { api, auth } => {
                let mut r = Request::new(req);
                r.metadata_mut().insert("authorization", auth.clone());
                api.watch(r)
                    .await
                    .map_err(status("watch", what))?
                    .into_inner()
            }
        };
        Ok(Box::pin(stream.map(move |ev| {
            let ev = ev.map_err(status("watch", what))?;
            let obj = decode::<R>(&ev.object_json)?;
            let change = if ev.r#type == crate::proto::watch_event::Type::Deleted as i32 {
                Change::Deleted(obj)
            } else {
                Change::Applied(obj)
            };
            Ok((change, ev.resource_version))
        })))
    }
}
