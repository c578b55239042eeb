//! One pass of the loop (wiring): fetch, read the branch tip, load its config from the tree,
//! and queue a sync per app × environment of the commit in force.
//!
//! Input: the mirror, the options, and the trigger that started the pass (event, drift tick,
//! leadership change). Output: jobs for the workers, the repo status at `/api`, and a
//! `ConfigInvalid` Event for a commit whose config does not load.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::controller::Controller;
use super::sync::SyncController;
use super::sync::{Job, Target};
use super::{Clusters, Events, Options, Shared, leader};
use crate::config::{self, Cluster, Config};
use crate::git::{Mirror, TreeFs};
use crate::trigger::TriggerEvent;

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
        tracing::warn!(error = %crate::cluster::apply::describe(&e), "cannot publish the config error as an Event");
    }
}

pub(super) struct Loop {
    mirror: Arc<Mirror>,
    pub(super) options: Options,
    pub(super) state: Shared,
    syncs: Controller<SyncController>,
    rollouts: Controller<super::rollouts::RolloutController>,
    promotions: Controller<super::promotions::PromotionController>,
    images: Controller<super::images::ImageUpdateController>,
    targets: HashMap<String, Target>,
    verifier: Arc<crate::artifact::admission::Verifier>,
    /// The last commit whose config loaded, with its tree and config.
    good: Option<(String, Arc<TreeFs>, Arc<Config>)>,
    seen: Option<String>,
    /// Ends the tasks that follow each cluster's cache.
    shutdown: CancellationToken,
}

impl Loop {
    pub(super) fn new(
        mirror: Arc<Mirror>,
        options: Options,
        (state, shutdown): (Shared, CancellationToken),
        controllers: super::Controllers,
    ) -> Self {
        Self {
            verifier: controllers.verifier,
            mirror,
            options,
            state,
            syncs: controllers.syncs,
            rollouts: controllers.rollouts,
            promotions: controllers.promotions,
            images: controllers.images,
            targets: HashMap::new(),
            good: None,
            seen: None,
            shutdown,
        }
    }

