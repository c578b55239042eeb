//! The promotion controller (wiring): one reconcile per app × target environment, which
//! assesses the promotion ([`crate::promotion::assess`]) and, when the target's mode and gates
//! say so, performs it ([`crate::promotion::promote`]): a commit (`auto`) or a pull request
//! (`pr`). `manual` targets are assessed and shown, never acted on unasked.
//!
//! Input: the app × target keys the loop submits on every pass, the shared state (config, sync
//! rows, canary records) and the config mirror. Output: the [`Row`] of each target for
//! `/api/v1/promotions`, a `PromotionActed` event per action, and the controller's requeue:
//! when only the soak holds a promotion, exactly when it ends.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use super::controller::{Action, Reconcile};
use super::state::{RolloutResult, Shared};
use crate::artifact::admission::{ImageAccess, Verifier};
use crate::core::AppEnv;
use crate::git::Mirror;
use crate::promotion::assess::{Assessment, Registry, SourceView, assess};
use crate::promotion::{Ask, Decision, Gate, GateName, Outcome};

/// The promotion controller, once the daemon made it.
pub type Handle = Arc<std::sync::OnceLock<super::controller::Controller<PromotionController>>>;

/// The promotion targets whose source is `synced` (same app, `promoteFrom` its environment).
///
/// # Panics
///
/// When the config lock is poisoned.
#[must_use]
pub fn out_of(state: &Shared, synced: &AppEnv) -> Vec<AppEnv> {
    let config = state.config.read().expect("config lock").clone();
    let Some(config) = config else {
        return Vec::new();
    };
    let Some(app) = config.app(synced.app.as_str()) else {
        return Vec::new();
    };
    config
        .environments
        .iter()
        .filter(|e| e.promote_from.as_deref() == Some(synced.env.as_str()))
        .filter(|e| app.environments.contains(&e.name))
        .map(|e| AppEnv::new(app.name.as_str(), e.name.as_str()))
        .collect()
}

/// A promotion held by the source's health is assessed again this often.
const RECHECK: Duration = Duration::from_secs(15);
/// A promotion held by a sync window is assessed again this often (windows open on minutes).
const WINDOW_RECHECK: Duration = Duration::from_mins(1);

/// What `/api/v1/promotions` shows for one app × target environment.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Row {
    pub app: String,
    pub env: String,
    pub from: String,
    pub mode: String,
    /// The digest the source pins (the candidate).
    pub candidate: Option<String>,
    /// The digest the target pins.
    pub current: Option<String>,
    /// Seconds the target's digest has run there.
    pub age_seconds: Option<u64>,
    pub gates: Vec<Gate>,
    /// `gate: reason` of the first closed gate.
    pub blocked_by: Option<String>,
    /// Why there is nothing to promote.
    pub idle: Option<String>,
    /// The pull request proposing the candidate.
    pub pull_request: Option<String>,
    /// The digest last acted on, and what came of it.
    pub acted: Option<String>,
    pub last: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug)]
pub struct PromotionFailure(pub String);

impl std::fmt::Display for PromotionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub struct PromotionController {
    pub state: Shared,
    pub mirror: Arc<Mirror>,
    pub branch: String,
    pub verifier: Arc<Verifier>,
    pub access: ImageAccess,
    /// Mirrors of the apps' source repositories (the commits a promotion brings), reached
    /// with the config repo's credentials.
    pub sources: crate::git::RepoCache,
    pub credentials: crate::git::Credentials,
    pub scans: crate::promotion::checks::ScanMemo,
    /// The loop's queue: a promotion committed through the daemon's own mirror moves no ref
    /// the poller would see, so the controller says so itself.
    pub events: tokio::sync::mpsc::Sender<crate::trigger::TriggerEvent>,
}

impl Reconcile for PromotionController {
    type Key = AppEnv;
    type Work = AppEnv;
    type Error = PromotionFailure;

    fn key(work: &AppEnv) -> AppEnv {
        work.clone()
    }

    fn coalesce(_: &AppEnv, newer: AppEnv) -> AppEnv {
        newer
    }

