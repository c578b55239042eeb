//! The continuous loop (all stages; wiring only): watch the config repo, and for every new commit
//! sync each app × environment whose inputs changed; re-check everything on the drift interval.
//!
//! Input: [`Options`] and two cancellation tokens (drain, abort). Output: clusters kept equal to
//! the config repo, the HTTP face ([`http::router`]), and status for `gantry status`. The config
//! is read from each commit's tree (no checkout): a commit whose config does not load changes
//! nothing — the last good commit stays in force and the errors are reported at `/api/v1/apps`.

mod controller;
mod events;
mod http;
pub mod images;
mod leader;
mod live;
mod metrics;
mod pass;
mod promotion_api;
mod promotion_matrix;
pub mod promotions;
mod rollout_api;
mod rollout_commands;
pub mod rollouts;
mod serve;
pub mod state;
pub mod sync;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::git::{Credentials, RepoCache};
use crate::trigger::{self, TriggerEvent, WebhookConfig};
use controller::Controller;
use leader::Election;
pub use leader::{LEADER_LABEL, Leader};
pub use state::{Shared, State};
use sync::SyncController;
pub use sync::Target;

/// Webhook and poll events waiting for the loop. Each event only says "look again", and the loop
/// coalesces them into one fetch, so a small buffer loses nothing: when it is full, webhooks
/// answer 503 (the forge redelivers) and the poller waits.
const EVENT_QUEUE: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: SocketAddr, message: String },
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    #[error("leader election: {0}")]
    Lease(String),
}

/// Where environments' clusters come from.
#[derive(Clone)]
pub enum Clusters {
    /// Each environment's `cluster:` (kubeconfig context or in-cluster); an unreachable cluster
    /// makes that environment plan-only until it is reachable.
    Kubeconfig,
    /// Every environment syncs to this client (tests, and single-cluster setups).
    Fixed(kube::Client),
    /// Plan only, apply nothing.
    PlanOnly,
}

/// Where config errors are published as Kubernetes Events (e.g. regarding gantry's own pod).
#[derive(Clone)]
pub struct Events {
    pub recorder: kube::runtime::events::Recorder,
    pub regarding: k8s_openapi::api::core::v1::ObjectReference,
}

pub struct Options {
    pub config_repo: String,
    pub branch: String,
    pub credentials: Credentials,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub poll_interval: Duration,
    pub drift_interval: Duration,
    pub parallel: usize,
    pub clusters: Clusters,
    pub webhooks: WebhookConfig,
    pub git_timeout: Duration,
    /// `None`: a lone daemon, always the leader.
    pub leader: Option<Leader>,
    /// `None`: config errors go to the log and `/api` only.
    pub events: Option<Events>,
    /// Where sync records survive restarts; `None` keeps them in memory only (they are
    /// rebuilt by the first pass anyway: Git and the cluster hold what is needed to resume).
    pub store: Option<Arc<dyn crate::store::StateStore>>,
    /// Registry access and Secrets for signature verification.
    pub images: crate::artifact::admission::ImageAccess,
}

