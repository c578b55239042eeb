//! Promotions asked for by people, and the environment matrix (wiring): `gantry promote`
//! assesses and performs one target now; `gantry envs` reads every app × environment.
//!
//! Input: the promotion controller and the shared state. Output: the promotion's outcome; the
//! [`Cell`]s of the matrix.

use serde::Serialize;

use super::promotions::{PromotionController, apply_outcome};
use crate::core::AppEnv;
use crate::promotion::{Ask, Outcome};

/// One cell of `gantry envs`.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub app: String,
    pub env: String,
    pub digest: Option<String>,
    pub health: String,
    pub phase: String,
    pub age_seconds: Option<u64>,
    pub pull_request: Option<String>,
    pub blocked_by: Option<String>,
}

impl PromotionController {
    /// Assesses and performs `key`'s promotion because a person asked (`gantry promote`).
    pub(super) async fn explicit(
        &self,
        key: &AppEnv,
        ask: Ask,
        dry_run: bool,
    ) -> Result<Outcome, String> {
        let assessed = self.assess(key, ask).await?;
        let Some(p) = assessed.promotion else {
            return Err(assessed.idle.unwrap_or_else(|| "nothing to promote".into()));
        };
        if dry_run {
            let cancel = tokio_util::sync::CancellationToken::new();
            return crate::promotion::promote(&self.mirror, None, &p, true, &cancel)
                .await
                .map_err(|e| e.to_string());
        }
        let outcome = self.perform(key, &p).await?;
        if !matches!(outcome, Outcome::Blocked { .. } | Outcome::Possible) {
            self.record(key, |row| {
                row.acted = Some(p.request.image.to_string());
                apply_outcome(row, &outcome);
            });
        }
        Ok(outcome)
    }

    /// Every app × environment of the config in force: the digest its overlay pins at the
    /// branch tip, how long it has run there, its sync row, and its promotion row.
    pub(super) fn matrix(&self) -> Result<Vec<Cell>, String> {
        let config = self.state.config_in_force()?;
        let tip = self
            .mirror
            .tip(&self.branch)
            .map_err(|e| e.to_string())?
            .ok_or("no branch yet")?;
        let tree = self.mirror.tree(tip).map_err(|e| e.to_string())?;
        let repo = self.mirror.repository();
        let now = chrono::Utc::now();
        let envs = self.state.envs.read().expect("status table lock");
        let promotions = self.state.promotions.read().expect("promotions lock");
        let mut cells = Vec::new();
        for app in &config.apps {
            let entries = crate::promotion::facts::history_of(&repo, &tip.to_string(), &app.name)
                .unwrap_or_default();
            for env in config
                .environments
                .iter()
                .filter(|e| app.environments.contains(&e.name))
            {
                let key = AppEnv::new(app.name.as_str(), env.name.as_str());
                let pinned = crate::promotion::facts::image_in(&tree, app, &env.name)
                    .ok()
                    .flatten();
                let age = pinned.as_ref().and_then(|i| {
                    crate::promotion::facts::soaked(&entries, (&env.name, i), now, |e| {
                        crate::promotion::facts::landed(&repo, &tip.to_string(), e)
                    })
                });
                let row = envs.get(&key);
                let promotion = promotions.get(&key);
                cells.push(Cell {
                    app: app.name.clone(),
                    env: env.name.clone(),
                    digest: pinned.map(|i| i.to_string()),
                    health: row.map(|r| r.health.to_string()).unwrap_or_default(),
                    phase: row.map(|r| r.phase.to_string()).unwrap_or_default(),
                    age_seconds: age.map(|d| d.as_secs()),
                    pull_request: promotion.and_then(|p| p.pull_request.clone()),
                    blocked_by: promotion.and_then(|p| p.blocked_by.clone()),
                });
            }
        }
        Ok(cells)
    }
}
