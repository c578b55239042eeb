//! Live health (wiring): follows a cluster cache's changes and keeps each app × environment's
//! health — the row at `/api`, `gantry status` and `gantry_app_health` — equal to what its
//! objects report now, not what the last apply returned.
//!
//! Input: the [`ClusterCache`] of one cluster and the shared state. Output: updated health in
//! the status table and metrics, within one watch event and a 100 ms coalescing window.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::state::{AppEnv, Shared, health_value};
use crate::cluster::cache::ClusterCache;
use crate::cluster::{self, HealthStatus};

/// A sync changes many objects at once: their events are handled together.
const COALESCE: Duration = Duration::from_millis(100);

/// Runs until `cancel` fires or the cache or the state is gone: it holds neither, so a daemon
/// that stops (or is dropped mid-flight) releases its watches and its state store.
pub(super) async fn follow(cache: Arc<ClusterCache>, state: Shared, cancel: CancellationToken) {
    let mut changes = cache.subscribe();
    let (weak_cache, weak_state) = (Arc::downgrade(&cache), Arc::downgrade(&state));
    drop((cache, state));
    let (cache, state) = (weak_cache, weak_state);
    loop {
        let (Some(_), Some(_)) = (cache.upgrade(), state.upgrade()) else {
            return;
        };
        let mut owners = HashSet::new();
        let mut lagged = false;
        tokio::select! {
            () = cancel.cancelled() => return,
            first = changes.recv() => if !note(first, &mut owners, &mut lagged) { return },
        }
        let window = tokio::time::sleep(COALESCE);
        tokio::pin!(window);
        loop {
            tokio::select! {
                () = &mut window => break,
                next = changes.recv() => if !note(next, &mut owners, &mut lagged) { return },
            }
        }
        let (Some(cache), Some(state)) = (cache.upgrade(), state.upgrade()) else {
            return;
        };
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
        for (app, env) in owners {
            refresh(&cache, &state, &app, &env);
        }
    }
}

/// Adds a change's owner, or notes that changes were lost. `false` when the cache is gone.
fn note(
    change: Result<cluster::cache::Change, RecvError>,
    owners: &mut HashSet<(String, String)>,
    lagged: &mut bool,
) -> bool {
    match change {
        Ok(change) => owners.extend(change.owner),
        Err(RecvError::Lagged(_)) => *lagged = true,
        Err(RecvError::Closed) => return false,
    }
    true
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
    {
        let mut envs = state.envs.write().expect("status table lock poisoned");
        let Some(row) = envs.get_mut(&(app.to_owned(), env.to_owned())) else {
            return;
        };
        if row.phase == "planned" {
            return;
        }
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
    }
    state
        .metrics
        .health
        .get_or_create(&AppEnv {
            app: app.to_owned(),
            env: env.to_owned(),
        })
        .set(health_value(overall));
}