/// Runs until `shutdown` (drain) fires; `abort` stops running syncs too. Returns the bound
/// address through `bound` as soon as the HTTP server listens.
///
/// # Panics
///
/// When a status lock is poisoned, i.e. a sync panicked while writing it.
pub async fn run(
    options: Options,
    state: Shared,
    (shutdown, abort): (CancellationToken, CancellationToken),
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), DaemonError> {
    let tracker = TaskTracker::new();
    let mirror = prepare(&options, &state).await?;
    let (tx, mut rx) = mpsc::channel(EVENT_QUEUE);
    let rollout_handle: rollout_api::Handle = Arc::default();
    let promotion_handle: promotions::Handle = Arc::default();
    let app = http::router(
        Arc::clone(&state),
        Arc::clone(&mirror),
        options.branch.clone(),
        options.webhooks.clone(),
        tx.clone(),
        (Arc::clone(&rollout_handle), Arc::clone(&promotion_handle)),
    );
    let addr = serve(app, options.listen, &tracker, &shutdown).await?;
    tracing::info!(%addr, repo = %crate::git::redact_url(&options.config_repo), branch = %options.branch, "gantry daemon listening");
    if let Some(bound) = bound {
        let _ = bound.send(addr);
    }
    let watch = trigger::poll::Watch {
        mirror: Arc::clone(&mirror),
        branches: vec![options.branch.clone()],
        interval: options.poll_interval,
    };
    tracker.spawn(trigger::poll::run(watch, tx.clone(), shutdown.clone()));
    let mut leadership = if let Some(l) = &options.leader {
        Some(Election::start(l).await?)
    } else {
        state.leader.store(true, Ordering::Relaxed);
        state.metrics.leader.set(1);
        None
    };

    let controllers = controllers(
        &options,
        &state,
        (&mirror, &tx, &promotion_handle),
        &tracker,
        (&shutdown, &abort),
    );
    let _ = rollout_handle.set(controllers.rollouts.clone());
    let _ = promotion_handle.set(controllers.promotions.clone());
    let mut looper = pass::Loop::new(mirror, options, (state, shutdown.clone()), controllers);
    looper.pass(false, true, &shutdown).await;
    let mut drift = tokio::time::interval(looper.options.drift_interval);
    drift.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            event = rx.recv() => {
                let Some(event) = event else { break };
                looper.handle(event, &shutdown).await;
            }
            _ = drift.tick() => looper.pass(true, true, &shutdown).await,
            changed = async { leadership.as_mut().expect("guarded").changed().await }, if leadership.is_some() => {
                let leading = changed.as_ref().is_ok_and(|leads| *leads);
                if let Err(e) = changed {
                    tracing::error!(error = %e, "leader election stopped; following from now on");
                    leadership = None;
                }
                looper.lead(leading, &shutdown).await;
            }
        }
    }
    // Unlabelled first, so the Service stops sending here; then the Lease is released (and the
    // release awaited), so a follower takes over at once. Syncs still running finish after it:
    // both replicas then apply the same render, which server-side apply makes harmless.
    if let Some(l) = &looper.options.leader {
        leader::label(l, false).await;
    }
    if let Some(election) = leadership {
        election.release().await;
    }
    tracing::info!("shutting down: finishing running syncs (a second signal aborts them)");
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// The config repo's mirror, and the state as far as it is known before the first pass.
async fn prepare(options: &Options, state: &State) -> Result<Arc<crate::git::Mirror>, DaemonError> {
    let cache = RepoCache::new(&options.data_dir.join("git"), options.git_timeout);
    let mirror = cache.mirror(&options.config_repo, options.credentials.clone())?;
    // Stages that commit (image updates, reverts) push through this mirror.
    mirror.observe_pushes(state.metrics.push_observer());
    {
        let mut repo = state.repo.write().expect("repo status lock poisoned");
        repo.url = crate::git::redact_url(&options.config_repo);
        repo.branch.clone_from(&options.branch);
    }
    if let Some(store) = &options.store {
        restore(state, store.as_ref()).await;
        restore_rollouts(state, store.as_ref()).await;
        let _ = state.store.set(Arc::clone(store));
    }
    Ok(mirror)
}

/// One controller per stage, and the signature verifier they share.
pub(super) struct Controllers {
    pub syncs: Controller<SyncController>,
    pub rollouts: Controller<rollouts::RolloutController>,
    pub promotions: Controller<promotions::PromotionController>,
    pub images: Controller<images::ImageUpdateController>,
    pub verifier: Arc<crate::artifact::admission::Verifier>,
}

