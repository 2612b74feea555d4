//! The `berth.v1.Api` service.

use std::sync::Arc;

use berth_api::{Kind, Object, ObjectKey, Time};
use berth_client::proto::api_server::Api;
use berth_client::proto::{
    BindRequest, BootstrapToken, DeleteRequest, ListReply, ListRequest, NodeCredential,
    NodeCredentialRequest, ObjectKey as ProtoKey, ObjectReply, RevokeReply, RotateBootstrapRequest,
    WatchRequest, WriteRequest,
};
use berth_store::{Bytes, Item, Store};
use tonic::{Request, Response, Status};

use super::access::{Lifetimes, everything};
use super::{errors, store_key, store_prefix};
use super::{pods, services, status};
use crate::alloc::Allocator;
use crate::auth::{NodeCredentials, Tokens, Verb};

type Reply<T> = Result<Response<T>, Status>;

/// Which part of an object an update writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Everything but the status (Update, Apply).
    Spec,
    /// Only the status (UpdateStatus).
    Status,
}

/// The API over a store.
#[derive(Debug, Clone)]
pub struct ApiService {
    pub(super) store: Arc<dyn Store>,
    pub(super) tokens: Tokens,
    pub(super) credentials: NodeCredentials,
    /// The lifetime of a rotated bootstrap token unless the request says.
    pub(super) bootstrap_ttl: Option<std::time::Duration>,
    draining: tokio::sync::watch::Receiver<bool>,
    alloc: Arc<Allocator>,
}

impl ApiService {
    /// Serves `store`, admitting the holders of `tokens` and of node
    /// credentials (issued living `lifetimes.node_credential`); watches end
    /// when `draining` turns true (so a graceful shutdown does not wait for
    /// them).
    pub fn new(
        store: Arc<dyn Store>,
        tokens: Tokens,
        lifetimes: Lifetimes,
        draining: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        Self {
            alloc: Arc::new(Allocator::new(store.clone())),
            credentials: NodeCredentials::new(store.clone(), lifetimes.node_credential),
            bootstrap_ttl: lifetimes.bootstrap_token,
            store,
            tokens,
            draining,
        }
    }
}

fn kind_of(name: &str) -> Result<Kind, Status> {
    Kind::from_kind_name(name)
        .or_else(|| Kind::from_resource_name(name).ok())
        .ok_or_else(|| {
            Status::not_found(format!("the server doesn't have a resource type {name:?}"))
        })
}

fn key_of(k: &ProtoKey) -> Result<ObjectKey, Status> {
    let kind = kind_of(&k.kind)?;
    if k.name.is_empty() {
        return Err(errors::invalid(
            None,
            "metadata.name: Required value: name is required",
        ));
    }
    let ns = if k.namespace.is_empty() {
        berth_api::DEFAULT_NAMESPACE
    } else {
        &k.namespace
    };
    Ok(ObjectKey::new(kind, ns, &k.name))
}

/// Decodes, defaults and validates an object sent by a client.
fn incoming(bytes: &[u8]) -> Result<Object, Status> {
    let mut obj =
        Object::from_json(bytes).map_err(|e| errors::invalid(None, berth_api::error_chain(&e)))?;
    obj.apply_defaults();
    let key = obj.key();
    obj.validate().map_err(|e| errors::invalid(Some(&key), e))?;
    Ok(obj)
}

/// A stored object with its resourceVersion filled in.
pub(super) fn decode_stored(item: &Item) -> Result<Object, Status> {
    let mut obj = Object::from_json(&item.value)
        .map_err(|e| Status::internal(format!("stored {} does not decode: {e}", item.key)))?;
    obj.metadata_mut().resource_version = item.mod_revision.to_string();
    Ok(obj)
}

fn encode(obj: &Object) -> Result<Vec<u8>, Status> {
    obj.to_json()
        .map_err(|e| Status::internal(format!("encoding {}: {e}", obj.key())))
}

/// The bytes to store: no resourceVersion (it is the store's revision).
fn for_store(obj: &Object) -> Result<Bytes, Status> {
    let mut copy = obj.clone();
    copy.metadata_mut().resource_version.clear();
    Ok(Bytes::from(encode(&copy)?))
}

