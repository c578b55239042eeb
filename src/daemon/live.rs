//! Live health and self-heal (wiring): follows a cluster cache's changes, keeps each
//! app × environment's health — the row at `/api`, `gantry status` and `gantry_app_health` —
//! equal to what its objects report now (not what the last apply returned), and takes back
//! drift as it happens: an object gantry applied that someone else changed or deleted is
//! checked against what gantry owned and re-applied (`cluster::heal`), counted in
//! `gantry_drift_corrections_total` and published as a `DriftCorrected` Event.
//!
//! Input: one cluster target (its cache, intents, busy set) and the shared state. Output:
//! updated health and metrics within one watch event and a 100 ms coalescing window; heal
//! applies, by the leader only.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kube::runtime::events::Recorder;

use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::state::{AppEnv, Shared, State, health_value};
use super::target::ClusterTarget;
use crate::cluster::apply::Applier;
use crate::cluster::cache::{Change, ClusterCache};
use crate::cluster::{self, HealthStatus};

/// A sync changes many objects at once: their events are handled together.
const COALESCE: Duration = Duration::from_millis(100);

/// Runs until `cancel` fires or the cache or the state is gone: it holds neither, so a daemon
/// that stops (or is dropped mid-flight) releases its watches and its state store.
pub(super) async fn follow(
    target: ClusterTarget,
    state: Shared,
    cancel: CancellationToken,
    recorder: Option<Recorder>,
) {
    let mut changes = target.cache.subscribe();
    let weak_cache = Arc::downgrade(&target.cache);
    let weak_state = Arc::downgrade(&state);
    drop(state);
    let healer = Healer {
        client: target.client,
        table: target.table,
        intents: target.intents,
        busy: target.busy,
    };
    drop(target.cache);
    // Changes whose heal waits out its backoff (an object drifting again within seconds):
    // checked again when the backoff ends, or nothing would take back what follows.
    let mut deferred: Vec<(tokio::time::Instant, Change)> = Vec::new();
    loop {
        let mut batch = Vec::new();
        let mut lagged = false;
        let wake = deferred.iter().map(|(t, _)| *t).min();
        tokio::select! {
            () = cancel.cancelled() => return,
            first = changes.recv() => if !note(first, &mut batch, &mut lagged) { return },
            () = async { tokio::time::sleep_until(wake.expect("guarded")).await }, if wake.is_some() => {}
        }
        let now = tokio::time::Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = deferred.drain(..).partition(|(t, _)| *t <= now);
        deferred = later;
        batch.extend(due.into_iter().map(|(_, c)| c));
        let window = tokio::time::sleep(COALESCE);
        tokio::pin!(window);
        loop {
            tokio::select! {
                () = &mut window => break,
                next = changes.recv() => if !note(next, &mut batch, &mut lagged) { return },
            }
        }
        let (Some(cache), Some(state)) = (weak_cache.upgrade(), weak_state.upgrade()) else {
            return;
        };
        let mut owners: HashSet<(String, String)> =
            batch.iter().filter_map(|c| c.owner.clone()).collect();
        if lagged {
            // Changes were lost: every row again.
            owners.extend(
                state
                    .envs
                    .read()
                    .expect("status table lock poisoned")
                    .keys()
                    .cloned(),
            );
        }
        for (app, env) in &owners {
            refresh(&cache, &state, app, env);
        }
        deferred.extend(healer.heal(&cache, &state, recorder.as_ref(), batch).await);
    }
}

/// Adds a change, or notes that changes were lost. `false` when the cache is gone.
fn note(change: Result<Change, RecvError>, batch: &mut Vec<Change>, lagged: &mut bool) -> bool {
    match change {
        Ok(change) => batch.push(change),
        Err(RecvError::Lagged(_)) => *lagged = true,
        Err(RecvError::Closed) => return false,
    }
    true
}

/// What self-heal needs of a cluster target (not its cache, which it must not keep alive).
struct Healer {
    client: kube::Client,
    table: Arc<tokio::sync::Mutex<Option<crate::cluster::apply::ApiTable>>>,
    intents: super::target::Intents,
    busy: super::target::Busy,
}

