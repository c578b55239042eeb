//! The continuous loop (all stages; wiring only): watch the config repo, and for every new commit
//! sync each app × environment whose render changed; re-check everything on the drift interval.
//!
//! Input: [`Options`] and two cancellation tokens (drain, abort). Output: clusters kept equal to
//! the config repo, the HTTP face ([`http::router`]), and status for `gantry status`. The config
//! is read from each commit's tree (no checkout): a commit whose config does not load changes
//! nothing — the last good commit stays in force and the errors are reported at `/api/v1/apps`.

pub mod http;
pub mod images;
mod leader;
mod plan;
pub mod state;
pub mod sync;
mod workers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{self, Cluster, Config};
use crate::git::{Credentials, Mirror, RepoCache, TreeFs};
use crate::trigger::{self, TriggerEvent, WebhookConfig};
use leader::elect;
pub use leader::{LEADER_LABEL, Leader};
pub use state::{Shared, State};
use sync::Job;
pub use sync::Target;
use workers::Workers;

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
    pub images: images::ImageAccess,
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
        restore(&state, store.as_ref()).await;
        let _ = state.store.set(Arc::clone(store));
    }
    let (tx, mut rx) = mpsc::channel(EVENT_QUEUE);
    let app = http::router(
        Arc::clone(&state),
        Arc::clone(&mirror),
        options.branch.clone(),
        options.webhooks.clone(),
        tx.clone(),
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
    tracker.spawn(trigger::poll::run(watch, tx, shutdown.clone()));
    let mut leadership = if let Some(l) = &options.leader {
        Some(elect(l).await?)
    } else {
        state.leader.store(true, Ordering::Relaxed);
        state.metrics.leader.set(1);
        None
    };

    let workers = Workers::new(
        options.parallel,
        tracker.clone(),
        (shutdown.clone(), abort),
        Arc::clone(&state),
    );
    let mut looper = Loop {
        verifier: Arc::new(images::Verifier::new(options.images.clone())),
        mirror,
        options,
        state,
        workers,
        targets: HashMap::new(),
        good: None,
        seen: None,
    };
    looper.pass(false, true, &shutdown).await;
    let mut drift = tokio::time::interval(looper.options.drift_interval);
    drift.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            event = rx.recv() => {
                let Some(event) = event else { break };
                if looper.is_about(&event) {
                    // The poller fetched before it reported; a webhook arrives before any fetch.
                    let fetched = matches!(event, TriggerEvent::RepoChanged { from: trigger::Forge::Poll, .. });
                    looper.pass(false, !fetched, &shutdown).await;
                }
            }
            _ = drift.tick() => looper.pass(true, true, &shutdown).await,
            changed = async { leadership.as_mut().expect("guarded").changed().await }, if leadership.is_some() => {
                let leading = changed.is_ok() && leadership.as_ref().is_some_and(|rx| *rx.borrow());
                if changed.is_err() {
                    tracing::error!("leader election stopped; following from now on");
                    leadership = None;
                }
                looper.lead(leading, &shutdown).await;
            }
        }
    }
    // Unlabelled first, so the Service stops sending here; then dropping the receiver
    // releases the lease, so a follower takes over at once.
    if let Some(l) = &looper.options.leader {
        leader::label(l, false).await;
    }
    drop(leadership);
    tracing::info!("shutting down: finishing running syncs (a second signal aborts them)");
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// Shows the stored records at `/api` until the first pass replaces them.
async fn restore(state: &State, store: &dyn crate::store::StateStore) {
    match store.load().await {
        Ok(records) => {
            let mut envs = state.envs.write().expect("status table lock poisoned");
            for r in records {
                let row = state::EnvStatus::restored(r);
                envs.insert((row.app.clone(), row.env.clone()), row);
            }
            tracing::info!(records = envs.len(), "sync records restored");
        }
        Err(e) => tracing::warn!(error = %e, "cannot load the sync records; starting empty"),
    }
}

