//! The ReplicaSet controller: as many live Pods as `spec.replicas`, made
//! from the template, owned by the ReplicaSet; the status counts them.
//!
//! Pods are created with generated names, so a stale cache could make the
//! same Pod twice: after its writes a reconcile waits until the Pod cache
//! shows them ([`Ctx::caught_up`]), so the next one (never concurrent for
//! one key) counts them.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use berth_api::meta::OwnerReference;
use berth_api::pod::PodPhase;
use berth_api::{Kind, ObjectMeta, Pod, ReplicaSet, Time};
use berth_client::DeleteOptions;
use berth_client::cache::Reflector;
use futures_util::future::join_all;

use super::{Ctx, Error, error::api, names, owner_named, revision_of};
use crate::runtime::{Action, ObjectRef, Queue, Reconciler};

/// Pods created or deleted at once.
const BATCH: usize = 32;

/// Registers what queues a ReplicaSet: itself, its Pods, its owner's changes.
pub(super) fn watch(
    queue: &Queue<ObjectRef>,
    replicasets: &mut Reflector<ReplicaSet>,
    pods: &mut Reflector<Pod>,
    deployments: &mut Reflector<berth_api::Deployment>,
) {
    let q = queue.clone();
    replicasets.on_change(move |n| q.add(ObjectRef::of(n.object().as_ref())));
    let q = queue.clone();
    pods.on_change(move |n| {
        for p in [&n.old, &n.new].into_iter().flatten() {
            if let Some(rs) = owner_named(p.as_ref(), "ReplicaSet") {
                q.add(ObjectRef::new(&p.metadata.namespace, rs));
            }
        }
    });
    // A deleted Deployment: its ReplicaSets find their owner gone.
    let q = queue.clone();
    let rs_cache = replicasets.cache();
    deployments.on_change(move |n| {
        if n.new.is_none() {
            let d = n.object();
            for rs in rs_cache.list_namespace(&d.metadata.namespace) {
                if owner_named(rs.as_ref(), "Deployment") == Some(d.metadata.name.as_str()) {
                    q.add(ObjectRef::of(rs.as_ref()));
                }
            }
        }
    });
}

/// Reconciles ReplicaSets.
#[derive(Debug)]
pub struct ReplicaSetController {
    ctx: Arc<Ctx>,
}

impl ReplicaSetController {
    /// Over `ctx`.
    pub fn new(ctx: Arc<Ctx>) -> Self {
        Self { ctx }
    }
}

/// Whether a Pod still counts: not terminating and not ended.
pub fn is_active(p: &Pod) -> bool {
    !p.metadata.is_deleting() && !matches!(p.status.phase, PodPhase::Succeeded | PodPhase::Failed)
}

/// When the Pod last became Ready, if it is Ready.
pub fn ready_since(p: &Pod) -> Option<Time> {
    p.status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == berth_api::meta::ConditionStatus::True)
        .map(|c| c.last_transition_time.unwrap_or_default())
}

/// Whether the Pod has been Ready for `min_ready` at `now`; `Err(wait)` if
/// it is Ready but not for long enough yet.
pub fn available(p: &Pod, min_ready: i32, now: Time) -> Result<bool, Duration> {
    let Some(since) = ready_since(p) else {
        return Ok(false);
    };
    if min_ready <= 0 {
        return Ok(true);
    }
    let at = since.unix_seconds() + i64::from(min_ready);
    if now.unix_seconds() >= at {
        Ok(true)
    } else {
        Err(Duration::from_secs((at - now.unix_seconds()) as u64))
    }
}

/// The order Pods are deleted in when scaling down (first goes first), as
/// Kubernetes ranks them: unbound before bound, pending before running,
/// not ready before ready, recently ready before long ready, newer before
/// older.
pub fn deletion_order(a: &Pod, b: &Pod) -> Ordering {
    let bound = |p: &Pod| !p.spec.node_name.is_empty();
    let running = |p: &Pod| p.status.phase == PodPhase::Running;
    let ready = |p: &Pod| ready_since(p).is_some();
    bound(a)
        .cmp(&bound(b))
        .then(running(a).cmp(&running(b)))
        .then(ready(a).cmp(&ready(b)))
        .then_with(|| ready_since(b).cmp(&ready_since(a)))
        .then_with(|| {
            b.metadata
                .creation_timestamp
                .cmp(&a.metadata.creation_timestamp)
        })
}

