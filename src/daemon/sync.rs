//! Runs one sync of an app × environment for the daemon (wiring): the attempt itself is the
//! stage's ([`reconcile::attempt`]); this records it — the status row, metrics, the state
//! store — and refreshes the row's health from the watch cache.
//!
//! Input: a [`Job`] and the environment's [`Target`]. Output: the [`EnvStatus`] row and
//! metrics; the controller's [`Action`], or the [`Failure`] its error policy retries.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::Instrument as _;

use super::controller::{Action, Reconcile};
use super::state::{EnvStatus, Phase, RowHealth, Shared};
use crate::cluster::outcome::Done;
use crate::cluster::reconcile::{self, Attempt, Last};
pub use crate::cluster::reconcile::{Failure, Job};
pub use crate::cluster::target::{ClusterTarget, Target};
use crate::core::AppEnv;

/// The config-sync controller's reconcile: one sync of an app × environment.
pub struct SyncController {
    pub state: Shared,
    /// Told after every sync, so a promotion out of the synced environment is assessed at
    /// once (set after both controllers exist).
    pub promotions: super::promotions::Handle,
}

/// A cron window opens on the minute; one without a schedule is checked this often.
const WINDOW_CHECK: Duration = Duration::from_secs(30);

impl Reconcile for SyncController {
    type Key = AppEnv;
    type Work = (Job, Target);
    type Error = Failure;

    fn key((job, _): &Self::Work) -> AppEnv {
        job.key()
    }

    /// Keeps a forced (drift) pass forced even when a newer commit replaces it.
    fn coalesce((pending, _): &Self::Work, (job, target): Self::Work) -> Self::Work {
        let force = job.force || pending.force;
        (Job { force, ..job }, target)
    }

    /// A retry syncs even an unchanged render: the failed attempt may have applied part.
    fn again((job, target): Self::Work) -> Self::Work {
        (Job { force: true, ..job }, target)
    }

    async fn reconcile(&self, (job, target): Self::Work) -> Result<Action, Failure> {
        let key = job.key();
        let action = run(job, target, Arc::clone(&self.state)).await?;
        if let Some(promotions) = self.promotions.get() {
            for next in super::promotions::out_of(&self.state, &key) {
                promotions.submit(next);
            }
        }
        Ok(action)
    }

    fn retrying(&self, key: &AppEnv, failures: u32, delay: Duration, error: &Failure) {
        super::events::SyncRetry {
            key,
            failures,
            delay,
            reason: error.reason,
        }
        .emit(&self.state.metrics);
    }

    fn queue_depth(&self, pending: usize) {
        self.state
            .metrics
            .queue_depth
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }

    fn may_run(&self) -> bool {
        self.state.leader.load(Ordering::Relaxed)
    }
}

/// Runs `job` against `target` and records the outcome in `state`: done, requeued for its
/// sync window, or failed (the controller's error policy retries it with backoff).
///
/// # Errors
///
/// The sync's [`Failure`], already recorded in the status row.
///
/// # Panics
///
/// When the status table's lock is poisoned, i.e. another sync panicked while writing it.
pub async fn run(job: Job, target: Target, state: Shared) -> Result<Action, Failure> {
    let started = Instant::now();
    let span = tracing::info_span!("sync", app = %job.app, env = %job.env, revision = %job.revision.short());
    let last = state
        .envs
        .read()
        .expect("status table lock poisoned")
        .get(&job.key())
        .map(|r| Last {
            digest: r.render_digest.clone(),
            planned: r.planned.clone(),
        })
        .unwrap_or_default();
    let outcome = match reconcile::attempt(&job, &target, last)
        .instrument(span)
        .await
    {
        Ok(Attempt::Unchanged) => {
            unchanged(&job, &state);
            return Ok(Action::Done);
        }
        Ok(Attempt::Held { note, opens }) => {
            wait_for_window(&job, &state, note);
            let until = opens
                .and_then(|at| (at - chrono::Utc::now()).to_std().ok())
                .map_or(WINDOW_CHECK, |d| d + Duration::from_secs(1));
            return Ok(Action::RequeueAfter(until.min(WINDOW_CHECK)));
        }
        Ok(Attempt::Ran(done)) => Ok(*done),
        Err(failure) => Err(failure),
    };
    super::events::SyncFinished {
        key: &job.key(),
        revision: &job.revision,
        outcome: outcome.as_ref(),
        elapsed: started.elapsed(),
    }
    .emit(&state.metrics);
    let result = match outcome {
        Ok(done) => {
            record(&job, &state, Ok(done));
            Ok(Action::Done)
        }
        Err(failure) => {
            record(&job, &state, Err(failure.message.clone()));
            Err(failure)
        }
    };
    // Health as the objects report it now: their watch events may have come before this
    // sync's row was written, and the apply responses predate the controllers' work.
    if let Target::Cluster(cluster) = &target {
        super::live::refresh(&cluster.cache, &state, &job.key());
    }
    save(&job, &state).await;
    result
}