/// Publishes a config error as a Warning Event; the Events API caps notes at 1 KiB.
async fn publish(events: Events, mut note: String) {
    if note.len() > 1024 {
        let cut = (0..=1021)
            .rev()
            .find(|i| note.is_char_boundary(*i))
            .unwrap_or(0);
        note.truncate(cut);
        note.push('…');
    }
    let event = kube::runtime::events::Event {
        type_: kube::runtime::events::EventType::Warning,
        reason: "ConfigInvalid".into(),
        note: Some(note),
        action: "LoadConfig".into(),
        secondary: None,
    };
    if let Err(e) = events.recorder.publish(&event, &events.regarding).await {
        tracing::warn!(error = %e, "cannot publish the config error as an Event");
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
    let stop = shutdown.clone();
    tracker.spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok(bound)
}

struct Loop {
    mirror: Arc<Mirror>,
    options: Options,
    state: Shared,
    workers: Workers,
    targets: HashMap<String, Target>,
    verifier: Arc<images::Verifier>,
    /// The last commit whose config loaded, with its tree and config.
    good: Option<(String, Arc<TreeFs>, Arc<Config>)>,
    seen: Option<String>,
}

impl Loop {
    /// Records a leadership change; a new leader re-syncs everything, since the old one may
    /// have stopped mid-sync.
    async fn lead(&mut self, leading: bool, cancel: &CancellationToken) {
        self.state.leader.store(leading, Ordering::Relaxed);
        self.state.metrics.leader.set(i64::from(leading));
        tracing::info!(leading, "leadership changed");
        if let Some(l) = &self.options.leader {
            leader::label(l, leading).await;
        }
        if leading {
            self.pass(true, true, cancel).await;
        }
    }

    fn is_about(&self, event: &TriggerEvent) -> bool {
        match event {
            TriggerEvent::RepoChanged { git_ref, .. } => {
                event.is_about(self.mirror.url())
                    && git_ref == &format!("refs/heads/{}", self.options.branch)
            }
            TriggerEvent::ImagePushed { .. } => false,
        }
    }

    /// Fetches (unless the caller just did), reads the tip, and queues syncs. `drift`: re-sync
    /// every app × environment of the last good commit even when nothing changed.
    async fn pass(&mut self, drift: bool, fetch: bool, cancel: &CancellationToken) {
        if fetch {
            let started = Instant::now();
            if let Err(e) = self.mirror.fetch(cancel).await {
                tracing::warn!(error = %e, "config repo fetch failed; using what the mirror has");
            }
            self.state
                .metrics
                .fetch_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        let tip = match self.mirror.tip(&self.options.branch) {
            Ok(Some(tip)) => tip.to_string(),
            Ok(None) => {
                tracing::warn!(branch = %self.options.branch, "the config repo has no such branch yet");
                self.state.ready.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the config repo's branch");
                return;
            }
        };
        if self.seen.as_deref() != Some(tip.as_str()) {
            self.seen = Some(tip.clone());
            self.load(&tip).await;
        }
        // Followers read and validate like the leader (so they are ready to take over) but
        // only the leader writes to clusters.
        if let Some((revision, tree, config)) = self.good.clone()
            && self.state.leader.load(Ordering::Relaxed)
        {
            self.dispatch(&revision, &tree, &config, drift).await;
        }
        self.state.ready.store(true, Ordering::Relaxed);
    }

    /// Loads the config at `tip`; on success it becomes the good commit.
    async fn load(&mut self, tip: &str) {
        let mirror = Arc::clone(&self.mirror);
        let id = match gix::ObjectId::from_hex(tip.as_bytes()) {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(tip, error = %e, "not a commit id");
                return;
            }
        };
        let loaded = tokio::task::spawn_blocking(move || {
            let tree = mirror.tree(id).map_err(|e| vec![e.to_string()])?;
            match config::load_from(&tree, Path::new("")) {
                Ok(c) => Ok((tree, c)),
                Err(config::ConfigError::Invalid(d)) => {
                    Err(d.iter().map(ToString::to_string).collect())
                }
                Err(e) => Err(vec![e.to_string()]),
            }
        })
        .await
        .unwrap_or_else(|e| Err(vec![format!("config task failed: {e}")]));
        let mut repo = self.state.repo.write().expect("repo status lock poisoned");
        repo.seen = Some(tip.to_owned());
        match loaded {
            Ok((tree, config)) => {
                repo.good = Some(tip.to_owned());
                repo.errors.clear();
                self.state.metrics.config_errors.set(0);
                self.good = Some((tip.to_owned(), Arc::new(tree), Arc::new(config)));
            }
            Err(errors) => {
                for e in &errors {
                    tracing::error!(commit = %tip, error = %e, "config repo commit does not load; the last good commit stays in force");
                }
                if let Some(events) = self.options.events.clone() {
                    let note = format!(
                        "config repo commit {} does not load; {} stays in force: {}",
                        &tip[..tip.len().min(12)],
                        repo.good
                            .as_deref()
                            .map_or("nothing", |g| &g[..g.len().min(12)]),
                        errors.join("; ")
                    );
                    tokio::spawn(publish(events, note));
                }
                self.state
                    .metrics
                    .config_errors
                    .set(i64::try_from(errors.len()).unwrap_or(i64::MAX));
                repo.errors = errors;
            }
        }
    }

    async fn dispatch(&mut self, revision: &str, tree: &Arc<TreeFs>, config: &Config, drift: bool) {
        let policies = Arc::new(config.policies.clone());
        let registry = config.registry.clone().map(Arc::new);
        for app in &config.apps {
            for env_name in &app.environments {
                let Some(env) = config.environments.iter().find(|e| &e.name == env_name) else {
                    continue;
                };
                let target = self.target(&env.cluster).await;
                let job = Job {
                    app: app.name.clone(),
                    env: env.name.clone(),
                    namespace: env.namespace.clone(),
                    overlay: app.overlay_dir(&env.name),
                    revision: revision.to_owned(),
                    tree: Arc::clone(tree),
                    policies: Arc::clone(&policies),
                    registry: registry.clone(),
                    verifier: Arc::clone(&self.verifier),
                    force: drift,
                };
                self.workers.submit(job, target);
            }
        }
    }

    /// The target for a cluster, connecting once per cluster name.
    async fn target(&mut self, cluster: &Cluster) -> Target {
        let name = match cluster {
            Cluster::InCluster => config::IN_CLUSTER.to_owned(),
            Cluster::Context(c) => c.clone(),
        };
        if let Some(t) = self.targets.get(&name) {
            return t.clone();
        }
        let target = match &self.options.clusters {
            Clusters::Fixed(client) => Target::cluster(client.clone()),
            Clusters::PlanOnly => Target::PlanOnly {
                reason: "the daemon runs without a cluster (plan only)".into(),
            },
            Clusters::Kubeconfig => match crate::cluster::connect(cluster).await {
                Ok(client) => Target::cluster(client),
                Err(e) => {
                    tracing::warn!(cluster = %name, error = %e, "cluster unreachable: planning only");
                    // Not cached: the next pass tries to connect again.
                    return Target::PlanOnly {
                        reason: format!("cluster {name} unreachable: {e}"),
                    };
                }
            },
        };
        self.targets.insert(name, target.clone());
        target
    }
}