/// A new Pod of `rs`.
pub fn pod_for(rs: &ReplicaSet) -> Pod {
    let t = &rs.spec.template;
    let mut meta = ObjectMeta::named(
        &rs.metadata.namespace,
        &names::generate(&rs.metadata.name, 63),
    );
    meta.labels = t.metadata.labels.clone();
    meta.annotations = t.metadata.annotations.clone();
    meta.owner_references = vec![OwnerReference::controller_of(rs)];
    Pod {
        metadata: meta,
        spec: t.spec.clone(),
        ..Pod::default()
    }
}

impl ReplicaSetController {
    /// Deletes the Pods whose ReplicaSet `key` is gone (or was replaced).
    async fn orphans(&self, key: &ObjectRef, uid: Option<&str>) -> Result<(), Error> {
        let orphans = self.ctx.pods.filter(|p| {
            p.metadata.namespace == key.namespace
                && p.metadata.controller().is_some_and(|o| {
                    o.kind == "ReplicaSet" && o.name == key.name && Some(o.uid.as_str()) != uid
                })
                && !p.metadata.is_deleting()
        });
        for p in orphans {
            self.delete_pod(&p).await?;
        }
        Ok(())
    }

    async fn delete_pod(&self, p: &Pod) -> Result<u64, Error> {
        match self
            .ctx
            .client
            .delete(
                Kind::Pod,
                &p.metadata.namespace,
                &p.metadata.name,
                DeleteOptions::default(),
            )
            .await
        {
            Ok(obj) => Ok(obj.metadata().resource_version.parse().unwrap_or(0)),
            Err(e) if e.is_not_found() => Ok(0),
            Err(e) => Err(api(format!(
                "deleting pod {}/{}",
                p.metadata.namespace, p.metadata.name
            ))(e)),
        }
    }

    async fn create_pod(&self, rs: &ReplicaSet) -> Result<u64, Error> {
        loop {
            let pod = pod_for(rs);
            match self.ctx.client.create(&pod).await {
                Ok(p) => return Ok(revision_of(&p)),
                // A generated name taken: another one.
                Err(e) if e.is_already_exists() => continue,
                Err(e) => {
                    return Err(api(format!(
                        "creating pod {}/{}",
                        pod.metadata.namespace, pod.metadata.name
                    ))(e));
                }
            }
        }
    }

    /// Whether the owning Deployment is gone or is another one now.
    fn owner_gone(&self, rs: &ReplicaSet) -> bool {
        let Some(o) = rs.metadata.controller().filter(|o| o.kind == "Deployment") else {
            return false;
        };
        self.ctx.deployments.is_synced()
            && self
                .ctx
                .deployments
                .get(&rs.metadata.namespace, &o.name)
                .is_none_or(|d| d.metadata.uid != o.uid)
    }
}

impl Reconciler for ReplicaSetController {
    type Error = Error;