    async fn reconcile(&self, key: AppEnv) -> Result<Action, PromotionFailure> {
        let assessed = match self.assess(&key, Ask::default()).await {
            Ok(a) => a,
            Err(e) => {
                self.record(&key, |row| row.error = Some(e.clone()));
                return Err(PromotionFailure(e));
            }
        };
        let previous = self.row(&key);
        let mut row = row_of(&assessed);
        row.pull_request = previous.pull_request.clone();
        row.acted = previous.acted.clone();
        row.last = previous.last.clone();
        let candidate = row.candidate.clone();
        let act = assessed.promotion.as_ref().filter(|p| {
            matches!(p.decision, Decision::Commit | Decision::PullRequest { .. })
                && previous.acted != candidate
        });
        if let Some(p) = act {
            let result = self.perform(&key, p).await;
            row.acted.clone_from(&candidate);
            match result {
                Ok(outcome) => apply_outcome(&mut row, &outcome),
                Err(e) => {
                    row.acted = None;
                    row.error = Some(e.clone());
                    self.publish(&key, row);
                    return Err(PromotionFailure(e));
                }
            }
        }
        let wait = requeue(&assessed);
        self.publish(&key, row);
        Ok(wait.map_or(Action::Done, Action::RequeueAfter))
    }

    fn retrying(&self, key: &AppEnv, failures: u32, delay: Duration, error: &PromotionFailure) {
        tracing::warn!(app = %key.app, env = %key.env, failures, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), error = %error, "promotion failed; retrying with backoff");
    }

    fn queue_depth(&self, _pending: usize) {}

    fn may_run(&self) -> bool {
        self.state.leader.load(Ordering::Relaxed)
    }
}

impl PromotionController {
    /// Assesses `key` as the config in force and the state see it now.
    pub(super) async fn assess(&self, key: &AppEnv, ask: Ask) -> Result<Assessment, String> {
        let config = self.state.config_in_force()?;
        let app = config
            .app(key.app.as_str())
            .ok_or_else(|| format!("no app {} in gantry.yaml", key.app))?;
        let to = config
            .environment(key.env.as_str())
            .ok_or_else(|| format!("no environment {} in gantry.yaml", key.env))?;
        let from = to.promote_from.clone().unwrap_or_default();
        let source = self.source_view(&AppEnv::new(key.app.as_str(), from.as_str()));
        let registry = Registry {
            verifier: &self.verifier,
            access: &self.access,
            sources: Some((&self.sources, self.credentials.clone())),
            scans: &self.scans,
        };
        assess(
            &self.mirror,
            (&self.branch, &config),
            (app, to),
            &source,
            &registry,
            (ask, chrono::Utc::now()),
        )
        .await
        .map_err(|e| e.to_string())
    }

    /// The source's sync row and canary record.
    fn source_view(&self, source: &AppEnv) -> SourceView {
        let envs = self.state.envs.read().expect("status table lock");
        let row = envs.get(source);
        let canary = self
            .state
            .rollouts
            .lock()
            .expect("rollouts lock")
            .get(source)
            .map(|a| a.canary.clone());
        SourceView {
            applied: row.and_then(|r| r.revision.as_ref().map(ToString::to_string)),
            health: row.map(|r| r.health.to_string()).unwrap_or_default(),
            phase: row.map(|r| r.phase.to_string()).unwrap_or_default(),
            error: row.and_then(|r| r.error.clone()),
            canary,
        }
    }

    /// Performs a promotion with the forge gantry.yaml names, if any.
    pub(super) async fn perform(
        &self,
        key: &AppEnv,
        p: &crate::promotion::Promotion,
    ) -> Result<Outcome, String> {
        let forge = self.forge().await?;
        let cancel = tokio_util::sync::CancellationToken::new();
        let result =
            crate::promotion::promote(&self.mirror, forge.as_deref(), p, false, &cancel).await;
        let label = match &result {
            Ok(Outcome::Committed { .. }) => "committed",
            Ok(Outcome::PullRequest { .. }) => "pull-request",
            Ok(Outcome::BranchPushed { .. }) => "branch-pushed",
            Ok(_) => return result.map_err(|e| e.to_string()),
            Err(e) => e.metric_label(),
        };
        super::events::PromotionActed {
            key,
            image: &p.request.image.to_string(),
            result: label,
            outcome: result.as_ref().map_err(ToString::to_string),
        }
        .emit(&self.state.metrics);
        if let Ok(Outcome::Committed { commit, .. }) = &result {
            super::announce(&self.events, (&self.mirror, &self.branch), commit.clone()).await;
        }
        result.map_err(|e| e.to_string())
    }

