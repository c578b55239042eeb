//! The sync plan: what to apply in which order, and what to prune (pure; no I/O).
//!
//! Input: rendered objects, the live objects carrying this app/env's labels, the API scopes
//! and a [`SyncContext`]. Output: a [`Plan`] whose batches are applied one after another —
//! Namespaces, then CRDs (the executor waits until they are Established), then everything else
//! by sync wave; within a batch cluster-scoped objects come first, then namespaced ones in
//! kustomize's kind order — and the prune set, after both guards.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};

use super::labels::{APP, ENV, MANAGED_BY, MANAGED_BY_VALUE, SYNC_WAVE, TRACKING_ID};
use super::{ClusterError, ObjectId, Scopes};
use crate::manifest::kind_rank;

/// One app × environment sync.
#[derive(Debug, Clone)]
pub struct SyncContext {
    pub app: String,
    pub env: String,
    /// Namespace for namespaced objects that name none.
    pub namespace: String,
    /// The config repo commit being applied.
    pub revision: String,
    /// Delete live objects that are no longer rendered.
    pub prune: bool,
    /// Most objects one sync may prune, as a share of the app's live objects.
    pub max_prune_percent: u32,
    /// Lets one sync prune more than `max_prune_percent`.
    pub allow_large_prune: bool,
}

impl SyncContext {
    #[must_use]
    pub fn new(app: &str, env: &str, namespace: &str, revision: &str) -> Self {
        Self {
            app: app.into(),
            env: env.into(),
            namespace: namespace.into(),
            revision: revision.into(),
            prune: true,
            max_prune_percent: 50,
            allow_large_prune: false,
        }
    }
}

/// A live object as the inventory list returns it: labels, tracking annotation and controller
/// ownership are re-checked here before anything is pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveObject {
    pub id: ObjectId,
    pub labels: BTreeMap<String, String>,
    /// The value of [`TRACKING_ID`] on the live object.
    pub tracking_id: Option<String>,
    /// An owner reference with `controller: true`: a controller made it, so it is never gantry's
    /// to prune even when it carries gantry's labels (copied from its owner).
    pub controlled: bool,
}

