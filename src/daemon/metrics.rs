//! The daemon's metrics (wiring): every counter, gauge and histogram `/metrics` serves,
//! registered once, with their label sets.
//!
//! Input: what the events of `events.rs` count and the push observer reports. Output: the
//! Prometheus text exposition.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `app` and `env` labels of per-app metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Labels {
    pub app: String,
    pub env: String,
}

impl From<&crate::core::AppEnv> for Labels {
    fn from(key: &crate::core::AppEnv) -> Self {
        Self {
            app: key.app.to_string(),
            env: key.env.to_string(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct SyncResult {
    pub app: String,
    pub env: String,
    pub result: String,
    /// Why a failure failed (`render`, `policy`, `api`, `unknown_kind`, …); no label on
    /// success.
    pub reason: Option<String>,
}

/// By hand, so that a success carries no `reason` label at all (not `reason=""`).
impl prometheus_client::encoding::EncodeLabelSet for SyncResult {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelSetEncoder,
    ) -> Result<(), std::fmt::Error> {
        let mut labels = vec![
            ("app", self.app.as_str()),
            ("env", self.env.as_str()),
            ("result", self.result.as_str()),
        ];
        if let Some(reason) = &self.reason {
            labels.push(("reason", reason.as_str()));
        }
        labels.as_slice().encode(encoder)
    }
}

/// The metrics `/metrics` serves, registered once.
pub struct Metrics {
    pub registry: Registry,
    pub syncs: Family<SyncResult, Counter>,
    pub sync_seconds: Family<Labels, Histogram>,
    pub applied: Family<Labels, Counter>,
    pub pruned: Family<Labels, Counter>,
    pub drift_corrections: Family<Labels, Counter>,
    /// 0 healthy, 1 progressing, 2 missing, 3 degraded.
    pub health: Family<Labels, Gauge>,
    pub fetch_seconds: Histogram,
    /// Every commit the daemon pushes (through [`Metrics::push_observer`]).
    pub push_seconds: Histogram,
    pub push_retries: Counter,
    pub pushes: Family<PushResult, Counter>,
    pub queue_depth: Gauge,
    pub leader: Gauge,
    pub config_errors: Gauge,
    /// Registry pushes reported by webhook (Harbor `PUSH_ARTIFACT`, distribution
    /// notifications), per repository.
    pub images_pushed: Family<Repository, Counter>,
    /// Image updates, by app, environment and result (`committed`, `unchanged`, `refused`,
    /// `failed`).
    pub image_updates: Family<RolloutResult, Counter>,
    /// Failed syncs scheduled for a retry with backoff.
    pub sync_retries: Family<Labels, Counter>,
    /// Canary rollouts that ended, by app, environment and result (`promoted`, `aborted`).
    pub rollouts: Family<RolloutResult, Counter>,
    /// Promotions acted on, by app, target environment and result (`committed`,
    /// `pull-request`, `branch-pushed`, `failed`).
    pub promotions: Family<RolloutResult, Counter>,
}

/// Labels of `gantry_rollouts_total`, `gantry_promotions_total` and
/// `gantry_image_updates_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RolloutResult {
    pub app: String,
    pub env: String,
    pub result: String,
}

/// Label of `gantry_images_pushed_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Repository {
    pub repository: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("gantry"),
            syncs: Family::default(),
            sync_seconds: Family::new_with_constructor(|| {
                Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
            }),
            applied: Family::default(),
            pruned: Family::default(),
            drift_corrections: Family::default(),
            health: Family::default(),
            fetch_seconds: Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            push_seconds: Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            push_retries: Counter::default(),
            pushes: Family::default(),
            queue_depth: Gauge::default(),
            leader: Gauge::default(),
            config_errors: Gauge::default(),
            images_pushed: Family::default(),
            image_updates: Family::default(),
            sync_retries: Family::default(),
            rollouts: Family::default(),
            promotions: Family::default(),
        };
        metrics.register_syncs();
        metrics.register_others();
        metrics
    }
}