    async fn forge(&self) -> Result<Option<Arc<dyn crate::promotion::forge::Forge>>, String> {
        let config = self.state.config.read().expect("config lock").clone();
        let Some(forge) = config.as_ref().and_then(|c| c.forge.clone()) else {
            return Ok(None);
        };
        let token = crate::promotion::forge::token(
            &forge.token,
            self.access.kube.as_ref(),
            &self.access.namespace,
        )
        .await?;
        crate::promotion::forge::client(&forge, token)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    pub(super) fn row(&self, key: &AppEnv) -> Row {
        self.state
            .promotions
            .read()
            .expect("promotions lock")
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    pub(super) fn record(&self, key: &AppEnv, change: impl FnOnce(&mut Row)) {
        let mut table = self.state.promotions.write().expect("promotions lock");
        let row = table.entry(key.clone()).or_insert_with(|| Row {
            app: key.app.to_string(),
            env: key.env.to_string(),
            ..Row::default()
        });
        change(row);
    }

    pub(super) fn publish(&self, key: &AppEnv, row: Row) {
        self.state
            .promotions
            .write()
            .expect("promotions lock")
            .insert(key.clone(), row);
    }
}

/// The row an assessment shows (what was acted on is carried over by the caller).
pub(super) fn row_of(a: &Assessment) -> Row {
    let mode = a
        .promotion
        .as_ref()
        .map(|p| match p.decision {
            Decision::Commit => "auto",
            Decision::PullRequest { .. } => "pr",
            Decision::Possible => "manual",
            Decision::Blocked(_) => "blocked",
        })
        .unwrap_or_default();
    Row {
        app: a.app.clone(),
        env: a.to.clone(),
        from: a.from.clone(),
        mode: mode.to_owned(),
        candidate: a.image.as_ref().map(ToString::to_string),
        current: a.current.as_ref().map(ToString::to_string),
        age_seconds: a.age.map(|d| d.as_secs()),
        gates: a.gates.clone(),
        blocked_by: a
            .gates
            .iter()
            .find(|g| !g.open)
            .map(|g| format!("{}: {}", g.name, g.reason)),
        idle: a.idle.clone(),
        ..Row::default()
    }
}

pub(super) fn apply_outcome(row: &mut Row, outcome: &Outcome) {
    match outcome {
        Outcome::Committed { commit, .. } => {
            row.last = Some(format!("committed {}", commit.get(..12).unwrap_or(commit)));
        }
        Outcome::PullRequest { url, created, .. } => {
            row.pull_request = Some(url.clone());
            row.last = Some(
                if *created {
                    "pull request opened"
                } else {
                    "pull request updated"
                }
                .into(),
            );
        }
        Outcome::BranchPushed { how, .. } => row.last = Some(how.clone()),
        _ => {}
    }
}

/// When to assess again without an event: when the soak ends, if only the soak holds it; soon
/// while the source is not healthy yet (health follows the watch, not only syncs); in a while
/// while a sync window holds it. Everything else changes with a commit or a sync of the source,
/// which assess it again anyway (and the drift pass does, as a safety net).
fn requeue(a: &Assessment) -> Option<Duration> {
    let closed: Vec<&Gate> = a.gates.iter().filter(|g| !g.open).collect();
    if let [only] = closed.as_slice()
        && only.name == GateName::Soak
        && let Some(left) = a.soak_left
    {
        return Some(left.max(Duration::from_millis(100)));
    }
    if closed.iter().any(|g| g.name == GateName::Health) {
        return Some(RECHECK);
    }
    closed
        .iter()
        .any(|g| g.name == GateName::SyncWindow)
        .then_some(WINDOW_RECHECK)
}

impl RolloutResult {
    pub(super) fn of(key: &AppEnv, result: &str) -> Self {
        Self {
            app: key.app.to_string(),
            env: key.env.to_string(),
            result: result.to_owned(),
        }
    }
}
