//! What the daemon knows and shows: per app × environment status, the config in force and its
//! errors, and the metrics. Written by the sync workers, read by the HTTP API.
//!
//! None of this is needed to resume after a crash: desired state is in Git, live state on the
//! cluster, and a restarted daemon rebuilds this table on its first pass.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::cluster::HealthStatus;
pub use crate::cluster::outcome::{ObjectStatus, Phase, RowHealth};

/// The status of one app in one environment.
#[derive(Debug, Clone, Serialize, Default)]
pub struct EnvStatus {
    pub app: crate::core::AppId,
    pub env: crate::core::EnvId,
    /// Config repo commit of the last attempt: what should run.
    pub desired: Option<crate::core::Revision>,
    /// Config repo commit last synced successfully (applied, or planned without a cluster):
    /// what runs. A failed attempt leaves it as it was.
    pub revision: Option<crate::core::Revision>,
    /// `Healthy`, `Progressing`, `Missing`, `Degraded`, or `Unknown` before the first sync.
    pub health: RowHealth,
    /// RFC 3339 time of the last sync attempt.
    pub last_sync: Option<String>,
    /// Attempts since the daemon started (syncs run, and syncs a window held): `gantry sync`
    /// waits for this to move past the value it saw before asking.
    pub attempts: u64,
    pub phase: Phase,
    pub objects: Vec<ObjectStatus>,
    /// Why the last attempt failed, with `file:line:col` when the config repo is at fault;
    /// `None` once an attempt succeeds.
    pub error: Option<String>,
    /// What a successful attempt wants known: not applied (plan only), policy warnings.
    pub note: Option<String>,
    /// Digest of the last sync's inputs (render, namespace, policy files); unchanged inputs are
    /// not synced again until the drift interval passes.
    #[serde(skip)]
    pub render_digest: Option<String>,
    /// Without a cluster: each object of the last plan as pretty JSON, standing in for the live
    /// state the next plan is compared with.
    #[serde(skip)]
    pub planned: std::collections::HashMap<String, String>,
}

/// The config repo as the daemon last read it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RepoStatus {
    pub url: String,
    pub branch: String,
    /// Tip of the branch last seen.
    pub seen: Option<String>,
    /// Last commit whose config loaded; it stays in force while newer commits are broken.
    pub good: Option<String>,
    /// Errors of the newest commit, when it did not load (`file:line:col` each).
    pub errors: Vec<String>,
}

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
    /// Registry pushes reported by webhook (Harbor `PUSH_ARTIFACT`), per repository.
    pub images_pushed: Family<Repository, Counter>,
    /// Failed syncs scheduled for a retry with backoff.
    pub sync_retries: Family<Labels, Counter>,
    /// Canary rollouts that ended, by app, environment and result (`promoted`, `aborted`).
    pub rollouts: Family<RolloutResult, Counter>,
    /// Promotions acted on, by app, target environment and result (`committed`,
    /// `pull-request`, `branch-pushed`, `failed`).
    pub promotions: Family<RolloutResult, Counter>,
}

/// Labels of `gantry_rollouts_total` and `gantry_promotions_total`.
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
            "Image pushes the registry reported by webhook (Harbor PUSH_ARTIFACT), per repository",
            self.images_pushed.clone(),
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

/// Shared between the loop, the workers and the HTTP API.
#[derive(Default)]
pub struct State {
    pub repo: RwLock<RepoStatus>,
    pub envs: RwLock<BTreeMap<crate::core::AppEnv, EnvStatus>>,
    pub metrics: Metrics,
    /// Set once the first pass over the config repo has finished (ready for `/readyz`).
    pub ready: std::sync::atomic::AtomicBool,
    /// This replica holds the lease (always, without leader election); only the leader syncs.
    pub leader: std::sync::atomic::AtomicBool,
    /// Where sync records survive restarts, when configured.
    pub store: std::sync::OnceLock<Arc<dyn crate::store::StateStore>>,
    /// Each environment's sync windows in the config in force: self-heal honours them as
    /// syncs do.
    pub windows: RwLock<std::collections::HashMap<String, Vec<crate::config::SyncWindow>>>,
    /// The config in force (the last commit that loaded): the rollout controller reads its
    /// strategies and templates.
    pub config: RwLock<Option<Arc<crate::config::Config>>>,
    /// Canary rollouts in progress, by app × environment.
    pub rollouts: std::sync::Mutex<std::collections::HashMap<crate::core::AppEnv, Active>>,
    /// The last assessment of each promotion target, by app × target environment.
    pub promotions: RwLock<BTreeMap<crate::core::AppEnv, super::promotions::Row>>,
}