/// One controller per stage: the config sync, the canary rollouts, the promotions, the image
/// updates.
fn controllers(
    options: &Options,
    state: &Shared,
    (mirror, tx, promotion_handle): (
        &Arc<crate::git::Mirror>,
        &mpsc::Sender<TriggerEvent>,
        &promotions::Handle,
    ),
    tracker: &TaskTracker,
    (shutdown, abort): (&CancellationToken, &CancellationToken),
) -> Controllers {
    let signals = (shutdown.clone(), abort.clone());
    let verifier = Arc::new(crate::artifact::admission::Verifier::new(
        options.images.clone(),
    ));
    let syncs = Controller::new(
        SyncController {
            state: Arc::clone(state),
            promotions: Arc::clone(promotion_handle),
        },
        options.parallel,
        tracker.clone(),
        signals.clone(),
    );
    let rollouts = Controller::new(
        rollouts::RolloutController {
            state: Arc::clone(state),
            mirror: Arc::clone(mirror),
            branch: options.branch.clone(),
            syncs: tx.clone(),
            recorder: options.events.as_ref().map(|e| e.recorder.clone()),
        },
        options.parallel,
        tracker.clone(),
        signals.clone(),
    );
    let promotions = Controller::new(
        promotions::PromotionController {
            state: Arc::clone(state),
            mirror: Arc::clone(mirror),
            branch: options.branch.clone(),
            verifier: Arc::clone(&verifier),
            access: options.images.clone(),
            sources: RepoCache::new(&options.data_dir.join("sources"), options.git_timeout),
            credentials: options.credentials.clone(),
            scans: crate::promotion::checks::ScanMemo::default(),
            events: tx.clone(),
        },
        options.parallel,
        tracker.clone(),
        signals.clone(),
    );
    let images = Controller::new(
        images::ImageUpdateController {
            state: Arc::clone(state),
            mirror: Arc::clone(mirror),
            branch: options.branch.clone(),
            events: tx.clone(),
        },
        options.parallel,
        tracker.clone(),
        signals,
    );
    Controllers {
        syncs,
        rollouts,
        promotions,
        images,
        verifier,
    }
}

/// Tells the loop that the daemon's own commit moved the config branch. The mirror already
/// holds it (it pushed it), so no poll would report it: without this the loop would sync a
/// stale commit until the drift pass. The loop reads it as after a poll, without a fetch.
pub(super) async fn announce(
    events: &mpsc::Sender<TriggerEvent>,
    (mirror, branch): (&crate::git::Mirror, &str),
    commit: String,
) {
    let event = TriggerEvent::RepoChanged {
        from: crate::trigger::Forge::Poll,
        url: mirror.url().to_owned(),
        alt_urls: Vec::new(),
        git_ref: format!("refs/heads/{branch}"),
        after: commit,
    };
    if events.send(event).await.is_err() {
        tracing::debug!("the loop has stopped; the next start syncs the commit");
    }
}

/// Rollouts in progress come back from the store; each resumes once the first sync of its app ×
/// environment has told it the cluster and the rendered stable Deployment.
async fn restore_rollouts(state: &State, store: &dyn crate::store::StateStore) {
    match store.load_rollouts().await {
        Ok(canaries) => {
            let mut table = state.rollouts.lock().expect("rollouts lock poisoned");
            for canary in canaries {
                let key = crate::core::AppEnv::new(canary.app.as_str(), canary.env.as_str());
                table.insert(
                    key,
                    state::Active {
                        canary,
                        target: None,
                        rendered: None,
                        synced: None,
                    },
                );
            }
            tracing::info!(rollouts = table.len(), "rollouts restored");
        }
        Err(e) => tracing::warn!(error = %e, "cannot load the rollouts; starting without them"),
    }
}

/// Shows the stored records at `/api` until the first pass replaces them.
async fn restore(state: &State, store: &dyn crate::store::StateStore) {
    match store.load().await {
        Ok(records) => {
            let mut envs = state.envs.write().expect("status table lock poisoned");
            for r in records {
                let row = state::EnvStatus::restored(r);
                envs.insert(row.key(), row);
            }
            tracing::info!(records = envs.len(), "sync records restored");
        }
        Err(e) => tracing::warn!(error = %e, "cannot load the sync records; starting empty"),
    }
}

/// Binds `addr` and serves `app` on the tracker until `shutdown`; returns the bound address.
async fn serve(
    app: axum::Router,
    addr: SocketAddr,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> Result<SocketAddr, DaemonError> {
    let fail = |e: std::io::Error| DaemonError::Listen {
        addr,
        message: e.to_string(),
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(fail)?;
    let bound = listener.local_addr().map_err(fail)?;
    tracker.spawn(serve::run(app, listener, shutdown.clone()));
    Ok(bound)
}
