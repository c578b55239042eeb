//! One sync of one app in one environment, as the daemon runs it: render from the commit's tree,
//! skip when its inputs did not change, admit (policies, signatures), ensure the namespace,
//! plan, apply and prune (or only plan without a cluster), record.
//!
//! Input: a [`Job`] (tree, overlay, app, environment, revision, policies) and the environment's
//! [`Target`]. Output: the [`EnvStatus`] row, metrics, and `DriftCorrected` Events. A render or
//! admission error records the error and touches nothing on the cluster: the last good
//! revision stays applied.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument as _;

use super::images::{Admission, Verifier};
use super::state::{AppEnv, EnvStatus, ObjectStatus, Phase, Shared, SyncResult, health_value};
pub use super::target::{ClusterTarget, Target};
use crate::cluster::window::{self, Gate};
use crate::cluster::{HealthStatus, SyncContext};
use crate::git::TreeFs;
use crate::manifest::{self, Fs as _, Reorder};

#[derive(Clone)]
pub struct Job {
    pub app: String,
    pub env: String,
    pub namespace: String,
    pub overlay: PathBuf,
    pub revision: String,
    pub tree: Arc<TreeFs>,
    /// The config's policies: registry, workload and signature rules are checked before
    /// anything applies.
    pub policies: Arc<Vec<crate::config::policy::Policy>>,
    /// The config's registry: its credentials are used to verify signatures.
    pub registry: Option<Arc<crate::config::Registry>>,
    pub verifier: Arc<Verifier>,
    /// Sync even when the render is unchanged (the steady-state drift pass, a manual sync).
    pub force: bool,
    /// The environment's sync windows, checked before anything applies.
    pub windows: Arc<Vec<crate::config::SyncWindow>>,
    /// Asked for by a person (`gantry sync`): windows with `manualSync` let it through.
    pub manual: bool,
    /// Prune more than the guard's share (the app's `allowLargePrune`, or a manual sync's
    /// approval); otherwise such a prune is held and reported.
    pub allow_large_prune: bool,
    /// Where drift corrections are published as Events; `None` outside a pod.
    pub events: Option<kube::runtime::events::Recorder>,
}

impl Job {
    #[must_use]
    pub fn key(&self) -> (String, String) {
        (self.app.clone(), self.env.clone())
    }
}

/// Runs `job` against `target` and records the outcome in `state`; `false` when the sync
/// failed (the workers then retry it with backoff).
///
/// # Panics
///
/// When the status table's lock is poisoned, i.e. another sync panicked while writing it.
pub async fn run(job: Job, target: Target, state: Shared) -> bool {
    let started = Instant::now();
    let span = tracing::info_span!("sync", app = %job.app, env = %job.env, revision = %short(&job.revision));
    let outcome = match attempt(&job, &target, &state).instrument(span).await {
        Ok(Attempt::Unchanged) => {
            unchanged(&job, &state);
            return true;
        }
        Ok(Attempt::Held(note)) => {
            wait_for_window(&job, &state, note);
            return true;
        }
        Ok(Attempt::Ran(done)) => Ok(*done),
        Err(failure) => Err(failure),
    };
    let labels = AppEnv {
        app: job.app.clone(),
        env: job.env.clone(),
    };
    state
        .metrics
        .syncs
        .get_or_create(&SyncResult {
            app: job.app.clone(),
            env: job.env.clone(),
            result: if outcome.is_ok() {
                "success"
            } else {
                "failure"
            }
            .into(),
            reason: outcome.as_ref().err().map(|f| f.reason.to_owned()),
        })
        .inc();
    state
        .metrics
        .sync_seconds
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    if let Ok(done) = &outcome {
        count(&state, &labels, done);
    }
    let succeeded = outcome.is_ok();
    record(&job, &state, outcome.map_err(|f| f.message));
    // Health as the objects report it now: their watch events may have come before this
    // sync's row was written, and the apply responses predate the controllers' work.
    if let Target::Cluster(cluster) = &target {
        super::live::refresh(&cluster.cache, &state, &job.app, &job.env);
    }
    // The status lock is released before the store is awaited.
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
    succeeded
}

