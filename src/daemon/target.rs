//! Where an app × environment's objects go (wiring): a cluster, with what the daemon keeps per
//! cluster across syncs — discovery, the namespaces known to exist, the watch cache, and what
//! each sync applied (its heal intents) — or a plan-only target.
//!
//! Input: the rendered objects and [`SyncContext`] of one sync. Output: [`Done`] (rows,
//! health, counts) and, for later self-heal, the [`Intent`]s of what was applied.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::Mutex;

use super::state::ObjectStatus;
use super::sync::Done;
use crate::cluster::apply::{Action, ApiTable, Applier, Row};
use crate::cluster::cache::ClusterCache;
use crate::cluster::heal::Intent;
use crate::cluster::{self, HealthStatus, ObjectId, SyncContext};

type Key = (String, String);

/// What the last successful sync of each app × environment applied, by object.
pub type Intents = Arc<std::sync::Mutex<HashMap<Key, HashMap<ObjectId, Intent>>>>;

/// App × environments being synced now.
pub type Busy = Arc<std::sync::Mutex<HashSet<Key>>>;

/// Where an environment's objects go.
#[derive(Clone)]
pub enum Target {
    Cluster(ClusterTarget),
    /// No cluster reachable or wanted: compute and show the plan, apply nothing.
    PlanOnly {
        reason: String,
    },
}

impl Target {
    #[must_use]
    pub fn cluster(client: kube::Client) -> Self {
        Self::Cluster(ClusterTarget {
            cache: ClusterCache::new(client.clone()),
            client,
            table: Arc::new(Mutex::new(None)),
            namespaces: Arc::default(),
            intents: Arc::default(),
            busy: Arc::default(),
        })
    }
}

/// A cluster and what the daemon keeps about it across syncs.
#[derive(Clone)]
pub struct ClusterTarget {
    pub client: kube::Client,
    /// Discovery, cached across syncs and refreshed on unknown kinds.
    pub table: Arc<Mutex<Option<ApiTable>>>,
    /// Namespaces known to exist: each is checked (and created) once.
    namespaces: Arc<std::sync::Mutex<HashSet<String>>>,
    /// Every kind gantry manages, watched: inventories come from it, not from LISTs.
    pub cache: Arc<ClusterCache>,
    /// What the last successful sync of each app × environment applied, by object.
    pub intents: Intents,
    /// App × environments being synced now: self-heal leaves them to the sync (whose prune
    /// must not be undone, and whose forced apply takes back any drift anyway).
    pub busy: Busy,
}

impl ClusterTarget {
    /// One sync: discovery (cached), namespace, kinds, inventory from the cache, plan, apply,
    /// prune, health; records the intents of what was applied.
    pub(super) async fn sync(
        &self,
        rendered: Vec<(serde_json::Value, String)>,
        ctx: &SyncContext,
        digest: String,
        warning: Option<String>,
    ) -> Result<Done, cluster::ClusterError> {
        let key = (ctx.app.clone(), ctx.env.clone());
        self.busy
            .lock()
            .expect("busy set poisoned")
            .insert(key.clone());
        let result = self.sync_locked(rendered, ctx).await;
        let mut intents = self.intents.lock().expect("intents poisoned");
        if let Ok(applied) = &result {
            intents.insert(key.clone(), applied.intents.clone());
        }
        drop(intents);
        self.busy.lock().expect("busy set poisoned").remove(&key);
        let applied = result?;
        let prune_held = applied.held.is_some();
        let note = match (applied.held, warning) {
            (Some(held), Some(w)) => Some(format!("{held}\n{w}")),
            (held, w) => held.or(w),
        };
        let mut done = done(&applied.rows, applied.health, digest, note);
        done.prune_held = prune_held;
        Ok(done)
    }

