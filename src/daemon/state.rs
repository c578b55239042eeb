//! What the daemon knows and shows: per app × environment status, the config in force and its
//! errors, and the metrics. Written by the sync workers, read by the HTTP API.
//!
//! None of this is needed to resume after a crash: desired state is in Git, live state on the
//! cluster, and a restarted daemon rebuilds this table on its first pass.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

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

pub use super::metrics::*;

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