/// The status row of `job`'s app × environment, made on its first attempt.
fn row_of<'a>(
    envs: &'a mut std::collections::BTreeMap<(String, String), EnvStatus>,
    job: &Job,
) -> &'a mut EnvStatus {
    envs.entry(job.key()).or_insert_with(|| EnvStatus {
        app: job.app.clone(),
        env: job.env.clone(),
        health: "Unknown".into(),
        ..EnvStatus::default()
    })
}

/// Records that `job` waits for a sync window: nothing is rendered or applied; what runs stays.
pub(super) fn wait_for_window(job: &Job, state: &Shared, note: String) {
    let mut envs = state.envs.write().expect("status table lock poisoned");
    let row = row_of(&mut envs, job);
    if row.desired.as_deref() != Some(job.revision.as_str()) || row.phase != Phase::Waiting {
        tracing::info!(app = %job.app, env = %job.env, revision = %short(&job.revision), %note, "sync held by its window");
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

fn count(state: &Shared, labels: &AppEnv, done: &Done) {
    if done.phase != Phase::Planned {
        state
            .metrics
            .health
            .get_or_create(labels)
            .set(health_value(done.health));
    }
    state
        .metrics
        .applied
        .get_or_create(labels)
        .inc_by(done.applied);
    state
        .metrics
        .pruned
        .get_or_create(labels)
        .inc_by(done.pruned);
    state
        .metrics
        .drift_corrections
        .get_or_create(labels)
        .inc_by(done.corrected);
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
                "-".into()
            } else {
                format!("{:?}", done.health)
            };
            row.planned = done.planned;
            row.objects = done.objects;
            row.error = None;
            row.note = done.warning;
            row.render_digest = (!done.prune_held).then_some(done.digest);
            tracing::info!(app = %job.app, env = %job.env, revision = %short(&job.revision), phase = %row.phase, health = %row.health, "synced");
        }
        Err(message) => {
            tracing::warn!(app = %job.app, env = %job.env, revision = %short(&job.revision), error = %message, "sync failed");
            row.phase = Phase::Failed;
            row.error = Some(message);
            // What the failed attempt left is unknown (it may have applied part): the next
            // attempt must run even when its render equals the last successful one.
            row.render_digest = None;
        }
    }
}

pub(super) struct Done {
    /// Objects a drift pass changed although the render had not: drift that was corrected.
    pub(super) corrected: u64,
    /// Objects this sync created or changed on the cluster.
    pub(super) changed: Vec<k8s_openapi::api::core::v1::ObjectReference>,
    pub(super) planned: HashMap<String, String>,
    pub(super) phase: Phase,
    pub(super) health: HealthStatus,
    pub(super) objects: Vec<ObjectStatus>,
    pub(super) digest: String,
    pub(super) applied: u64,
    pub(super) pruned: u64,
    /// The prune guard held a prune back: the next sync must run even with the same render
    /// (an approval in gantry.yaml does not change it).
    pub(super) prune_held: bool,
    pub(super) warning: Option<String>,
}

/// `Ok(None)`: the render is what was last synced and this is no drift pass.
/// What one attempt came to.
enum Attempt {
    /// The render is what the last sync applied, and nothing forces a sync.
    Unchanged,
    /// A sync window keeps it from running now; the note says until when.
    Held(String),
    Ran(Box<Done>),
}

/// Why a sync attempt failed: a short `reason` for `gantry_syncs_total{result="failure",
/// reason}` and the message for the status.
pub(super) struct Failure {
    pub(super) reason: &'static str,
    pub(super) message: String,
}

impl Failure {
    fn new(reason: &'static str, message: impl std::fmt::Display) -> Self {
        Self {
            reason,
            message: message.to_string(),
        }
    }
}

