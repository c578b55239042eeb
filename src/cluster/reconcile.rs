//! One reconcile of an app × environment (stage ⑥): render the overlay at the commit, skip
//! it when its inputs are what the last sync applied, hold it for a closed sync window, admit
//! its images (policies, signatures), then sync it to the cluster or preview it without one.
//!
//! Input: a [`Job`] (commit tree, overlay, policies, windows), its [`Target`] and what the
//! last sync left ([`Last`]). Output: an [`Attempt`], or a [`Failure`] with a metric label.
//! A render or admission error touches nothing on the cluster: the last good revision stays.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::outcome::Done;
use super::target::Target;
use super::window::{self, Gate};
use super::{ClusterError, SyncContext};
use crate::artifact::admission::{Admission, Verifier};
use crate::core::{AppEnv, AppId, EnvId, Revision};
use crate::git::TreeFs;
use crate::manifest::{self, Fs as _, Reorder};

#[derive(Clone)]
pub struct Job {
    pub app: AppId,
    pub env: EnvId,
    pub namespace: String,
    pub overlay: PathBuf,
    pub revision: Revision,
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
    /// Changes to the rendered objects before anything else sees them: a rollout that owns the
    /// app × environment keeps its stable Deployment this way.
    pub adjust: Option<Adjust>,
}

/// See [`Job::adjust`].
pub type Adjust = Arc<dyn Fn(&mut Vec<(serde_json::Value, String)>) + Send + Sync>;

impl Job {
    /// A job for every app × environment of `config` at `revision`, with the environment's
    /// cluster: an ordinary sync (not forced, not manual).
    #[must_use]
    pub fn all(
        config: &crate::config::Config,
        (revision, tree): (&str, &Arc<TreeFs>),
        verifier: &Arc<Verifier>,
        events: Option<&kube::runtime::events::Recorder>,
    ) -> Vec<(Self, crate::config::Cluster)> {
        let policies = Arc::new(config.policies.clone());
        let registry = config.registry.clone().map(Arc::new);
        let mut out = Vec::new();
        for app in &config.apps {
            for env_name in &app.environments {
                let Some(env) = config.environments.iter().find(|e| &e.name == env_name) else {
                    continue;
                };
                let job = Self {
                    app: app.name.as_str().into(),
                    env: env.name.as_str().into(),
                    namespace: env.namespace.clone(),
                    overlay: app.overlay_dir(&env.name),
                    revision: revision.into(),
                    tree: Arc::clone(tree),
                    policies: Arc::clone(&policies),
                    registry: registry.clone(),
                    verifier: Arc::clone(verifier),
                    force: false,
                    windows: Arc::new(env.sync_windows.clone()),
                    manual: false,
                    allow_large_prune: app.allow_large_prune,
                    events: events.cloned(),
                    adjust: None,
                };
                out.push((job, env.cluster.clone()));
            }
        }
        out
    }

    #[must_use]
    pub fn key(&self) -> AppEnv {
        AppEnv {
            app: self.app.clone(),
            env: self.env.clone(),
        }
    }
}

/// What the last sync of the app × environment left behind.
#[derive(Default)]
pub struct Last {
    /// Digest of its inputs ([`Done::digest`]); `None` after a failure or a held prune.
    pub digest: Option<String>,
    /// Without a cluster: its plan, the baseline of the next preview.
    pub planned: HashMap<String, String>,
}

/// What one attempt came to.
pub enum Attempt {
    /// The render is what the last sync applied, and nothing forces a sync.
    Unchanged,
    /// A sync window keeps it from running now; the note says until when.
    Held {
        note: String,
        /// When the window opens, if a schedule says so.
        opens: Option<chrono::DateTime<chrono::Utc>>,
    },
    Ran(Box<Done>),
}

/// Why a sync attempt failed: a short `reason` for `gantry_syncs_total{result="failure",
/// reason}` and the message for the status.
pub struct Failure {
    pub reason: &'static str,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl Failure {
    fn new(reason: &'static str, message: impl std::fmt::Display) -> Self {
        Self {
            reason,
            message: message.to_string(),
        }
    }
}

/// Performs one attempt of `job`.
///
/// # Errors
///
/// A [`Failure`] when the render, the admission, the plan or the cluster fails.
pub async fn attempt(job: &Job, target: &Target, last: Last) -> Result<Attempt, Failure> {
    let tree = Arc::clone(&job.tree);
    let overlay = job.overlay.clone();
    let resources =
        tokio::task::spawn_blocking(move || manifest::render(&*tree, &overlay, Reorder::Legacy))
            .await
            .map_err(|e| Failure::new("render", format!("render task failed: {e}")))?
            .map_err(|e| Failure::new("render", e))?;
    let mut rendered: Vec<_> = resources.into_iter().map(|r| (r.obj, r.origin)).collect();
    if let Some(adjust) = &job.adjust {
        adjust(&mut rendered);
    }
    let objects: Vec<&serde_json::Value> = rendered.iter().map(|(o, _)| o).collect();
    let digest = inputs_digest(job, &serde_json::to_string(&objects).unwrap_or_default());
    let unchanged = last.digest.as_deref() == Some(digest.as_str());
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
        let note = match opens {
            Some(at) => format!(
                "waiting for its sync window ({why}; opens in {}, at {})",
                window::wait_text(now, at),
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            None => format!("waiting for its sync window ({why})"),
        };
        return Ok(Attempt::Held { note, opens });
    }
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
            super::preview::preview(rendered, &ctx, &last.planned, reason, digest, warning)
                .map(|d| Attempt::Ran(Box::new(d)))
                .map_err(|e| Failure::new("plan", e))
        }
        Target::Cluster(cluster) => {
            let mut done = cluster
                .sync(rendered, &ctx, digest, warning)
                .await
                .map_err(|e: ClusterError| Failure::new(e.metric_label(), e))?;
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

/// The first 12 characters of a commit id, as logs and notes show it.
#[must_use]
pub fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}
