//! Where an app × environment's objects go (stage ⑥): a cluster, with what a long-running
//! process (the daemon) keeps per cluster across syncs — discovery, the namespaces known to exist, the watch cache, and what
//! each sync applied (its heal intents) — or a plan-only target.
//!
//! Input: the rendered objects and [`SyncContext`] of one sync. Output: [`Done`] (rows,
//! health, counts) and, for later self-heal, the [`Intent`]s of what was applied.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::Mutex;

use super::apply::{Action, ApiTable, Applier, Row};
use super::cache::ClusterCache;
use super::heal::Intent;
use super::outcome::{Done, ObjectStatus, Phase, RowHealth};
use super::{ClusterError, HealthStatus, ObjectId, SyncContext};

type Key = crate::core::AppEnv;

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
        Self::Cluster(ClusterTarget::new(client))
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
    /// A target that has discovered and watched nothing yet.
    #[must_use]
    pub fn new(client: kube::Client) -> Self {
        Self {
            cache: ClusterCache::new(client.clone()),
            client,
            table: Arc::new(Mutex::new(None)),
            namespaces: Arc::default(),
            intents: Arc::default(),
            busy: Arc::default(),
        }
    }

    /// An applier on the cached discovery; `None` before the first sync discovered the API.
    pub async fn applier(&self) -> Option<Applier> {
        let table = self.table.lock().await.clone()?;
        Some(Applier::new(self.client.clone(), table))
    }

    /// One sync: discovery (cached), namespace, kinds, inventory from the cache, plan, apply,
    /// prune, health; records the intents of what was applied.
    ///
    /// # Errors
    ///
    /// The [`ClusterError`] of discovery, the namespace, the watches, or the apply.
    ///
    /// # Panics
    ///
    /// When the busy set or the intents lock is poisoned (a sync panicked holding it).
    pub async fn sync(
        &self,
        rendered: Vec<(serde_json::Value, String)>,
        ctx: &SyncContext,
        digest: String,
        warning: Option<String>,
    ) -> Result<Done, ClusterError> {
        let key = crate::core::AppEnv::new(&ctx.app, &ctx.env);
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
    ) -> Result<Applied, ClusterError> {
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
    ) -> Result<Applied, ClusterError> {
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
    ) -> Result<Applied, ClusterError> {
        let objects: Vec<&serde_json::Value> = rendered.iter().map(|(o, _)| o).collect();
        applier
            .table
            .ensure_kinds(&applier.client, objects.iter().copied())
            .await?;
        // The shared watches: a kind is listed once per daemon, not once per sync.
        self.cache.ensure(&applier.table).await?;
        let live = self.cache.inventory(&ctx.app, &ctx.env);
        let report = super::sync::perform(applier, rendered, &live, ctx).await?;
        if !applier.dry_run {
            self.cache.record(&report.rows, &live);
        }
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
            health: r.live.as_ref().map_or(RowHealth::NotApplied, |l| {
                super::health(Some(l)).status.into()
            }),
            diff: None,
        })
        .collect();
    let changed = rows
        .iter()
        .filter(|r| matches!(r.action, Action::Created | Action::Configured))
        .map(|r| super::heal::reference(&r.id, r.live.as_ref().unwrap_or(&serde_json::Value::Null)))
        .collect();
    Done {
        corrected: 0,
        changed,
        planned: HashMap::new(),
        phase: Phase::Synced,
        health,
        objects,
        digest,
        applied: u64::try_from(rows.len() - removed).unwrap_or(u64::MAX),
        pruned: u64::try_from(removed).unwrap_or(u64::MAX),
        prune_held: false,
        warning,
    }
}