async fn attempt(job: &Job, target: &Target, state: &Shared) -> Result<Attempt, Failure> {
    let tree = Arc::clone(&job.tree);
    let overlay = job.overlay.clone();
    let resources =
        tokio::task::spawn_blocking(move || manifest::render(&*tree, &overlay, Reorder::Legacy))
            .await
            .map_err(|e| Failure::new("render", format!("render task failed: {e}")))?
            .map_err(|e| Failure::new("render", e))?;
    let digest = inputs_digest(job, &manifest::to_yaml(&resources));
    let (last, previous) = state
        .envs
        .read()
        .expect("status table lock poisoned")
        .get(&job.key())
        .map(|r| (r.render_digest.clone(), r.planned.clone()))
        .unwrap_or_default();
    let unchanged = last.as_deref() == Some(digest.as_str());
    if !job.force && unchanged {
        return Ok(Attempt::Unchanged);
    }
    let gate = window::gate(&job.windows, chrono::Utc::now(), job.manual);
    if unchanged && !job.manual && gate != Gate::Open {
        // A drift pass in a closed window: nothing new waits, the pass after it opens checks.
        return Ok(Attempt::Unchanged);
    }
    if let (Target::Cluster(_), Gate::Closed { why, opens }) = (target, gate) {
        let now = chrono::Utc::now();
        return Ok(Attempt::Held(match opens {
            Some(at) => format!(
                "waiting for its sync window ({why}; opens in {}, at {})",
                window::wait_text(now, at),
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            None => format!("waiting for its sync window ({why})"),
        }));
    }
    let rendered: Vec<_> = resources.into_iter().map(|r| (r.obj, r.origin)).collect();
    let warning = job
        .verifier
        .admit(Admission {
            rendered: &rendered,
            namespace: &job.namespace,
            policies: &job.policies,
            tree: &job.tree,
            registry: job.registry.as_deref(),
            plan_only: matches!(target, Target::PlanOnly { .. }),
        })
        .await
        .map_err(|m| Failure::new("policy", m))?;
    let mut ctx = SyncContext::new(&job.app, &job.env, &job.namespace, &job.revision);
    ctx.prune = true;
    ctx.allow_large_prune = job.allow_large_prune;
    match target {
        Target::PlanOnly { reason } => {
            super::plan::plan_only(rendered, &ctx, &previous, reason, digest, warning)
                .map(|d| Attempt::Ran(Box::new(d)))
                .map_err(|m| Failure::new("plan", m))
        }
        Target::Cluster(cluster) => {
            let mut done = cluster
                .sync(rendered, &ctx, digest, warning)
                .await
                .map_err(|e| Failure::new(e.metric_label(), e))?;
            if unchanged {
                // Same render as the last sync: whatever the apply changed had drifted.
                done.corrected = done.changed.len() as u64;
                if let Some(recorder) = &job.events {
                    drift_events(recorder, &done.changed, &job.revision).await;
                }
            }
            Ok(Attempt::Ran(Box::new(done)))
        }
    }
}

/// A `DriftCorrected` Warning Event regarding each object a drift pass changed back, as the
/// watch-driven self-heal publishes them (`kubectl get events`).
async fn drift_events(
    recorder: &kube::runtime::events::Recorder,
    changed: &[k8s_openapi::api::core::v1::ObjectReference],
    revision: &str,
) {
    let event = kube::runtime::events::Event {
        type_: kube::runtime::events::EventType::Warning,
        reason: "DriftCorrected".into(),
        note: Some(format!(
            "changed outside Git; the drift pass re-applied it as of {}",
            short(revision)
        )),
        action: "DriftPass".into(),
        secondary: None,
    };
    for object in changed {
        if let Err(e) = recorder.publish(&event, object).await {
            tracing::warn!(object = ?object.name, error = %crate::cluster::apply::describe(&e), "cannot publish the drift event");
        }
    }
}

/// What decides a sync besides the commit id: the render, the target namespace and the policy
/// files. A commit that changes none of them needs no sync; one that only tightens a policy
/// does, so that the running objects are admitted again.
fn inputs_digest(job: &Job, render: &str) -> String {
    let mut inputs = render.as_bytes().to_vec();
    inputs.extend_from_slice(b"\0namespace: ");
    inputs.extend_from_slice(job.namespace.as_bytes());
    for p in job.policies.iter() {
        inputs.extend_from_slice(b"\0policy: ");
        inputs.extend_from_slice(p.file.to_string_lossy().as_bytes());
        inputs.push(0);
        // The config loaded from this tree, so its policy files are there.
        inputs.extend(job.tree.read(&p.file).unwrap_or_default());
    }
    crate::core::sha256(&inputs)
}

fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}
