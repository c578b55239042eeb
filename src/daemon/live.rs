//! Live health and self-heal (wiring): follows a cluster cache's changes, keeps each
//! app × environment's health — the row at `/api`, `gantry status` and `gantry_app_health` —
//! equal to what its objects report now (not what the last apply returned), and takes back
//! drift as it happens: an object gantry applied that someone else changed or deleted is
//! checked against what gantry owned and re-applied ([`Healer`]), counted in
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

use super::state::{Labels, Shared, State, health_value};
use crate::cluster::cache::{Change, ClusterCache};
use crate::cluster::target::ClusterTarget;
use crate::cluster::watch::{self, Healer};
use crate::cluster::{HealthStatus, window};
use crate::core::AppEnv;

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
    let healer = Healer::of(&target);
    drop(target);
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
        let mut owners: HashSet<AppEnv> = batch.iter().filter_map(|c| c.owner.clone()).collect();
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
        for key in &owners {
            refresh(&cache, &state, key);
        }
        deferred.extend(heal(&healer, &cache, &state, recorder.as_ref(), batch).await);
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

/// Takes back drift among `batch`, as the leader only, and counts what was corrected.
async fn heal(
    healer: &Healer,
    cache: &ClusterCache,
    state: &State,
    recorder: Option<&Recorder>,
    batch: Vec<Change>,
) -> Vec<(tokio::time::Instant, Change)> {
    if !state.leader.load(Ordering::Relaxed) {
        return Vec::new();
    }
    let windows = state.windows.read().expect("windows lock poisoned").clone();
    let held = |key: &AppEnv| {
        windows
            .get(key.env.as_str())
            .is_some_and(|w| window::gate(w, chrono::Utc::now(), false) != window::Gate::Open)
    };
    let pass = healer.heal(cache, batch, held, recorder).await;
    for (key, objects) in &pass.corrected {
        super::events::DriftCorrected {
            key,
            objects: *objects,
        }
        .emit(&state.metrics);
    }
    pass.later
}

/// Recomputes one row's health from the cached objects.
pub(super) fn refresh(cache: &ClusterCache, state: &Shared, key: &AppEnv) {
    let Some((overall, healths)) = watch::live_health(cache, &key.app, &key.env) else {
        return;
    };
    let overall = {
        let mut envs = state.envs.write().expect("status table lock poisoned");
        let Some(row) = envs.get_mut(key) else {
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
        let before = row.health;
        row.health = overall.into();
        for object in &mut row.objects {
            if let Some((_, h)) = healths.iter().find(|(id, _)| *id == object.object) {
                object.health = h.status.into();
            }
        }
        if before != row.health {
            tracing::info!(app = %key.app, env = %key.env, from = %before, to = %row.health, "health changed");
        }
        overall
    };
    state
        .metrics
        .health
        .get_or_create(&Labels::from(key))
        .set(health_value(overall));
}
