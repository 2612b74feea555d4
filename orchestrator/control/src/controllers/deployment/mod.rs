//! The Deployment controller: one ReplicaSet per pod-template revision
//! (named `<deployment>-<template hash>`, so `rollout undo` can come back to
//! an old one), the new one scaled up and the old ones down within
//! `maxSurge`/`maxUnavailable` (or all old ones first with `Recreate`),
//! old revisions pruned to `revisionHistoryLimit`, and the status.

pub mod rollout;

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_api::deployment::{DeploymentCondition, DeploymentStatus, DeploymentStrategyType};
use berth_api::meta::{ConditionStatus, OwnerReference};
use berth_api::replicaset::ReplicaSetSpec;
use berth_api::{Deployment, Kind, ObjectMeta, Pod, PodTemplateSpec, ReplicaSet, Time};
use berth_client::DeleteOptions;
use berth_client::cache::Reflector;

use super::events::Recorder;
use super::{Ctx, Error, error::api, names, owner_named, revision_of};
use crate::runtime::{Action, ObjectRef, Queue, Reconciler};
use rollout::Set;

/// The label that tells a ReplicaSet's pods from its siblings'.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The revision annotation on Deployments and their ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// Registers what queues a Deployment: itself, its ReplicaSets, their pods.
pub(super) fn watch(
    ctx: &Arc<Ctx>,
    queue: &Queue<ObjectRef>,
    deployments: &mut Reflector<Deployment>,
    replicasets: &mut Reflector<ReplicaSet>,
    pods: &mut Reflector<Pod>,
) {
    let q = queue.clone();
    deployments.on_change(move |n| q.add(ObjectRef::of(n.object().as_ref())));
    let q = queue.clone();
    replicasets.on_change(move |n| {
        let rs = n.object();
        if let Some(d) = owner_named(rs.as_ref(), "Deployment") {
            q.add(ObjectRef::new(&rs.metadata.namespace, d));
        }
    });
    // Recreate waits for old pods to be gone.
    let q = queue.clone();
    let rs_cache = ctx.replicasets.clone();
    pods.on_change(move |n| {
        if n.new.is_some() {
            return;
        }
        let p = n.object();
        if let Some(rs) = owner_named(p.as_ref(), "ReplicaSet")
            && let Some(rs) = rs_cache.get(&p.metadata.namespace, rs)
            && let Some(d) = owner_named(rs.as_ref(), "Deployment")
        {
            q.add(ObjectRef::new(&p.metadata.namespace, d));
        }
    });
}

/// Reconciles Deployments.
#[derive(Debug)]
pub struct DeploymentController {
    ctx: Arc<Ctx>,
    events: Recorder,
}

impl DeploymentController {
    /// Over `ctx`.
    pub fn new(ctx: Arc<Ctx>) -> Self {
        let events = Recorder::new(ctx.client.clone(), "deployment-controller");
        Self { ctx, events }
    }
}

/// The pod-template hash of a template (FNV-1a over its JSON, and the
/// collision count), in Kubernetes' safe alphabet.
pub fn template_hash(t: &PodTemplateSpec, collisions: i32) -> String {
    let mut bytes = serde_json_bytes(t);
    if collisions > 0 {
        bytes.extend_from_slice(&collisions.to_le_bytes());
    }
    names::safe_encode(names::fnv32a(&bytes))
}

fn serde_json_bytes(t: &PodTemplateSpec) -> Vec<u8> {
    serde_json::to_vec(t).unwrap_or_default()
}

/// Whether `rs` runs `template` (its own template without the hash label).
fn runs(rs: &ReplicaSet, template: &PodTemplateSpec) -> bool {
    let mut t = rs.spec.template.clone();
    t.metadata.labels.remove(POD_TEMPLATE_HASH);
    t == *template
}

fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotation(REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn set(rs: &ReplicaSet) -> Set {
    Set {
        replicas: rs.spec.replicas,
        available: rs.status.available_replicas,
    }
}

/// A ReplicaSet for `d`'s current template, at `revision`.
fn new_replicaset(d: &Deployment, hash: &str, replicas: i32, revision: i64) -> ReplicaSet {
    let mut template = d.spec.template.clone();
    template
        .metadata
        .labels
        .insert(POD_TEMPLATE_HASH.into(), hash.into());
    let mut selector = d.spec.selector.clone();
    selector
        .match_labels
        .insert(POD_TEMPLATE_HASH.into(), hash.into());
    let mut meta = ObjectMeta::named(
        &d.metadata.namespace,
        &format!("{}-{hash}", d.metadata.name),
    );
    meta.labels = template.metadata.labels.clone();
    meta.annotations = BTreeMap::from([(REVISION.to_owned(), revision.to_string())]);
    meta.owner_references = vec![OwnerReference::controller_of(d)];
    ReplicaSet {
        metadata: meta,
        spec: ReplicaSetSpec {
            replicas,
            min_ready_seconds: d.spec.min_ready_seconds,
            selector,
            template,
        },
        ..ReplicaSet::default()
    }
}

impl DeploymentController {
    async fn scale(&self, d: &Deployment, rs: &mut ReplicaSet, to: i32) -> Result<(), Error> {
        if rs.spec.replicas == to && rs.spec.min_ready_seconds == d.spec.min_ready_seconds {
            return Ok(());
        }
        let from = rs.spec.replicas;
        let mut updated = rs.clone();
        updated.spec.replicas = to;
        updated.spec.min_ready_seconds = d.spec.min_ready_seconds;
        let key = format!("{}/{}", rs.metadata.namespace, rs.metadata.name);
        *rs = self
            .ctx
            .client
            .update(&updated)
            .await
            .map_err(api(format!("scaling replica set {key} to {to}")))?;
        if from != to {
            let verb = if to > from { "up" } else { "down" };
            self.events.normal(
                d,
                "ScalingReplicaSet",
                format!(
                    "Scaled {verb} replica set {} from {from} to {to}",
                    rs.metadata.name
                ),
            );
        }
        Ok(())
    }

    /// Deletes ReplicaSets named after `key` that belong to no live Deployment.
    async fn orphans(&self, key: &ObjectRef, uid: Option<&str>) -> Result<(), Error> {
        let gone = self.ctx.replicasets.filter(|rs| {
            rs.metadata.namespace == key.namespace
                && rs.metadata.controller().is_some_and(|o| {
                    o.kind == "Deployment" && o.name == key.name && Some(o.uid.as_str()) != uid
                })
        });
        for rs in gone {
            self.delete_rs(&rs).await?;
        }
        Ok(())
    }

    async fn delete_rs(&self, rs: &ReplicaSet) -> Result<(), Error> {
        let (ns, name) = (&rs.metadata.namespace, &rs.metadata.name);
        match self
            .ctx
            .client
            .delete(Kind::ReplicaSet, ns, name, DeleteOptions::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(api(format!("deleting replica set {ns}/{name}"))(e)),
        }
    }

    /// Finds or makes the ReplicaSet of the current template.
    async fn current(
        &self,
        d: &Deployment,
        sets: &mut Vec<ReplicaSet>,
        initial: i32,
    ) -> Result<usize, Error> {
        let max_revision = sets.iter().map(revision).max().unwrap_or(0);
        if let Some(i) = sets.iter().position(|rs| runs(rs, &d.spec.template)) {
            // Back to an old template (rollback): it becomes the newest revision.
            if revision(&sets[i]) < max_revision {
                let mut rs = sets[i].clone();
                rs.metadata
                    .annotations
                    .insert(REVISION.into(), (max_revision + 1).to_string());
                sets[i] = self
                    .ctx
                    .client
                    .update(&rs)
                    .await
                    .map_err(api(format!("updating replica set {}", rs.metadata.name)))?;
            }
            return Ok(i);
        }
        let mut collisions = d.status.collision_count.unwrap_or(0);
        loop {
            let hash = template_hash(&d.spec.template, collisions);
            let rs = new_replicaset(d, &hash, initial, max_revision + 1);
            match self.ctx.client.create(&rs).await {
                Ok(made) => {
                    if initial > 0 {
                        self.events.normal(
                            d,
                            "ScalingReplicaSet",
                            format!(
                                "Scaled up replica set {} from 0 to {initial}",
                                made.metadata.name
                            ),
                        );
                    }
                    sets.push(made);
                    return Ok(sets.len() - 1);
                }
                Err(e) if e.is_already_exists() => {
                    // Ours, not yet in the cache: use it.
                    if let Some(existing) = self
                        .ctx
                        .client
                        .get::<ReplicaSet>(&rs.metadata.namespace, &rs.metadata.name)
                        .await
                        .map_err(api("reading a replica set"))?
                        && existing
                            .metadata
                            .controller()
                            .is_some_and(|o| o.uid == d.metadata.uid)
                        && runs(&existing, &d.spec.template)
                    {
                        sets.push(existing);
                        return Ok(sets.len() - 1);
                    }
                    // A hash collision: count it into the next hash.
                    collisions += 1;
                    if collisions > 100 {
                        return Err(Error::Invalid {
                            object: format!("deployment {}", d.metadata.name),
                            reason: "100 pod-template hash collisions".into(),
                        });
                    }
                }
                Err(e) => return Err(api(format!("creating replica set {}", rs.metadata.name))(e)),
            }
        }
    }
}

impl Reconciler for DeploymentController {
    type Error = Error;

    fn name(&self) -> &'static str {
        "deployment"
    }

    async fn reconcile(&self, key: &ObjectRef) -> Result<Action, Error> {
        let ctx = &self.ctx;
        ctx.synced().await;
        let Some(d) = ctx.deployments.get(&key.namespace, &key.name) else {
            self.orphans(key, None).await?;
            return Ok(Action::Done);
        };
        if d.metadata.is_deleting() {
            return Ok(Action::Done);
        }
        self.orphans(key, Some(&d.metadata.uid)).await?;
        let mut sets: Vec<ReplicaSet> = ctx
            .replicasets
            .filter(|rs| {
                rs.metadata.namespace == key.namespace
                    && rs
                        .metadata
                        .controller()
                        .is_some_and(|o| o.uid == d.metadata.uid)
            })
            .into_iter()
            .map(|rs| (*rs).clone())
            .collect();
        // Oldest revision first.
        sets.sort_by_key(revision);
        let replicas = d.spec.replicas.max(0);
        match d.spec.strategy.type_ {
            DeploymentStrategyType::Recreate => {
                let mut old_left = false;
                for rs in sets.iter_mut().filter(|rs| !runs(rs, &d.spec.template)) {
                    self.scale(&d, rs, 0).await?;
                    let uid = rs.metadata.uid.clone();
                    old_left |= !ctx
                        .pods
                        .filter(|p| {
                            p.metadata.controller().is_some_and(|o| o.uid == uid)
                                && super::replicaset::is_active(p)
                        })
                        .is_empty()
                        || rs.status.replicas > 0;
                }
                if old_left {
                    // Old pods still run: their deletion queues us again.
                    self.status(&d, &sets).await?;
                    return Ok(Action::Done);
                }
                let i = self.current(&d, &mut sets, replicas).await?;
                let mut rs = sets[i].clone();
                self.scale(&d, &mut rs, replicas).await?;
                sets[i] = rs;
            }
            DeploymentStrategyType::RollingUpdate => {
                let ru = d.spec.strategy.rolling_update.clone().unwrap_or_default();
                let surge = ru.max_surge.scaled_value(replicas, true).unwrap_or(0);
                let unavailable = ru
                    .max_unavailable
                    .scaled_value(replicas, false)
                    .unwrap_or(0);
                let (surge, unavailable) = rollout::resolve(replicas, surge, unavailable);
                let first = sets.is_empty();
                let i = self
                    .current(&d, &mut sets, if first { replicas } else { 0 })
                    .await?;
                let all: Vec<Set> = sets.iter().map(set).collect();
                let to = rollout::new_replicas(replicas, surge, set(&sets[i]), &all);
                let mut rs = sets[i].clone();
                self.scale(&d, &mut rs, to).await?;
                sets[i] = rs;
                let new = set(&sets[i]);
                let old_idx: Vec<usize> = (0..sets.len()).filter(|&j| j != i).collect();
                let old: Vec<Set> = old_idx.iter().map(|&j| set(&sets[j])).collect();
                let down = rollout::old_scale_down(replicas, unavailable, new, &old);
                for (&j, d_by) in old_idx.iter().zip(down) {
                    if d_by > 0 {
                        let mut rs = sets[j].clone();
                        let to = rs.spec.replicas - d_by;
                        self.scale(&d, &mut rs, to).await?;
                        sets[j] = rs;
                    }
                }
            }
        }
        // Old revisions beyond the history limit, once empty.
        let limit = d.spec.revision_history_limit.max(0) as usize;
        let current_rev = sets
            .iter()
            .filter(|rs| runs(rs, &d.spec.template))
            .map(revision)
            .max();
        let empty_old: Vec<&ReplicaSet> = sets
            .iter()
            .filter(|rs| Some(revision(rs)) != current_rev)
            .filter(|rs| rs.spec.replicas == 0 && rs.status.replicas == 0)
            .collect();
        if empty_old.len() > limit {
            for rs in &empty_old[..empty_old.len() - limit] {
                self.delete_rs(rs).await?;
            }
        }
        self.status(&d, &sets).await?;
        Ok(Action::Done)
    }
}