/// A rollout in progress, with what the sync last told about it.
#[derive(Clone)]
pub struct Active {
    pub canary: crate::rollout::drive::Canary,
    /// The environment's cluster; `None` after a restart until the first sync of the pair.
    pub target: Option<crate::cluster::target::ClusterTarget>,
    /// The stable Deployment as rendered (the canary is a copy of it).
    pub rendered: Option<serde_json::Value>,
    /// The stable view the sync last applied: a change asks for a sync.
    /// (stable image, stable replicas, the router's canary weight).
    pub synced: Option<(String, u32, u32)>,
}

impl EnvStatus {
    #[must_use]
    pub fn key(&self) -> crate::core::AppEnv {
        crate::core::AppEnv {
            app: self.app.clone(),
            env: self.env.clone(),
        }
    }

    /// The durable part of this row.
    #[must_use]
    pub fn record(&self) -> crate::store::SyncRecord {
        crate::store::SyncRecord {
            spec: crate::store::AppSyncSpec {
                app: self.app.to_string(),
                env: self.env.to_string(),
            },
            status: crate::store::AppSyncStatus {
                desired: self.desired.as_ref().map(ToString::to_string),
                note: self.note.clone(),
                revision: self.revision.as_ref().map(ToString::to_string),
                health: self.health.to_string(),
                phase: self.phase.to_string(),
                last_sync: self.last_sync.clone(),
                error: self.error.clone(),
                objects: u32::try_from(self.objects.len()).unwrap_or(u32::MAX),
            },
        }
    }

    /// A row restored from a stored record; its objects and render digest come with the next
    /// sync, which therefore always runs.
    #[must_use]
    pub fn restored(r: crate::store::SyncRecord) -> Self {
        Self {
            app: r.spec.app.into(),
            env: r.spec.env.into(),
            desired: r.status.desired.map(Into::into),
            note: r.status.note,
            revision: r.status.revision.map(Into::into),
            health: r.status.health.parse().unwrap_or_default(),
            last_sync: r.status.last_sync,
            phase: r.status.phase.parse().unwrap_or_default(),
            error: r.status.error,
            ..Self::default()
        }
    }
}

impl State {
    /// The config in force, or why there is none yet.
    ///
    /// # Panics
    ///
    /// When the config lock is poisoned (a pass panicked while writing it).
    pub fn config_in_force(&self) -> Result<Arc<crate::config::Config>, String> {
        let config = self.config.read().expect("config lock poisoned").clone();
        config.ok_or_else(|| "no config loaded yet".to_owned())
    }
}

pub type Shared = Arc<State>;

/// The gauge value for a health status.
#[must_use]
pub fn health_value(h: HealthStatus) -> i64 {
    match h {
        HealthStatus::Healthy => 0,
        HealthStatus::Progressing => 1,
        HealthStatus::Missing => 2,
        HealthStatus::Degraded => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::Metrics;

    #[test]
    fn pushes_reported_by_a_mirror_show_in_the_metrics() {
        let metrics = Metrics::default();
        let observe = metrics.push_observer();
        for (retries, result) in [(2, "pushed"), (0, "unchanged"), (9, "contended")] {
            (observe.0)(&crate::git::PushEvent {
                seconds: 0.2,
                retries,
                result,
            });
        }
        let text = metrics.encode();
        for line in [
            "gantry_git_push_retries_total 11",
            "gantry_git_push_duration_seconds_count 3",
            "gantry_git_pushes_total{result=\"pushed\"} 1",
            "gantry_git_pushes_total{result=\"contended\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