    /// Discovery is shared: each sync works on a copy (so syncs of one cluster run in
    /// parallel, up to `--parallel`) and hands back what it learned (CRDs it applied, kinds a
    /// rediscovery found).
    async fn sync_locked(
        &self,
        rendered: Vec<(serde_json::Value, String)>,
        ctx: &SyncContext,
    ) -> Result<Applied, cluster::ClusterError> {
        let table = {
            let mut cached = self.table.lock().await;
            if let Some(t) = cached.as_ref() {
                t.clone()
            } else {
                let t = ApiTable::discover(&self.client).await?;
                *cached = Some(t.clone());
                t
            }
        };
        let mut applier = Applier::new(self.client.clone(), table);
        let result = self.apply(&mut applier, rendered, ctx).await;
        if let Some(cached) = self.table.lock().await.as_mut() {
            cached.merge(applier.table);
        }
        result
    }

    async fn apply(
        &self,
        applier: &mut Applier,
        rendered: Vec<(serde_json::Value, String)>,
        ctx: &SyncContext,
    ) -> Result<Applied, cluster::ClusterError> {
        let known = |ns: &str| {
            self.namespaces
                .lock()
                .expect("namespace cache lock poisoned")
                .contains(ns)
        };
        if !known(&ctx.namespace) {
            applier.ensure_namespace(&ctx.namespace).await?;
            self.namespaces
                .lock()
                .expect("namespace cache lock poisoned")
                .insert(ctx.namespace.clone());
        }
        let result = self.apply_known(applier, rendered, ctx).await;
        if result.is_err() {
            // Perhaps the namespace was deleted: check it again next time.
            self.namespaces
                .lock()
                .expect("namespace cache lock poisoned")
                .remove(&ctx.namespace);
        }
        result
    }

    async fn apply_known(
        &self,
        applier: &mut Applier,
        rendered: Vec<(serde_json::Value, String)>,
        ctx: &SyncContext,
    ) -> Result<Applied, cluster::ClusterError> {
        let objects: Vec<&serde_json::Value> = rendered.iter().map(|(o, _)| o).collect();
        applier
            .table
            .ensure_kinds(&applier.client, objects.iter().copied())
            .await?;
        // The shared watches: a kind is listed once per daemon, not once per sync.
        self.cache.ensure(&applier.table).await?;
        let live = self.cache.inventory(&ctx.app, &ctx.env);
        let report = cluster::sync::perform(applier, rendered, &live, ctx).await?;
        Ok(Applied {
            rows: report.rows,
            health: report.health,
            intents: report.intents,
            held: report.prune_held,
        })
    }
}

/// What one sync did on the cluster.
struct Applied {
    rows: Vec<Row>,
    health: HealthStatus,
    intents: HashMap<ObjectId, Intent>,
    /// Why a prune was held back, with how to approve it.
    held: Option<String>,
}

fn done(rows: &[Row], health: HealthStatus, digest: String, warning: Option<String>) -> Done {
    let removed = rows.iter().filter(|r| r.action == Action::Pruned).count();
    let objects = rows
        .iter()
        .map(|r| ObjectStatus {
            object: r.id.to_string(),
            action: r.action.to_string(),
            health: r.live.as_ref().map_or_else(
                || "-".into(),
                |l| format!("{:?}", cluster::health(Some(l)).status),
            ),
            diff: None,
        })
        .collect();
    let changed = rows
        .iter()
        .filter(|r| matches!(r.action, Action::Created | Action::Configured))
        .map(|r| {
            cluster::heal::reference(&r.id, r.live.as_ref().unwrap_or(&serde_json::Value::Null))
        })
        .collect();
    Done {
        corrected: 0,
        changed,
        planned: HashMap::new(),
        phase: super::state::Phase::Synced,
        health,
        objects,
        digest,
        applied: u64::try_from(rows.len() - removed).unwrap_or(u64::MAX),
        pruned: u64::try_from(removed).unwrap_or(u64::MAX),
        prune_held: false,
        warning,
    }
}