impl Metrics {
    /// The per app × environment metrics of syncs and self-heal.
    fn register_syncs(&mut self) {
        self.registry.register(
            "syncs",
            "Syncs per app, environment and result",
            self.syncs.clone(),
        );
        self.registry.register(
            "sync_duration_seconds",
            "Duration of one sync (render, plan, apply, prune, health)",
            self.sync_seconds.clone(),
        );
        self.registry
            .register("objects_applied", "Objects applied", self.applied.clone());
        self.registry
            .register("objects_pruned", "Objects pruned", self.pruned.clone());
        self.registry.register(
            "drift_corrections",
            "Objects changed outside Git that gantry changed back (watch or drift pass)",
            self.drift_corrections.clone(),
        );
        self.registry.register(
            "app_health",
            "Health per app and environment: 0 healthy, 1 progressing, 2 missing, 3 degraded",
            self.health.clone(),
        );
        self.registry.register(
            "queue_depth",
            "Syncs waiting for a worker",
            self.queue_depth.clone(),
        );
        self.registry.register(
            "images_pushed",
            "Image pushes a registry reported by webhook (Harbor PUSH_ARTIFACT, distribution notifications), per repository",
            self.images_pushed.clone(),
        );
        self.registry.register(
            "image_updates",
            "Pushed images deployed by image updates, by result: committed, unchanged, refused (a rollback rejected the digest), failed",
            self.image_updates.clone(),
        );
        self.registry.register(
            "sync_retries",
            "Failed syncs retried with capped exponential backoff (1 s doubling to 5 min)",
            self.sync_retries.clone(),
        );
        self.registry.register(
            "rollouts",
            "Canary rollouts that ended, by result: promoted or aborted",
            self.rollouts.clone(),
        );
        self.registry.register(
            "promotions",
            "Promotions acted on, by result: committed, pull-request, branch-pushed, failed",
            self.promotions.clone(),
        );
    }

    /// Git, the queue, leadership, config errors and registry events.
    fn register_others(&mut self) {
        self.registry.register(
            "git_fetch_duration_seconds",
            "Duration of config repo fetches",
            self.fetch_seconds.clone(),
        );
        self.registry.register(
            "git_push_duration_seconds",
            "Duration of commits pushed to Git, from the first fetch to the accepted push, \
                 non-fast-forward retries included",
            self.push_seconds.clone(),
        );
        self.registry.register(
            "git_push_retries",
            "Non-fast-forward rejections after which a commit was redone on a newer tip",
            self.push_retries.clone(),
        );
        self.registry.register(
            "git_pushes",
            "Commits to Git by result: pushed, unchanged, contended (gave up), failed",
            self.pushes.clone(),
        );
        self.registry.register(
            "leader",
            "1 when this replica is the leader and writes",
            self.leader.clone(),
        );
        self.registry.register(
            "config_errors",
            "Errors in the newest config repo commit (0 when it loaded)",
            self.config_errors.clone(),
        );
    }
}

/// Label of `gantry_git_pushes_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PushResult {
    pub result: String,
}

impl Metrics {
    /// Counts a mirror's pushes into these metrics ([`crate::git::Mirror::observe_pushes`]).
    #[must_use]
    pub fn push_observer(&self) -> crate::git::PushObserver {
        let (seconds, retries, pushes) = (
            self.push_seconds.clone(),
            self.push_retries.clone(),
            self.pushes.clone(),
        );
        crate::git::PushObserver(std::sync::Arc::new(move |e: &crate::git::PushEvent| {
            seconds.observe(e.seconds);
            retries.inc_by(u64::from(e.retries));
            pushes
                .get_or_create(&PushResult {
                    result: e.result.into(),
                })
                .inc();
        }))
    }

    #[must_use]
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail; an error would mean a broken metric name.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}