/// Saves the row in the state store, if there is one. The status lock is released before the
/// store is awaited.
async fn save(job: &Job, state: &Shared) {
    let saved = state
        .envs
        .read()
        .expect("status table lock poisoned")
        .get(&job.key())
        .map(EnvStatus::record);
    if let (Some(store), Some(saved)) = (state.store.get(), saved)
        && let Err(e) = store.save(&saved).await
    {
        tracing::warn!(app = %job.app, env = %job.env, error = %e, "cannot save the sync record");
    }
}

/// The status row of `job`'s app × environment, made on its first attempt.
fn row_of<'a>(
    envs: &'a mut std::collections::BTreeMap<crate::core::AppEnv, EnvStatus>,
    job: &Job,
) -> &'a mut EnvStatus {
    envs.entry(job.key()).or_insert_with(|| EnvStatus {
        app: job.app.clone(),
        env: job.env.clone(),
        ..EnvStatus::default()
    })
}

/// Records that `job` waits for a sync window: nothing is rendered or applied; what runs stays.
pub(super) fn wait_for_window(job: &Job, state: &Shared, note: String) {
    let mut envs = state.envs.write().expect("status table lock poisoned");
    let row = row_of(&mut envs, job);
    if row.desired.as_deref() != Some(job.revision.as_str()) || row.phase != Phase::Waiting {
        tracing::info!(app = %job.app, env = %job.env, revision = %job.revision.short(), %note, "sync held by its window");
    }
    row.desired = Some(job.revision.clone());
    row.phase = Phase::Waiting;
    row.note = Some(note);
    row.attempts += 1;
}

/// The render is what the last successful sync applied: the cluster already runs this commit's
/// state, so it becomes the applied revision too; nothing ran, no metrics.
fn unchanged(job: &Job, state: &Shared) {
    let mut envs = state.envs.write().expect("status table lock poisoned");
    if let Some(row) = envs.get_mut(&job.key()) {
        row.desired = Some(job.revision.clone());
        if row.error.is_none() {
            row.revision = Some(job.revision.clone());
        }
        if row.phase == Phase::Waiting {
            // Held by a window, and the render is what already runs: nothing waits any more.
            row.phase = Phase::Synced;
            row.note = None;
        }
    }
}

/// Writes the row. Desired revision (this attempt), applied revision (the last success) and
/// the last error stay apart: a failed attempt never claims its revision runs.
fn record(job: &Job, state: &Shared, outcome: Result<Done, String>) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut envs = state.envs.write().expect("status table lock poisoned");
    let row = row_of(&mut envs, job);
    row.last_sync = Some(now);
    row.attempts += 1;
    row.desired = Some(job.revision.clone());
    match outcome {
        Ok(done) => {
            row.revision = Some(job.revision.clone());
            row.phase = done.phase;
            // Without a cluster nothing live is known.
            row.health = if done.phase == Phase::Planned {
                RowHealth::NotApplied
            } else {
                done.health.into()
            };
            row.planned = done.planned;
            row.objects = done.objects;
            row.error = None;
            row.note = done.warning;
            row.render_digest = (!done.prune_held).then_some(done.digest);
        }
        Err(message) => {
            row.phase = Phase::Failed;
            row.error = Some(message);
            // What the failed attempt left is unknown (it may have applied part): the next
            // attempt must run even when its render equals the last successful one.
            row.render_digest = None;
        }
    }
}