impl DeploymentController {
    async fn status(&self, d: &Deployment, sets: &[ReplicaSet]) -> Result<(), Error> {
        let status = compute_status(d, sets, Time::now());
        if same_status(&status, &d.status) {
            return Ok(());
        }
        let mut updated = d.clone();
        let current = sets
            .iter()
            .filter(|rs| runs(rs, &d.spec.template))
            .map(revision)
            .max();
        updated.status = status;
        let rev = current.map(|r| r.to_string());
        if let Some(r) = &rev
            && d.metadata.annotation(REVISION) != Some(r.as_str())
        {
            // The revision annotation is metadata: a normal update.
            let mut meta_update = d.clone();
            meta_update
                .metadata
                .annotations
                .insert(REVISION.into(), r.clone());
            match self.ctx.client.update(&meta_update).await {
                Ok(u) => {
                    updated.metadata = u.metadata;
                }
                Err(e) if e.is_conflict() || e.is_not_found() => return Ok(()),
                Err(e) => return Err(api(format!("annotating deployment {}", d.metadata.name))(e)),
            }
        }
        match self.ctx.client.update_status(&updated).await {
            Ok(u) => {
                let _ = revision_of(&u);
                Ok(())
            }
            Err(e) if e.is_conflict() || e.is_not_found() => Ok(()),
            Err(e) => Err(api(format!(
                "updating the status of deployment {}",
                d.metadata.name
            ))(e)),
        }
    }
}