    fn name(&self) -> &'static str {
        "replicaset"
    }

    async fn reconcile(&self, key: &ObjectRef) -> Result<Action, Error> {
        let ctx = &self.ctx;
        ctx.synced().await;
        let Some(rs) = ctx.replicasets.get(&key.namespace, &key.name) else {
            self.orphans(key, None).await?;
            return Ok(Action::Done);
        };
        if rs.metadata.is_deleting() {
            return Ok(Action::Done);
        }
        if self.owner_gone(&rs) {
            tracing::info!("owner deployment gone: deleting the replica set");
            match ctx
                .client
                .delete(
                    Kind::ReplicaSet,
                    &key.namespace,
                    &key.name,
                    DeleteOptions::default(),
                )
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(api(format!("deleting replica set {key}"))(e)),
            }
            return Ok(Action::Done);
        }
        self.orphans(key, Some(&rs.metadata.uid)).await?;
        let owned = |p: &Pod| {
            p.metadata.namespace == key.namespace
                && p.metadata
                    .controller()
                    .is_some_and(|o| o.uid == rs.metadata.uid)
        };
        let mut active: Vec<Arc<Pod>> = ctx.pods.filter(|p| owned(p) && is_active(p));
        let want = rs.spec.replicas.max(0) as usize;
        let mut last_write = 0u64;
        if active.len() < want {
            let missing = want - active.len();
            tracing::debug!(missing, "creating pods");
            for chunk in (0..missing).collect::<Vec<_>>().chunks(BATCH) {
                let made = join_all(chunk.iter().map(|_| self.create_pod(&rs))).await;
                for r in made {
                    last_write = last_write.max(r?);
                }
            }
        } else if active.len() > want {
            active.sort_by(|a, b| deletion_order(a, b));
            let extra: Vec<_> = active.drain(..active.len() - want).collect();
            tracing::debug!(extra = extra.len(), "deleting pods");
            for chunk in extra.chunks(BATCH) {
                let gone = join_all(chunk.iter().map(|p| self.delete_pod(p))).await;
                for r in gone {
                    last_write = last_write.max(r?);
                }
            }
        }
        if last_write > 0 {
            Ctx::caught_up(&ctx.pods, last_write).await?;
        }
        // Status from what the cache now shows.
        let now = Time::now();
        let pods: Vec<Arc<Pod>> = ctx.pods.filter(|p| owned(p) && is_active(p));
        let mut status = berth_api::replicaset::ReplicaSetStatus {
            replicas: pods.len() as i32,
            observed_generation: rs.metadata.generation,
            ..Default::default()
        };
        let mut wait: Option<Duration> = None;
        for p in &pods {
            if rs.spec.selector.matches(&p.metadata.labels) {
                status.fully_labeled_replicas += 1;
            }
            if ready_since(p).is_some() {
                status.ready_replicas += 1;
            }
            match available(p, rs.spec.min_ready_seconds, now) {
                Ok(true) => status.available_replicas += 1,
                Ok(false) => {}
                Err(w) => wait = Some(wait.map_or(w, |x| x.min(w))),
            }
        }
        if status != rs.status {
            let mut updated = (*rs).clone();
            updated.status = status;
            match ctx.client.update_status(&updated).await {
                Ok(_) => {}
                // Changed meanwhile: the change queues it again.
                Err(e) if e.is_conflict() || e.is_not_found() => {}
                Err(e) => return Err(api(format!("updating the status of replica set {key}"))(e)),
            }
        }
        Ok(match wait {
            Some(w) => Action::RequeueAfter(w + Duration::from_millis(100)),
            None => Action::Done,
        })
    }
}

#[cfg(test)]
mod tests {
    use berth_api::meta::ConditionStatus;
    use berth_api::pod::PodCondition;

    use super::*;

    fn pod(name: &str, node: &str, phase: PodPhase, ready_at: Option<i64>) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = name.into();
        p.spec.node_name = node.into();
        p.status.phase = phase;
        if let Some(t) = ready_at {
            p.status.conditions.push(PodCondition {
                type_: "Ready".into(),
                status: ConditionStatus::True,
                last_transition_time: Some(Time::from_unix(t, 0)),
                ..PodCondition::default()
            });
        }
        p
    }

    #[test]
    fn scale_down_takes_the_least_useful_pods_first() {
        let mut pods = [
            pod("ready-old", "n1", PodPhase::Running, Some(100)),
            pod("unbound", "", PodPhase::Pending, None),
            pod("ready-new", "n1", PodPhase::Running, Some(200)),
            pod("running-unready", "n1", PodPhase::Running, None),
            pod("pending", "n1", PodPhase::Pending, None),
        ];
        pods.sort_by(deletion_order);
        let order: Vec<_> = pods.iter().map(|p| p.metadata.name.as_str()).collect();
        assert_eq!(
            order,
            [
                "unbound",
                "pending",
                "running-unready",
                "ready-new",
                "ready-old"
            ]
        );
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let p = pod("a", "n1", PodPhase::Running, Some(100));
        assert_eq!(available(&p, 0, Time::from_unix(100, 0)), Ok(true));
        assert_eq!(
            available(&p, 10, Time::from_unix(104, 0)),
            Err(Duration::from_secs(6))
        );
        assert_eq!(available(&p, 10, Time::from_unix(110, 0)), Ok(true));
        let unready = pod("b", "n1", PodPhase::Running, None);
        assert_eq!(available(&unready, 0, Time::from_unix(100, 0)), Ok(false));
    }

    #[test]
    fn pods_carry_the_template_and_the_owner() {
        let mut rs = ReplicaSet {
            metadata: ObjectMeta::named("prod", "web-abc12"),
            ..ReplicaSet::default()
        };
        rs.metadata.uid = "u-1".into();
        rs.spec
            .template
            .metadata
            .labels
            .insert("app".into(), "web".into());
        let p = pod_for(&rs);
        assert!(p.metadata.name.starts_with("web-abc12-"));
        assert_eq!(p.metadata.namespace, "prod");
        assert_eq!(p.metadata.labels["app"], "web");
        let o = p.metadata.controller().unwrap();
        assert_eq!((o.kind.as_str(), o.uid.as_str()), ("ReplicaSet", "u-1"));
    }
}