    /// Records a leadership change; a new leader re-syncs everything, since the old one may
    /// have stopped mid-sync.
    pub(super) async fn lead(&mut self, leading: bool, cancel: &CancellationToken) {
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

    /// A manual sync of one app × environment at the commit in force (`gantry sync`).
    pub(super) async fn sync_requested(
        &mut self,
        app: String,
        env: String,
        allow_large_prune: bool,
    ) {
        if !self.state.leader.load(Ordering::Relaxed) {
            tracing::info!(%app, %env, "sync requested from a follower: the leader syncs");
            return;
        }
        if let Some((revision, tree, config)) = self.good.clone() {
            tracing::info!(%app, %env, allow_large_prune, "manual sync requested");
            self.dispatch(
                (&revision, &tree, &config),
                true,
                Some((app, env, allow_large_prune)),
            )
            .await;
        }
    }

    /// Acts on one trigger event.
    pub(super) async fn handle(&mut self, event: TriggerEvent, cancel: &CancellationToken) {
        if let TriggerEvent::SyncRequested {
            app,
            env,
            allow_large_prune,
        } = event
        {
            self.sync_requested(app, env, allow_large_prune).await;
        } else if matches!(event, TriggerEvent::ImagePushed { .. }) {
            self.image_pushed(&event);
        } else if self.is_about(&event) {
            // The poller fetched before it reported; a webhook arrives before any fetch.
            let fetched = matches!(
                event,
                TriggerEvent::RepoChanged {
                    from: crate::trigger::Forge::Poll,
                    ..
                }
            );
            self.pass(false, !fetched, cancel).await;
        }
    }

    /// Plans the image updates a pushed image makes under the config in force and queues them
    /// (the controller runs them on the leader only).
    fn image_pushed(&self, event: &TriggerEvent) {
        let TriggerEvent::ImagePushed {
            from,
            repository,
            resource_url,
            digest,
            tag,
        } = event
        else {
            return;
        };
        let planned = match (event.pushed_image(), &self.good) {
            (Some(image), Some((_, _, config))) => {
                let pushed = crate::deploy::update::Pushed {
                    image,
                    via: from.to_string(),
                };
                crate::deploy::update::plan(config, &pushed)
            }
            (None, _) => {
                tracing::warn!(image = %resource_url, %digest, "pushed image reference does not parse; no image update");
                (Vec::new(), Vec::new())
            }
            (_, None) => (Vec::new(), Vec::new()),
        };
        super::events::ImagePushed {
            repository,
            resource_url,
            digest,
            tag: tag.as_deref(),
            updates: planned.0.len(),
            skipped: &planned.1,
        }
        .emit(&self.state.metrics);
        for update in planned.0 {
            self.images.submit(update);
        }
    }

    fn is_about(&self, event: &TriggerEvent) -> bool {
        match event {
            TriggerEvent::RepoChanged { git_ref, .. } => {
                event.is_about(self.mirror.url())
                    && git_ref == &format!("refs/heads/{}", self.options.branch)
            }
            TriggerEvent::ImagePushed { .. } | TriggerEvent::SyncRequested { .. } => false,
        }
    }

    /// Fetches (unless the caller just did), reads the tip, and queues syncs. `drift`: re-sync
    /// every app × environment of the last good commit even when nothing changed.
    pub(super) async fn pass(&mut self, drift: bool, fetch: bool, cancel: &CancellationToken) {
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
        let new_tip = self.seen.as_deref() != Some(tip.as_str());
        if new_tip {
            self.seen = Some(tip.clone());
            self.load(&tip).await;
        }
        // Followers read and validate like the leader (so they are ready to take over) but
        // only the leader writes to clusters. A trigger that brought no new commit (the
        // poller's first report of the commit the start-up pass just dispatched, a webhook
        // for a push already fetched) dispatches nothing: a failed sync is not re-run by it.
        if let Some((revision, tree, config)) = self.good.clone()
            && self.state.leader.load(Ordering::Relaxed)
            && (drift || new_tip)
        {
            self.dispatch((&revision, &tree, &config), drift, None)
                .await;
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
                *self.state.windows.write().expect("windows lock poisoned") = config
                    .environments
                    .iter()
                    .map(|e| (e.name.clone(), e.sync_windows.clone()))
                    .collect();
                let config = Arc::new(config);
                *self.state.config.write().expect("config lock") = Some(Arc::clone(&config));
                self.good = Some((tip.to_owned(), Arc::new(tree), config));
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

    /// Queues a sync of every app × environment of `config` — or, with `request` (app, env,
    /// allow a large prune), only that one, as a manual sync.
    async fn dispatch(
        &mut self,
        (revision, tree, config): (&str, &Arc<TreeFs>, &Config),
        drift: bool,
        request: Option<(String, String, bool)>,
    ) {
        let recorder = self.options.events.as_ref().map(|e| &e.recorder);
        let jobs = Job::all(config, (revision, tree), &self.verifier, recorder);
        for (job, cluster) in jobs {
            let job = match &request {
                Some(r) if job.app == r.0 && job.env == r.1 => Job {
                    force: true,
                    manual: true,
                    allow_large_prune: job.allow_large_prune || r.2,
                    ..job
                },
                Some(_) => continue,
                None => Job {
                    force: drift,
                    ..job
                },
            };
            let target = self.target(&cluster).await;
            let job = self.with_rollout(job, config, &target);
            self.syncs.submit((job, target));
        }
        if request.is_none() {
            // Every promotion target is assessed again on each pass: a commit may have moved a
            // digest, and health, soak and windows move with time.
            for app in &config.apps {
                for env in &config.environments {
                    if env.promote_from.is_some() && app.environments.contains(&env.name) {
                        self.promotions.submit(crate::core::AppEnv::new(
                            app.name.as_str(),
                            env.name.as_str(),
                        ));
                    }
                }
            }
        }
    }

    /// `job` with the rollout hook when its app has a rollout strategy for its environment and a
    /// cluster.
    fn with_rollout(&self, job: Job, config: &Config, target: &Target) -> Job {
        let app = config.apps.iter().find(|a| job.app == a.name.as_str());
        match (app, target) {
            (Some(app), Target::Cluster(cluster)) => {
                let Some(traffic) = canaries(config, app, &job.env) else {
                    return job;
                };
                let key = job.key();
                let adjust = super::rollouts::adjust(
                    &self.state,
                    &self.rollouts,
                    (key, job.namespace.clone(), app.image.clone()),
                    (cluster, traffic),
                );
                Job {
                    adjust: Some(adjust),
                    ..job
                }
            }
            _ => job,
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
        if let Target::Cluster(cluster) = &target {
            self.syncs.track(super::live::follow(
                cluster.clone(),
                Arc::clone(&self.state),
                self.shutdown.clone(),
                self.options.events.as_ref().map(|e| e.recorder.clone()),
            ));
        }
        self.targets.insert(name, target.clone());
        target
    }
}

/// The traffic routing of `app`'s rollout strategy when it runs in `env`.
fn canaries(
    config: &Config,
    app: &crate::config::App,
    env: &str,
) -> Option<crate::config::Traffic> {
    let name = app.rollout.as_ref()?;
    config
        .rollouts
        .iter()
        .find(|r| &r.name == name)
        .filter(|r| {
            r.environments
                .as_ref()
                .is_none_or(|e| e.iter().any(|x| x == env))
        })
        .map(|r| r.traffic.clone())
}