impl Healer {
    /// Re-applies what drifted among the changed objects gantry applied. Skipped: followers (only
    /// the leader writes), app × environments being synced, and changes that are gantry's own
    /// apply (the watch event carries the resourceVersion the apply returned).
    /// Returns the changes to check again later (their heal waits out a backoff).
    async fn heal(
        &self,
        cache: &ClusterCache,
        state: &State,
        recorder: Option<&Recorder>,
        batch: Vec<Change>,
    ) -> Vec<(tokio::time::Instant, Change)> {
        let mut later = Vec::new();
        if !state.leader.load(Ordering::Relaxed) {
            return later;
        }
        let Some(table) = self.table.lock().await.clone() else {
            return later;
        };
        let applier = Applier::new(self.client.clone(), table);
        for change in batch {
            let Some(key) = change.owner.clone() else {
                continue;
            };
            // A closed sync window holds self-heal too (as in Argo CD); the sync that runs when
            // it opens takes back whatever drifted meanwhile.
            let closed = state
                .windows
                .read()
                .expect("windows lock poisoned")
                .get(&key.1)
                .is_some_and(|w| {
                    crate::cluster::window::gate(w, chrono::Utc::now(), false)
                        != crate::cluster::window::Gate::Open
                });
            if closed {
                continue;
            }
            if self.busy.lock().expect("busy set poisoned").contains(&key) {
                continue;
            }
            let intent = self
                .intents
                .lock()
                .expect("intents poisoned")
                .get(&key)
                .and_then(|m| m.get(&change.id))
                .cloned();
            let Some(mut intent) = intent else { continue };
            let live_version = cache
                .get(&change.id)
                .and_then(|o| o["metadata"]["resourceVersion"].as_str().map(str::to_owned));
            if !change.deleted && live_version.is_some() && live_version == intent.applied_version {
                continue;
            }
            // Healed moments ago: a controller may be fighting gantry. Check again when the
            // backoff ends instead of now.
            if let Some(at) = intent.retry_at() {
                later.push((at, change));
                continue;
            }
            match applier
                .heal(std::slice::from_mut(&mut intent), recorder)
                .await
            {
                Ok(reports) if !reports.is_empty() => {
                    let (app, env) = key.clone();
                    state
                        .metrics
                        .drift_corrections
                        .get_or_create(&AppEnv { app, env })
                        .inc_by(reports.len() as u64);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(object = %change.id, error = %e, "self-heal failed; the drift pass retries");
                }
            }
            // Owned fields and backoff move on, unless a sync replaced the intents meanwhile.
            if let Some(applied) = self.intents.lock().expect("intents poisoned").get_mut(&key)
                && applied.contains_key(&change.id)
            {
                applied.insert(change.id.clone(), intent);
            }
        }
        later
    }
}

/// Recomputes one row's health from the cached objects.
pub(super) fn refresh(cache: &ClusterCache, state: &Shared, app: &str, env: &str) {
    let live = cache.inventory(app, env);
    if live.is_empty() {
        return;
    }
    let healths: Vec<(String, cluster::Health)> = live
        .iter()
        .map(|(id, (_, value))| (id.to_string(), cluster::health(Some(value))))
        .collect();
    let overall: HealthStatus = cluster::aggregate(healths.iter().map(|(_, h)| h));
    let overall = {
        let mut envs = state.envs.write().expect("status table lock poisoned");
        let Some(row) = envs.get_mut(&(app.to_owned(), env.to_owned())) else {
            return;
        };
        if row.phase == super::state::Phase::Planned {
            return;
        }
        // An applied object the watch does not hold (not seen yet, or deleted since) is Missing:
        // an overall health from the others alone said Healthy too early.
        let missing = row
            .objects
            .iter()
            .any(|o| o.action != "pruned" && !healths.iter().any(|(id, _)| *id == o.object));
        let overall = if missing {
            overall.max(HealthStatus::Missing)
        } else {
            overall
        };
        let before = row.health.clone();
        row.health = format!("{overall:?}");
        for object in &mut row.objects {
            if let Some((_, h)) = healths.iter().find(|(id, _)| *id == object.object) {
                object.health = format!("{:?}", h.status);
            }
        }
        if before != row.health {
            tracing::info!(app, env, from = %before, to = %row.health, "health changed");
        }
        overall
    };
    state
        .metrics
        .health
        .get_or_create(&AppEnv {
            app: app.to_owned(),
            env: env.to_owned(),
        })
        .set(health_value(overall));
}
