//! What a person asks of a rollout (wiring): `promote`, `abort` and `retry` applied to the
//! stored state before the controller reconciles it, and the rollout as the API shows it.
//!
//! Input: a command for an app × environment. Output: the changed, stored state; for `retry`,
//! the rejected image deployed again (forced) through `deploy`.

use super::rollouts::{RolloutController, now, strategy};
use crate::core::AppEnv;
use crate::rollout::drive::Canary;
use crate::rollout::machine::RolloutPhase;

/// What a person asks of a rollout (`gantry rollout …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Go on past a pause or an inconclusive analysis.
    Promote,
    /// Traffic back to stable, canary removed, the rollback committed.
    Abort,
    /// After an abort: deploy the rejected image again (forced) and start over.
    Retry,
}

impl RolloutController {
    /// Applies `command` to the rollout of `key`; the caller then reconciles it.
    ///
    /// # Errors
    ///
    /// No such rollout, or the command does not fit its phase.
    ///
    /// # Panics
    ///
    /// When the rollouts lock is poisoned.
    pub async fn command(&self, key: &AppEnv, command: Command) -> Result<String, String> {
        let canary = self
            .state
            .rollouts
            .lock()
            .expect("rollouts lock")
            .get(key)
            .map(|a| a.canary.clone());
        let Some(mut canary) = canary else {
            return Err(format!("no rollout of {} in {}", key.app, key.env));
        };
        let phase = canary.state.phase;
        match (command, phase) {
            (Command::Promote, RolloutPhase::Progressing | RolloutPhase::Paused) => {
                canary.state.promote();
            }
            (Command::Abort, RolloutPhase::Progressing | RolloutPhase::Paused) => {
                canary.rollback = Some((
                    "aborted by a person (gantry rollout abort)".into(),
                    Vec::new(),
                ));
                canary.state.abort("aborted by a person");
            }
            (Command::Retry, RolloutPhase::Aborted) if canary.rollback.is_none() => {
                self.redeploy(key, &canary).await?;
                canary.state.retry(now());
            }
            (command, phase) => {
                return Err(
                    format!("cannot {command:?} a rollout that is {phase:?}").to_lowercase()
                );
            }
        }
        self.keep(key, &canary).await;
        Ok(format!("{command:?}").to_lowercase())
    }

    /// Commits the rejected canary image again, forced: the retry's canary.
    async fn redeploy(&self, key: &AppEnv, canary: &Canary) -> Result<(), String> {
        let config = self.state.config_in_force()?;
        let image =
            crate::core::ImageRef::parse(&canary.canary_image).map_err(|e| e.to_string())?;
        let request = crate::deploy::DeployRequest {
            app: key.app.to_string(),
            env: key.env.to_string(),
            image,
            action: crate::audit::Action::Deploy,
            source: None,
            run: Some(format!("rollout/{}/{}/retry", key.app, key.env)),
            evidence: Vec::new(),
            rejects: None,
            skipped: None,
            force: true,
            body: None,
        };
        let target = self.deploy_target(&config, key)?;
        let cancel = tokio_util::sync::CancellationToken::new();
        let outcome = crate::deploy::deploy(&self.mirror, &target, &request, false, &cancel)
            .await
            .map_err(|e| e.to_string())?;
        // Before the canary restarts: the loop must sync this commit, not the rollback's,
        // whose stable image would read as the canary reverted in Git.
        if let crate::deploy::Outcome::Committed { commit, .. } = outcome {
            super::announce(&self.syncs, (&self.mirror, &self.branch), commit).await;
        }
        Ok(())
    }
}

/// A rollout as the API shows it: step, weights, images, message, and each analysis metric's
/// counters and last measurements.
#[must_use]
pub fn status(
    config: Option<&crate::config::Config>,
    key: &AppEnv,
    c: &Canary,
) -> serde_json::Value {
    let strategy = config.and_then(|cfg| strategy(cfg, key).ok());
    let steps = strategy.as_ref().map(|s| s.steps.len());
    // Each metric's conditions beside its counters: what the measured values are held to.
    let conditions = |kind: &str| -> Vec<Option<String>> {
        let metrics = match (kind, strategy.as_ref()) {
            ("step", Some(s)) => match s.steps.get(c.state.step) {
                Some(crate::rollout::machine::Step::Analysis(m)) => m.clone(),
                _ => Vec::new(),
            },
            ("background", Some(s)) => s.background.clone(),
            _ => Vec::new(),
        };
        metrics
            .iter()
            .map(|m| m.success.as_ref().map(|c| c.source().to_owned()))
            .collect()
    };
    let runs: Vec<_> = [
        ("step", &c.state.step_run),
        ("background", &c.state.background),
    ]
    .into_iter()
    .filter_map(|(kind, run)| {
        run.as_ref().map(|r| {
            let held = conditions(kind);
            let metrics: Vec<_> = r
                .results
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let mut v = serde_json::to_value(m).unwrap_or_default();
                    v["successCondition"] = serde_json::json!(held.get(i).cloned().flatten());
                    v
                })
                .collect();
            serde_json::json!({"kind": kind, "metrics": metrics})
        })
    })
    .collect();
    let pause_left = match strategy.as_ref().and_then(|s| s.steps.get(c.state.step)) {
        Some(crate::rollout::machine::Step::Pause(Some(d))) => {
            let ends = c.state.step_started + u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            Some(ends.saturating_sub(now()))
        }
        _ => None,
    };
    serde_json::json!({
        "app": key.app,
        "env": key.env,
        "phase": format!("{:?}", c.state.phase),
        "step": c.state.step + 1,
        "steps": steps,
        "weight": c.state.weight,
        "canaryReplicas": c.canary_replicas(),
        "stableReplicas": c.stable_view().1,
        "stableImage": c.stable_image,
        "canaryImage": c.canary_image,
        "message": c.state.message,
        "stepStarted": c.state.step_started,
        "pauseLeftMs": pause_left,
        "analysis": runs,
    })
}