fn random_uid() -> String {
    use std::io::Read as _;
    let mut b = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn reply(obj: &Object) -> Reply<ObjectReply> {
    Ok(Response::new(ObjectReply {
        object_json: encode(obj)?,
    }))
}

/// A delete that lost a compare-and-swap, or failed.
enum Retry {
    Conflict(Status),
    Fail(Status),
}

impl From<Status> for Retry {
    fn from(s: Status) -> Self {
        Retry::Fail(s)
    }
}

fn store_err(key: &ObjectKey, e: berth_store::StoreError) -> Retry {
    if matches!(e, berth_store::StoreError::Conflict { .. }) {
        Retry::Conflict(errors::store(key, e))
    } else {
        Retry::Fail(errors::store(key, e))
    }
}

impl ApiService {
    async fn do_delete(&self, key: &ObjectKey, r: &DeleteRequest) -> Result<Object, Retry> {
        let skey = store_key(key);
        let item = self
            .store
            .get(&skey)
            .await
            .map_err(|e| errors::store(key, e))?
            .ok_or_else(|| {
                Status::not_found(format!("{} {:?} not found", key.kind.plural(), key.name))
            })?;
        let expected = match r.resource_version {
            0 => item.mod_revision,
            rv => rv,
        };
        let mut obj = decode_stored(&item)?;
        if let Some(terminating) = pods::graceful_delete(&obj, r.grace_period_seconds, Time::now())
        {
            // A Pod on a node: its agent stops it, then deletes it for good.
            let rev = match terminating {
                pods::Graceful::Begin(pod) => {
                    let rev = self
                        .store
                        .update(&skey, for_store(&pod)?, expected)
                        .await
                        .map_err(|e| store_err(key, e))?;
                    obj = *pod;
                    rev
                }
                pods::Graceful::Already => item.mod_revision,
            };
            obj.metadata_mut().resource_version = rev.to_string();
            return Ok(obj);
        }
        let rev = self
            .store
            .delete(&skey, Some(expected))
            .await
            .map_err(|e| store_err(key, e))?;
        if let Object::Service(svc) = &obj {
            let (ips, ports) = services::held(svc);
            self.alloc.release(&ips, &ports, &key.path()).await;
        }
        obj.metadata_mut().resource_version = rev.to_string();
        Ok(obj)
    }

    async fn do_create(&self, mut obj: Object) -> Result<Object, Status> {
        let key = obj.key();
        if !obj.metadata().resource_version.is_empty() {
            return Err(errors::invalid(
                Some(&key),
                "metadata.resourceVersion: Invalid value: must be empty on create",
            ));
        }
        obj.clear_status();
        if let Object::Service(svc) = &mut obj {
            // NodePort and LoadBalancer: accepted, not served by the data plane yet.
            svc.set_data_plane_condition(Time::now());
        }
        let meta = obj.metadata_mut();
        meta.uid = random_uid();
        meta.creation_timestamp = Some(Time::now());
        meta.generation = 1;
        let owner = key.path();
        if let Object::Service(svc) = &mut obj {
            // An existing Service of that name owns addresses under the same
            // owner: refuse before allocating anything.
            let existing = self.store.get(&store_key(&key)).await;
            if matches!(existing, Ok(Some(_))) {
                return Err(errors::store(
                    &key,
                    berth_store::StoreError::AlreadyExists {
                        key: store_key(&key),
                        mod_revision: 0,
                    },
                ));
            }
            services::allocate(&self.alloc, svc, &owner)
                .await
                .map_err(|e| errors::invalid(Some(&key), e))?;
        }
        let created = self.store.create(&store_key(&key), for_store(&obj)?).await;
        let rev = match created {
            Ok(rev) => rev,
            Err(e) => {
                // Nothing half-done: give back what was allocated for it.
                if let Object::Service(svc) = &obj {
                    let (ips, ports) = services::held(svc);
                    self.alloc.release(&ips, &ports, &owner).await;
                }
                return Err(errors::store(&key, e));
            }
        };
        obj.metadata_mut().resource_version = rev.to_string();
        Ok(obj)
    }

    async fn do_update(
        &self,
        obj: Object,
        old: Option<Item>,
        part: Part,
    ) -> Result<Object, Status> {
        let key = obj.key();
        let skey = store_key(&key);
        let old = match old {
            Some(item) => item,
            None => self
                .store
                .get(&skey)
                .await
                .map_err(|e| errors::store(&key, e))?
                .ok_or_else(|| {
                    errors::store(
                        &key,
                        berth_store::StoreError::NotFound { key: skey.clone() },
                    )
                })?,
        };
        let expected = match obj.metadata().resource_version.as_str() {
            "" => old.mod_revision,
            rv => rv.parse().map_err(|_| {
                errors::invalid(
                    Some(&key),
                    format!("metadata.resourceVersion: Invalid value: {rv:?}: must be a number"),
                )
            })?,
        };
        let previous = decode_stored(&old)?;
        let mut obj = match part {
            Part::Spec => status::splice(&obj, &previous)?,
            Part::Status => status::splice(&previous, &obj)?,
        };
        {
            // Deletion is requested through Delete only.
            let (ts, grace) = {
                let m = previous.metadata();
                (m.deletion_timestamp, m.deletion_grace_period_seconds)
            };
            let m = obj.metadata_mut();
            m.deletion_timestamp = ts;
            m.deletion_grace_period_seconds = grace;
        }
        if let (Object::Service(new), Object::Service(prev)) = (&mut obj, &previous) {
            services::carry_over(new, prev);
        }
        // The scheduler's binding is the server's, as a clusterIP is: an
        // applied manifest without a nodeName keeps it (kubectl apply
        // leaves fields it never set alone).
        if let (Object::Pod(new), Object::Pod(prev)) = (&mut obj, &previous)
            && new.spec.node_name.is_empty()
        {
            new.spec.node_name.clone_from(&prev.spec.node_name);
        }
        obj.validate_update(&previous)
            .map_err(|e| errors::invalid(Some(&key), e))?;
        let owner = key.path();
        if let Object::Service(svc) = &mut obj {
            services::allocate(&self.alloc, svc, &owner)
                .await
                .map_err(|e| errors::invalid(Some(&key), e))?;
        }
        let spec_changed = status::spec_changed(&obj, &previous);
        let (uid, created, generation) = {
            let m = previous.metadata();
            (m.uid.clone(), m.creation_timestamp, m.generation)
        };
        let meta = obj.metadata_mut();
        meta.uid = uid;
        meta.creation_timestamp = created;
        meta.generation = match part {
            Part::Spec if spec_changed => generation.max(1) + 1,
            _ => generation.max(1),
        };
        let rev = self
            .store
            .update(&skey, for_store(&obj)?, expected)
            .await
            .map_err(|e| errors::store(&key, e))?;
        if let (Object::Service(new), Object::Service(prev)) = (&obj, &previous) {
            // Node ports the Service no longer has.
            let (_, now) = services::held(new);
            let (_, before) = services::held(prev);
            let dropped: Vec<u16> = before.into_iter().filter(|p| !now.contains(p)).collect();
            self.alloc.release(&[], &dropped, &owner).await;
        }
        obj.metadata_mut().resource_version = rev.to_string();
        Ok(obj)
    }
}

#[tonic::async_trait]
impl Api for ApiService {
    async fn create(&self, req: Request<WriteRequest>) -> Reply<ObjectReply> {
        let obj = incoming(&req.get_ref().object_json)?;
        self.check_object(&req, Verb::Create, &obj).await?;
        reply(&self.do_create(obj).await?)
    }

    async fn update(&self, req: Request<WriteRequest>) -> Reply<ObjectReply> {
        let obj = incoming(&req.get_ref().object_json)?;
        self.check_object(&req, Verb::Update, &obj).await?;
        if obj.metadata().resource_version.is_empty() {
            return Err(errors::invalid(
                Some(&obj.key()),
                "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
            ));
        }
        reply(&self.do_update(obj, None, Part::Spec).await?)
    }

    async fn update_status(&self, req: Request<WriteRequest>) -> Reply<ObjectReply> {
        let obj = incoming(&req.get_ref().object_json)?;
        self.check_object(&req, Verb::UpdateStatus, &obj).await?;
        reply(&self.do_update(obj, None, Part::Status).await?)
    }

    async fn bind(&self, req: Request<BindRequest>) -> Reply<ObjectReply> {
        let r = req.get_ref();
        let ns = if r.namespace.is_empty() {
            berth_api::DEFAULT_NAMESPACE
        } else {
            &r.namespace
        };
        let key = ObjectKey::new(Kind::Pod, ns, &r.name);
        self.check_key(&req, Verb::Bind, &key).await?;
        let item = self
            .store
            .get(&store_key(&key))
            .await
            .map_err(|e| errors::store(&key, e))?
            .ok_or_else(|| Status::not_found(format!("pods {:?} not found", key.name)))?;
        let expected = match r.resource_version {
            0 => item.mod_revision,
            rv => rv,
        };
        let bound = pods::bind(decode_stored(&item)?, &r.node, Time::now())?;
        let rev = self
            .store
            .update(&store_key(&key), for_store(&bound)?, expected)
            .await
            .map_err(|e| errors::store(&key, e))?;
        let mut bound = bound;
        bound.metadata_mut().resource_version = rev.to_string();
        reply(&bound)
    }

    async fn apply(&self, req: Request<WriteRequest>) -> Reply<ObjectReply> {
        let obj = incoming(&req.get_ref().object_json)?;
        self.check_object(&req, Verb::Create, &obj).await?;
        self.check_object(&req, Verb::Update, &obj).await?;
        let key = obj.key();
        // Apply has no precondition: a controller writing the status
        // meanwhile must not make it fail, so a lost CAS is retried.
        let mut tries = 0;
        loop {
            let existing = self
                .store
                .get(&store_key(&key))
                .await
                .map_err(|e| errors::store(&key, e))?;
            let mut obj = obj.clone();
            let done = match existing {
                None => self.do_create(obj).await,
                Some(item) => {
                    obj.metadata_mut().resource_version = item.mod_revision.to_string();
                    self.do_update(obj, Some(item), Part::Spec).await
                }
            };
            match done {
                Err(s)
                    if tries < 16
                        && matches!(
                            s.code(),
                            tonic::Code::Aborted | tonic::Code::AlreadyExists
                        ) =>
                {
                    tries += 1;
                }
                done => return reply(&done?),
            }
        }
    }

    async fn get(&self, req: Request<ProtoKey>) -> Reply<ObjectReply> {
        let key = key_of(req.get_ref())?;
        self.check_key(&req, Verb::Get, &key).await?;
        let item = self
            .store
            .get(&store_key(&key))
            .await
            .map_err(|e| errors::store(&key, e))?
            .ok_or_else(|| {
                Status::not_found(format!("{} {:?} not found", key.kind.plural(), key.name))
            })?;
        reply(&decode_stored(&item)?)
    }

    async fn delete(&self, req: Request<DeleteRequest>) -> Reply<ObjectReply> {
        let r = req.get_ref();
        let key = key_of(
            r.key
                .as_ref()
                .ok_or_else(|| Status::invalid_argument("key: Required value"))?,
        )?;
        self.check_key(&req, Verb::Delete, &key).await?;
        // Without a precondition a delete must not lose to a controller's
        // concurrent status write: read again and retry.
        let mut tries = 0;
        loop {
            match self.do_delete(&key, r).await {
                Err(Retry::Conflict(_)) if r.resource_version == 0 && tries < 16 => tries += 1,
                Err(Retry::Conflict(s) | Retry::Fail(s)) => return Err(s),
                Ok(obj) => {
                    if key.kind == Kind::Node {
                        // A deleted Node's credentials go with it.
                        let n = self
                            .credentials
                            .revoke(&key.name)
                            .await
                            .map_err(errors::auth)?;
                        tracing::info!(node = %key.name, revoked = n, "node deleted: credentials revoked");
                    }
                    return reply(&obj);
                }
            }
        }
    }

    async fn list(&self, req: Request<ListRequest>) -> Reply<ListReply> {
        let r = req.get_ref();
        let kind = kind_of(&r.kind)?;
        self.check(&req, everything(Verb::List, kind, &r.namespace))
            .await?;
        let selector = berth_api::selector::parse(&r.label_selector)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let (items, revision) = self
            .store
            .list(&store_prefix(kind, &r.namespace))
            .await
            .map_err(|e| Status::unavailable(format!("storage: {e}")))?;
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            let obj = decode_stored(item)?;
            if selector.matches(&obj.metadata().labels) {
                out.push(encode(&obj)?);
            }
        }
        Ok(Response::new(ListReply {
            items_json: out,
            resource_version: revision,
        }))
    }

    type WatchStream = super::watch::EventStream;

    async fn watch(&self, req: Request<WatchRequest>) -> Reply<Self::WatchStream> {
        let r = req.get_ref();
        let kind = kind_of(&r.kind)?;
        self.check(&req, everything(Verb::Watch, kind, &r.namespace))
            .await?;
        let stream = self
            .store
            .watch(&store_prefix(kind, &r.namespace), r.resource_version)
            .await
            .map_err(|e| {
                if e.is_compacted() {
                    Status::out_of_range(e.to_string())
                } else {
                    Status::unavailable(format!("storage: {e}"))
                }
            })?;
        let events = super::watch::events(stream, self.draining.clone());
        Ok(Response::new(match self.until_refused(&req).await? {
            Some(refused) => super::watch::until(events, refused),
            None => events,
        }))
    }

    async fn issue_node_credential(
        &self,
        req: Request<NodeCredentialRequest>,
    ) -> Reply<NodeCredential> {
        self.issue_credential(req).await
    }

    async fn revoke_node_credential(
        &self,
        req: Request<NodeCredentialRequest>,
    ) -> Reply<RevokeReply> {
        self.revoke_credentials(req).await
    }

    async fn rotate_bootstrap_token(
        &self,
        req: Request<RotateBootstrapRequest>,
    ) -> Reply<BootstrapToken> {
        self.rotate_bootstrap(req).await
    }
}