impl LiveObject {
    /// Reads labels, tracking annotation and controller ownership from a live object.
    #[must_use]
    pub fn from_live(id: ObjectId, live: &Value) -> Self {
        let meta = &live["metadata"];
        let labels = meta["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
        Self {
            id,
            labels,
            tracking_id: meta["annotations"][TRACKING_ID].as_str().map(str::to_owned),
            controlled: meta["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["controller"] == true)),
        }
    }

    /// Whether gantry applied this object for `ctx`'s app × environment: our labels, our
    /// tracking annotation naming this very object (a copied annotation names another), and
    /// no controlling owner.
    #[must_use]
    pub fn is_tracked_by(&self, app: &str, env: &str) -> bool {
        self.labels.get(MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
            && self.labels.get(APP).map(String::as_str) == Some(app)
            && self.labels.get(ENV).map(String::as_str) == Some(env)
            && !self.controlled
            && self.tracking_id.as_deref() == Some(tracking_id(app, env, &self.id).as_str())
    }
}

/// The tracking annotation's value for `id` in `app` × `env`: `app:env:group/Kind:ns/name`
/// (Argo CD's `tracking-id` with the environment added). It names the object itself, so an
/// annotation or label copied onto another object by a controller never makes that object
/// look like gantry's.
#[must_use]
pub fn tracking_id(app: &str, env: &str, id: &ObjectId) -> String {
    format!(
        "{app}:{env}:{}/{}:{}/{}",
        id.group,
        id.kind,
        id.namespace.as_deref().unwrap_or_default(),
        id.name
    )
}

/// Objects applied together; the next batch starts when this one is applied (and, for CRDs,
/// Established).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub wave: i64,
    /// Set for the batch of CRDs.
    pub crds: bool,
    pub objects: Vec<(ObjectId, Value)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub batches: Vec<Batch>,
    /// Deleted after all batches applied, in reverse apply order.
    pub prune: Vec<ObjectId>,
}

impl Plan {
    pub fn objects(&self) -> impl Iterator<Item = &(ObjectId, Value)> {
        self.batches.iter().flat_map(|b| b.objects.iter())
    }
}

struct Item {
    id: ObjectId,
    obj: Value,
    tier: u8,
    wave: i64,
    rank: i64,
}

/// Plans one sync. `rendered` pairs each object with where it came from (for errors).
pub fn plan(
    rendered: Vec<(Value, String)>,
    live: &[LiveObject],
    scopes: &Scopes,
    ctx: &SyncContext,
) -> Result<Plan, ClusterError> {
    let mut scopes = scopes.clone();
    scopes.learn_crds(rendered.iter().map(|(o, _)| o));
    let mut seen: HashMap<ObjectId, String> = HashMap::with_capacity(rendered.len());
    let mut items = Vec::with_capacity(rendered.len());
    for (mut obj, origin) in rendered {
        let id = ObjectId::of(&obj, &scopes, &ctx.namespace, &origin)?;
        if let Some(first) = seen.insert(id.clone(), origin.clone()) {
            return Err(ClusterError::Duplicate {
                object: id.to_string(),
                first,
                second: origin,
            });
        }
        let wave = wave_of(&obj, &id)?;
        stamp(&mut obj, &id, ctx);
        let tier = match id.kind.as_str() {
            "Namespace" if id.group.is_empty() => 0,
            "CustomResourceDefinition" if id.group == "apiextensions.k8s.io" => 1,
            _ => 2,
        };
        items.push(Item {
            rank: kind_rank(&id.kind),
            id,
            obj,
            tier,
            wave,
        });
    }
    items.sort_by(|a, b| {
        (a.tier, a.wave, a.id.namespace.is_some(), a.rank)
            .cmp(&(b.tier, b.wave, b.id.namespace.is_some(), b.rank))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut batches: Vec<Batch> = Vec::new();
    let mut last = None;
    for item in items {
        let key = (item.tier, item.wave);
        match batches.last_mut() {
            Some(b) if last == Some(key) => b.objects.push((item.id, item.obj)),
            _ => batches.push(Batch {
                wave: item.wave,
                crds: item.tier == 1,
                objects: vec![(item.id, item.obj)],
            }),
        }
        last = Some(key);
    }
    let prune = prune_set(&seen.into_keys().collect(), live, &batches, ctx)?;
    Ok(Plan { batches, prune })
}

fn wave_of(obj: &Value, id: &ObjectId) -> Result<i64, ClusterError> {
    match &obj["metadata"]["annotations"][SYNC_WAVE] {
        Value::Null => Ok(0),
        Value::String(s) => s.trim().parse().map_err(|_| ClusterError::BadWave {
            object: id.to_string(),
            annotation: SYNC_WAVE,
            value: s.clone(),
        }),
        other => Err(ClusterError::BadWave {
            object: id.to_string(),
            annotation: SYNC_WAVE,
            value: other.to_string(),
        }),
    }
}

/// Our labels and tracking annotation, and the namespace made explicit. No per-commit value
/// (such as the revision) goes on the object: it would rewrite every unchanged object of an
/// app on every commit, one etcd write each; the revision lives in the sync record.
fn stamp(obj: &mut Value, id: &ObjectId, ctx: &SyncContext) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(ns) = &id.namespace {
        meta.insert("namespace".into(), json!(ns));
    }
    for (field, entries) in [
        (
            "labels",
            [
                (MANAGED_BY, MANAGED_BY_VALUE),
                (APP, ctx.app.as_str()),
                (ENV, ctx.env.as_str()),
            ]
            .as_slice(),
        ),
        (
            "annotations",
            [(TRACKING_ID, tracking_id(&ctx.app, &ctx.env, id).as_str())].as_slice(),
        ),
    ] {
        let map = meta.entry(field).or_insert_with(|| json!({}));
        if !map.is_object() {
            *map = json!({});
        }
        if let Some(map) = map.as_object_mut() {
            for (k, v) in entries {
                map.insert((*k).to_string(), json!(v));
            }
        }
    }
}

/// Live objects of this app/env that are no longer rendered, after the guards.
fn prune_set(
    rendered: &HashSet<ObjectId>,
    live: &[LiveObject],
    batches: &[Batch],
    ctx: &SyncContext,
) -> Result<Vec<ObjectId>, ClusterError> {
    if !ctx.prune {
        return Ok(Vec::new());
    }
    // Never touch what gantry did not apply for this app × environment, whatever the list
    // returned: controllers copy labels (Endpoints, EndpointSlices), not the tracking id.
    let ours: Vec<&LiveObject> = live
        .iter()
        .filter(|l| l.is_tracked_by(&ctx.app, &ctx.env))
        .collect();
    let mut stale: Vec<ObjectId> = ours
        .iter()
        .filter(|l| !rendered.contains(&l.id))
        .map(|l| l.id.clone())
        .collect();
    if stale.is_empty() {
        return Ok(stale);
    }
    if batches.is_empty() {
        return Err(ClusterError::EmptyRender {
            app: ctx.app.clone(),
            env: ctx.env.clone(),
            live: ours.len(),
        });
    }
    let percent = stale.len() * 100 / ours.len();
    if !ctx.allow_large_prune && percent > ctx.max_prune_percent as usize {
        return Err(ClusterError::PruneTooLarge {
            app: ctx.app.clone(),
            env: ctx.env.clone(),
            count: stale.len(),
            live: ours.len(),
            percent,
            max: ctx.max_prune_percent,
        });
    }
    // Dependents before what they depend on: namespaced before cluster-scoped, Namespaces and
    // CRDs last (deleting a CRD deletes its objects; a Namespace, everything in it).
    stale.sort_by(|a, b| {
        let key = |id: &ObjectId| {
            let tier = match id.kind.as_str() {
                "Namespace" => 0,
                "CustomResourceDefinition" => 1,
                _ => 2,
            };
            (tier, id.namespace.is_some(), kind_rank(&id.kind))
        };
        key(b).cmp(&key(a)).then_with(|| a.cmp(b))
    });
    Ok(stale)
}