fn same_status(a: &DeploymentStatus, b: &DeploymentStatus) -> bool {
    let strip = |s: &DeploymentStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_update_time = None;
            c.last_transition_time = None;
        }
        s
    };
    strip(a) == strip(b)
}

/// The status of `d` with these ReplicaSets.
pub fn compute_status(d: &Deployment, sets: &[ReplicaSet], now: Time) -> DeploymentStatus {
    let replicas: i32 = sets.iter().map(|rs| rs.status.replicas).sum();
    let updated: i32 = sets
        .iter()
        .filter(|rs| runs(rs, &d.spec.template))
        .map(|rs| rs.status.replicas)
        .sum();
    let ready: i32 = sets.iter().map(|rs| rs.status.ready_replicas).sum();
    let available: i32 = sets.iter().map(|rs| rs.status.available_replicas).sum();
    let want = d.spec.replicas.max(0);
    let ru = d.spec.strategy.rolling_update.clone().unwrap_or_default();
    let max_unavailable = match d.spec.strategy.type_ {
        DeploymentStrategyType::Recreate => 0,
        DeploymentStrategyType::RollingUpdate => {
            ru.max_unavailable.scaled_value(want, false).unwrap_or(0)
        }
    };
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas,
        updated_replicas: updated,
        ready_replicas: ready,
        available_replicas: available,
        unavailable_replicas: (want - available).max(0),
        conditions: Vec::new(),
        collision_count: d.status.collision_count,
    };
    let is_available = available >= want - max_unavailable;
    let complete = updated == want && replicas == want && available == want;
    let old = |t: &str| d.status.conditions.iter().find(|c| c.type_ == t).cloned();
    let cond = |t: &str, ok: bool, reason: &str, message: String| {
        let status = if ok {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        let prev = old(t);
        let transition = match &prev {
            Some(p) if p.status == status => p.last_transition_time,
            _ => Some(now.truncated()),
        };
        DeploymentCondition {
            type_: t.into(),
            status,
            last_update_time: Some(now.truncated()),
            last_transition_time: transition,
            reason: reason.into(),
            message,
        }
    };
    status.conditions.push(cond(
        "Available",
        is_available,
        if is_available {
            "MinimumReplicasAvailable"
        } else {
            "MinimumReplicasUnavailable"
        },
        if is_available {
            "Deployment has minimum availability.".into()
        } else {
            "Deployment does not have minimum availability.".into()
        },
    ));
    let current = sets.iter().find(|rs| runs(rs, &d.spec.template));
    let name = current.map(|rs| rs.metadata.name.as_str()).unwrap_or("");
    status.conditions.push(cond(
        "Progressing",
        true,
        if complete {
            "NewReplicaSetAvailable"
        } else {
            "ReplicaSetUpdated"
        },
        if complete {
            format!("ReplicaSet {name:?} has successfully progressed.")
        } else {
            format!("ReplicaSet {name:?} is progressing.")
        },
    ));
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_change_changes_the_hash_and_nothing_else_does() {
        let mut d = Deployment {
            metadata: ObjectMeta::named("default", "web"),
            ..Deployment::default()
        };
        d.spec
            .template
            .metadata
            .labels
            .insert("app".into(), "web".into());
        let h1 = template_hash(&d.spec.template, 0);
        assert_eq!(h1, template_hash(&d.spec.template, 0));
        assert_ne!(h1, template_hash(&d.spec.template, 1));
        let rs = new_replicaset(&d, &h1, 3, 1);
        assert_eq!(rs.metadata.name, format!("web-{h1}"));
        assert_eq!(rs.spec.selector.match_labels[POD_TEMPLATE_HASH], h1);
        assert!(runs(&rs, &d.spec.template));
        d.spec
            .template
            .metadata
            .labels
            .insert("v".into(), "2".into());
        assert!(!runs(&rs, &d.spec.template));
        assert_ne!(template_hash(&d.spec.template, 0), h1);
    }
}
